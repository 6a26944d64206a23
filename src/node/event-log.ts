// The event log: the one door into this node's state. Own events are stamped (hybrid logical
// clock, next seq), signed, applied and persisted in write batches, then published; events
// from peers (already checked by the intake) are applied and persisted the same way. On start
// it loads the snapshot and replays what came after it.
import type { Logger } from 'pino'
import type { CisEvent, EventBodies, EventType, UnsignedEvent } from '../events/types.js'
import { receive as hlcReceive, tick } from '../events/hlc.js'
import type { Hlc } from '../events/hlc.js'
import { signEvent } from '../identity/keys.js'
import type { NodeIdentity } from '../identity/keys.js'
import { apply } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { emptyState } from '../state/types.js'
import type { EventStore } from '../store/event-store.js'
import { SnapshotWriter, snapshotState } from '../store/snapshot-parts.js'
import { performance } from 'node:perf_hooks'

export interface EventLogOptions {
  identity: NodeIdentity
  store: EventStore
  log: Logger
  now: () => number
  /** Where the store lives, for error messages. */
  where: string
  snapshotEvery: number
  /** Apply events to the state (called at once, before they are durable). */
  applied: (events: CisEvent[]) => void
  /** This node's own events, once durable: send them to peers. */
  publish: (own: CisEvent[]) => void
  /** The store cannot be written: the node must stop (memory is ahead of the disk). */
  onFatal: (err: Error) => void
  /** Counts own and received events (metrics, P-5). */
  counter?: EventCounter
}

/** What the log reports to the metrics: own events appended, events from peers accepted. */
export interface EventCounter {
  appended: (e: CisEvent) => void
  received: (events: CisEvent[]) => void
}

interface Pending { event: CisEvent, resolve: () => void, reject: (e: Error) => void }

const noop = (): void => {}

export class EventLog {
  state: ClusterState = emptyState()
  private seq = 0
  private clock: Hlc = { ts: 0, lc: 0 }
  private pending: Pending[] = []
  private flushing: Promise<void> | null = null
  private sinceSnapshot = 0
  /** What the store holds of the snapshot, to write the next one as changes (G-4). */
  private readonly snapshots = new SnapshotWriter()
  private lastSnapshotMs = 0
  private lastSnapshotAt = -Infinity
  private open = false

  constructor (private readonly o: EventLogOptions) {}

  /** Events this node has written (its highest seq). */
  get written (): number { return this.seq }

  /** Load the snapshot and replay the events after it. */
  async load (): Promise<ClusterState> {
    const snap = await this.o.store.loadSnapshot()
    this.state = snap !== undefined ? snapshotState(snap) : emptyState()
    if (snap !== undefined) this.snapshots.seed(snap)
    for (const origin of await this.o.store.origins()) {
      for await (const e of this.o.store.readOrigin(origin, this.state.applied[origin] ?? 0)) apply(this.state, e)
    }
    this.seq = this.state.applied[this.o.identity.id] ?? 0
    this.clock = { ...this.state.clock }
    this.open = true
    return this.state
  }

  /** Sign, apply and persist one event of this node's own log; resolves once it is durable. */
  async append<T extends EventType> (type: T, body: EventBodies[T]): Promise<CisEvent<T>> {
    this.clock = tick(this.clock, this.o.now())
    const unsigned: UnsignedEvent<T> = { origin: this.o.identity.id, seq: this.seq + 1, ts: this.clock.ts, lc: this.clock.lc, type, body }
    const event = signEvent(this.o.identity.key, unsigned)
    this.seq = event.seq
    this.o.counter?.appended(event)
    const durable = new Promise<void>((resolve, reject) => this.pending.push({ event, resolve, reject }))
    this.o.applied([event])
    void this.flushSoon()
    // Published (with the rest of its write batch) only once durable: a crash can never make
    // this node reuse a seq it has sent.
    await durable
    return event
  }

  /** Events from peers, checked and in seq order per origin: apply and persist them. */
  accept (events: CisEvent[]): void {
    const now = this.o.now()
    for (const e of events) {
      this.clock = hlcReceive(this.clock, e, now)
      this.pending.push({ event: e, resolve: noop, reject: noop })
    }
    this.o.counter?.received(events)
    this.o.applied(events)
    void this.flushSoon()
  }

  /** Wait until everything applied so far is on disk. */
  async flush (): Promise<void> {
    while (this.flushing !== null || this.pending.length > 0) {
      if (this.flushing === null) void this.flushSoon()
      await this.flushing
    }
  }

  /** Write what is pending and a final snapshot; no write after this. */
  async close (): Promise<void> {
    if (!this.open) return
    this.open = false
    await this.flush()
    const snap = this.snapshots.next(this.state)
    await this.o.store.write([], snap)
    this.snapshots.committed(snap)
  }

  private async flushSoon (): Promise<void> {
    if (this.flushing !== null) return
    this.flushing = new Promise<void>(resolve => setImmediate(resolve)).then(async () => {
      while (this.pending.length > 0) await this.writeBatch()
    }).finally(() => {
      this.flushing = null
      // An event appended after the loop saw an empty queue (by a continuation of this very
      // batch) would otherwise wait for the next append that may never come.
      // (A closing log flushes what is left in flush().)
      if (this.open && this.pending.length > 0) void this.flushSoon()
    })
  }

  private async writeBatch (): Promise<void> {
    const batch = this.pending
    this.pending = []
    this.sinceSnapshot += batch.length
    // The snapshot's changes are computed now, while the state matches exactly the events
    // written so far. It costs a pass over the state (serialising each part to compare it), so
    // a snapshot waits until ten times its last cost has passed: at most a tenth of the time.
    const due = this.sinceSnapshot >= this.o.snapshotEvery && performance.now() - this.lastSnapshotAt >= 10 * this.lastSnapshotMs
    const t0 = performance.now()
    const snap = due ? this.snapshots.next(this.state) : undefined
    if (snap !== undefined) { this.lastSnapshotMs = performance.now() - t0; this.lastSnapshotAt = performance.now() }
    try {
      await this.o.store.write(batch.map(p => p.event), snap)
      if (snap !== undefined) { this.sinceSnapshot = 0; this.snapshots.committed(snap) }
      const own = batch.filter(p => p.event.origin === this.o.identity.id).map(p => p.event)
      if (own.length > 0) this.o.publish(own)
      for (const p of batch) p.resolve()
    } catch (err) {
      // What is in memory now differs from what is on disk: going on would risk handing out
      // decisions that a restart forgets. The requests get an error, and the node stops.
      const e = new Error(`cannot write to the store in ${this.o.where}: ${(err as Error).message} (is the disk full?). Stopping this node; free space and start it again: it resumes from what is on disk.`)
      this.o.log.fatal({ err: (err as Error).message }, e.message)
      for (const p of batch) p.reject(e)
      if (this.open) { // (a write racing a graceful stop is not a disk problem)
        this.open = false
        this.o.onFatal(e)
      }
    }
  }
}
