// The intake: events from peers (gossip or sync) before they reach the state. Each is checked
// for shape, skipped if already applied (and reported if it conflicts with the stored one),
// verified against its origin's key, and delivered in seq order per origin: events that
// arrive ahead of a gap wait in a bounded buffer while the missing ones are pulled.
import type { Logger } from 'pino'
import { asEvent } from '../events/check.js'
import type { CisEvent } from '../events/types.js'
import { verifyEvent } from '../identity/keys.js'

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
}

/** Events buffered ahead of a gap, per origin, at most. */
const MAX_AHEAD = 10_000

export class Intake {
  private readonly ahead = new Map<string, Map<number, CisEvent>>()
  private open = true

  constructor (private readonly o: IntakeOptions) {}

  stop (): void { this.open = false }

  receive (raw: unknown, from: string): void {
    if (!this.open) return
    const e = asEvent(raw)
    if (typeof e === 'string') {
      this.o.log.warn({ from, problem: e }, 'rejected a malformed event')
      return
    }
    if (e.origin === this.o.self) return
    const applied = this.o.applied()[e.origin] ?? 0
    if (e.seq <= applied) {
      void this.checkDuplicate(e, from)
      return
    }
    if (!verifyEvent(e)) {
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
    const batch: CisEvent[] = [e]
    const buf = this.ahead.get(e.origin)
    if (buf !== undefined) {
      for (let next = e.seq + 1; buf.has(next); next++) { batch.push(buf.get(next) as CisEvent); buf.delete(next) }
      for (const seq of buf.keys()) if (seq <= e.seq) buf.delete(seq)
      if (buf.size === 0) this.ahead.delete(e.origin)
    }
    this.o.deliver(batch)
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
