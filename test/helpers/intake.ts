// An Intake (src/node/intake.ts) wired to plain records, for the intake's tests: what it
// delivered (each delivery, and all of it in order), the skips it took and the pulls it asked
// for; the applied vector follows what it delivered and skipped. And origins that sign events.
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import type { CisEvent, EventBodies, EventType } from '../../src/events/types.js'
import { signEvent } from '../../src/identity/keys.js'
import { Intake } from '../../src/node/intake.js'
import type { CutRange } from '../../src/state/cuts.js'

export interface RecordingIntake {
  i: Intake
  applied: Record<string, number>
  cuts: Record<string, CutRange[]>
  /** Each delivery, as it came. */
  batches: CisEvent[][]
  /** Every event delivered, in order. */
  delivered: CisEvent[]
  skips: Array<[string, number]>
  pulls: string[]
}

/** `coalesce`: the agent's intake (messages of one turn taken together at its end). */
export function recordingIntake (o: { coalesce?: boolean } = {}): RecordingIntake {
  const x: Omit<RecordingIntake, 'i'> = { applied: {}, cuts: {}, batches: [], delivered: [], skips: [], pulls: [] }
  const i = new Intake({
    self: 'me',
    log: pino({ level: 'silent' }),
    applied: () => x.applied,
    stored: async () => undefined,
    deliver: events => { x.batches.push(events); for (const e of events) { x.delivered.push(e); x.applied[e.origin] = e.seq } },
    pull: from => x.pulls.push(from),
    cuts: () => x.cuts,
    skip: (o, to) => { x.skips.push([o, to]); x.applied[o] = to },
    coalesce: o.coalesce
  })
  return { i, ...x }
}

/** A node identity that signs events of its own log, each alone. */
export async function signingOrigin (): Promise<{ id: string, event: <T extends EventType>(seq: number, type: T, body: EventBodies[T]) => CisEvent }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  return { id, event: (seq, type, body) => signEvent(key as never, { origin: id, seq, ts: 1000 + seq, lc: 0, type, body }) as CisEvent }
}
