// The intake: events from peers (gossip or sync) before they reach the state. Each is checked
// for shape, skipped if already applied (and reported if it conflicts with the stored one),
// verified against its origin's key, and delivered in seq order per origin: events that
// arrive ahead of a gap wait in a bounded buffer while the missing ones are pulled.
import type { Logger } from 'pino'
import { asEvent } from '../events/check.js'
import type { CisEvent } from '../events/types.js'
import { verifyEvent } from '../identity/keys.js'
import { eventKey } from '../events/types.js'
import type { PurgeBody } from '../events/types.js'
import { addCut, covering } from '../state/cuts.js'
import type { CutRange } from '../state/cuts.js'

export interface IntakeOptions {
  self: string
  log: Logger
  /** The version vector of events applied here. */
  applied: () => Record<string, number>
  /** The stored event of an origin and seq, to tell a replay from a conflicting event. */
  stored: (origin: string, seq: number) => Promise<CisEvent | undefined>
  /** Checked events, in seq order per origin, the next ones after what is applied. */
  deliver: (events: CisEvent[]) => void
  /** A gap: pull what is missing from that peer. */
  pull: (from: string) => void
  /** The purges' cuts applied here (state.cuts). */
  cuts: () => Readonly<Record<string, readonly CutRange[]>>
  /** Seqs of an origin up to `to` that a cut covers: count them as applied (in order with events). */
  skip: (origin: string, to: number) => void
  /** Checks an event's signature (default: against its origin's key); the simulator's events are not signed. */
  verify?: (e: CisEvent) => boolean
  /**
   * Messages of events (receiveMany) taken in one turn of the event loop are checked and
   * delivered together at its end (setImmediate), not one by one: their signatures checked
   * newest first across the messages, so an origin's several write batches that arrived in that
   * turn cost one Ed25519 check (each names the one before it: keys.ts), and the node applies,
   * stores and reacts to them once. The agent sets it; the simulator (its own clock) does not.
   */
  coalesce?: boolean
}

/** Purge events a peer sent as proof of its skips (not applied yet here), kept at most. */
const MAX_PROOFS = 64

/** Events buffered ahead of a gap, per origin, at most. */
const MAX_AHEAD = 10_000

export class Intake {
  private readonly ahead = new Map<string, Map<number, CisEvent>>()
  private open = true
  /** The cuts of purge events peers sent as proofs (checked, signed), by origin. */
  private proofCuts: Record<string, CutRange[]> = {}
  private proofs = new Set<string>()
  /**
   * While receiveMany takes a message's events: those ready, in order, delivered as one batch
   * at its end, and the highest seq of each origin among them.
   */
  private batch: CisEvent[] | undefined
  private readonly batchTop = new Map<string, number>()
  /** With `coalesce`: the messages taken this turn, waiting for its end (drain). */
  private inbox: Array<{ raws: unknown[], from: string }> | undefined

  constructor (private readonly o: IntakeOptions) {}

  stop (): void { this.open = false; this.inbox = undefined }

  /**
   * Take the messages waiting for the end of the turn now (`coalesce`): before anything else
   * that reaches the intake (a lone event, a skip, a proof: they follow those messages), and
   * when the node is asked to flush.
   */
  drain (): void {
    const inbox = this.inbox
    if (inbox === undefined) return
    this.inbox = undefined
    if (!this.open) return
    const raws: unknown[] = []
    const from: string[] = []
    for (const m of inbox) for (const raw of m.raws) { raws.push(raw); from.push(m.from) }
    this.takeMany(raws, from)
  }

  /**
   * The events of one message (a write batch of a peer, or several): each taken as receive
   * takes it, and those ready delivered together, so the node applies, stores and reacts to
   * the message once, not once an event. Their signatures are checked newest first: a chained
   * batch vouches for the one before it of its origin (keys.ts), so the several batches of an
   * origin in one message cost one Ed25519 check.
   */
  receiveMany (raws: unknown[], from: string): void {
    if (!this.open) return
    if (this.o.coalesce === true && this.batch === undefined) {
      if (this.inbox === undefined) {
        this.inbox = []
        setImmediate(() => {
          try { this.drain() } catch (err) { this.o.log.warn({ err: (err as Error).message }, 'taking the gossiped events of a turn failed') }
        })
      }
      this.inbox.push({ raws, from })
      return
    }
    if (raws.length === 1 || this.batch !== undefined) { for (const raw of raws) this.receive(raw, from); return }
    this.takeMany(raws, from)
  }

  /** Events (of one message or several: `from` one sender, or each event's) taken and the ready ones delivered as one batch. */
  private takeMany (raws: unknown[], from: string | string[]): void {
    const events = raws.map(asEvent)
    const verified = this.verifyNewestFirst(events)
    this.batch = []
    try {
      for (let i = 0; i < events.length; i++) this.take(events[i], typeof from === 'string' ? from : from[i], verified[i])
    } finally {
      const ready = this.batch
      this.batch = undefined
      this.batchTop.clear()
      if (ready.length > 0 && this.open) this.o.deliver(ready)
    }
  }

  /** Whether each event's signature verifies, checked last to first; undefined where take decides without it (malformed, own, applied). */
  private verifyNewestFirst (events: Array<CisEvent | string>): Array<boolean | undefined> {
    const applied = this.o.applied()
    const out = new Array<boolean | undefined>(events.length)
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]
      if (typeof e === 'string' || e.origin === this.o.self || e.seq <= (applied[e.origin] ?? 0)) continue
      out[i] = (this.o.verify ?? verifyEvent)(e)
    }
    return out
  }

  receive (raw: unknown, from: string): void {
    if (!this.open) return
    this.drain()
    this.take(asEvent(raw), from)
  }

  /** An event checked for shape (or what is wrong with it); `verified`: its signature already checked. */
  private take (e: CisEvent | string, from: string, verified?: boolean): void {
    if (!this.open) return
    if (typeof e === 'string') {
      this.o.log.warn({ from, problem: e }, 'rejected a malformed event')
      return
    }
    if (e.origin === this.o.self) return
    const applied = Math.max(this.o.applied()[e.origin] ?? 0, this.batchTop.get(e.origin) ?? 0)
    if (e.seq <= applied) {
      void this.checkDuplicate(e, from)
      return
    }
    if (!(verified ?? (this.o.verify ?? verifyEvent)(e))) {
      this.o.log.warn({ from, origin: e.origin, seq: e.seq }, 'rejected an event whose signature does not verify')
      return
    }
    if (e.seq > applied + 1) {
      let buf = this.ahead.get(e.origin)
      if (buf === undefined) this.ahead.set(e.origin, buf = new Map())
      if (buf.size < MAX_AHEAD) buf.set(e.seq, e)
      this.o.pull(from)
      return
    }
    const ready = [e, ...this.waiting(e.origin, e.seq)]
    if (this.batch === undefined) { this.o.deliver(ready); return }
    this.batch.push(...ready)
    this.batchTop.set(e.origin, ready[ready.length - 1].seq)
  }

  /** The events buffered right after `seq` of `origin`, taken out of the buffer. */
  private waiting (origin: string, seq: number): CisEvent[] {
    const batch: CisEvent[] = []
    const buf = this.ahead.get(origin)
    if (buf !== undefined) {
      for (let next = seq + 1; buf.has(next); next++) { batch.push(buf.get(next) as CisEvent); buf.delete(next) }
      for (const s of buf.keys()) if (s <= seq) buf.delete(s)
      if (buf.size === 0) this.ahead.delete(origin)
    }
    return batch
  }

  /**
   * A purge event a peer sends ahead of skips it proves (state/cuts.ts): checked and verified
   * like any event, its cut is remembered (not applied: it comes in its origin's order).
   */
  proof (raw: unknown, from: string): void {
    if (!this.open) return
    this.drain()
    const e = asEvent(raw)
    if (typeof e === 'string' || e.type !== 'purge' || (e.body as PurgeBody).cut === undefined || !(this.o.verify ?? verifyEvent)(e)) {
      this.o.log.warn({ from, problem: typeof e === 'string' ? e : 'not a signed purge with a cut' }, 'rejected a skip proof')
      return
    }
    const key = eventKey(e)
    if (this.proofs.has(key)) return
    if (this.proofs.size >= MAX_PROOFS) { this.proofs = new Set(); this.proofCuts = {} }
    this.proofs.add(key)
    addCut(this.proofCuts, key, (e.body as PurgeBody).cut ?? {})
  }

  /**
   * A skip from a peer: seqs from..to of an origin that purges took out of its log. Taken only
   * where the cuts applied here, or proofs the peer sent, cover every seq of it; a skip that
   * does not follow what is applied here waits for the next pull.
   */
  skip (raw: unknown, from: string): void {
    if (!this.open) return
    this.drain()
    const k = raw as { origin?: unknown, from?: unknown, to?: unknown } | null
    const origin = k?.origin
    const first = k?.from
    const to = k?.to
    if (typeof origin !== 'string' || origin.length > 256 || !Number.isSafeInteger(first) || !Number.isSafeInteger(to) || (first as number) < 1 || (to as number) < (first as number)) {
      this.o.log.warn({ from }, 'rejected a malformed skip')
      return
    }
    if (origin === this.o.self) return
    const applied = this.o.applied()[origin] ?? 0
    if ((to as number) <= applied) return
    if ((first as number) > applied + 1) { this.o.pull(from); return }
    const mine = this.o.cuts()[origin] ?? []
    const proved = this.proofCuts[origin] ?? []
    const cuts = { [origin]: proved.length === 0 ? mine : [...mine, ...proved].sort((a, b) => a[0] - b[0]) }
    if (covering(cuts, origin, applied + 1, to as number) === undefined) {
      this.o.log.warn({ from, origin, seqs: `${applied + 1}..${String(to)}` }, 'rejected a skip that no purge covers')
      return
    }
    this.o.skip(origin, to as number)
    const next = this.waiting(origin, to as number)
    if (next.length > 0) this.o.deliver(next)
  }

  private async checkDuplicate (e: CisEvent, from: string): Promise<void> {
    try {
      const stored = await this.o.stored(e.origin, e.seq)
      if (stored !== undefined && stored.sig !== e.sig) {
        this.o.log.warn({ from, origin: e.origin, seq: e.seq }, 'rejected an event that conflicts with the one stored for that origin and seq')
      }
    } catch { /* the store is closing */ }
  }
}
