// Reclaim (G-6): once a purge with a cut (state/cuts.ts) is applied and durable here, the
// events its cut names leave this node's log, with their subject index entries. Each event is
// read and checked again before it goes (it must belong to a purged joblist): a cut is the
// writer's word, the log is ours. This node's own last written event always stays, so a
// restart without a snapshot never reuses a seq. In the background, a purge at a time; the
// store records each purge done, and a restart resumes those not done.
import type { Logger } from 'pino'
import type { CisEvent, PurgeBody } from '../events/types.js'
import { keyParts } from '../events/types.js'
import type { EventStore } from '../store/event-store.js'
import type { ClusterState } from '../state/types.js'
import { purgeable } from '../state/cuts.js'

export interface ReclaimOptions {
  store: EventStore
  log: Logger
  self: string
  state: () => ClusterState
  /** This node's highest seq on disk. */
  durableSeq: () => number
}

/** Events taken out of the log per store write. */
const CHUNK = 500

export class Reclaimer {
  private readonly todo: string[] = []
  private running: Promise<void> | null = null
  private stopped = false
  /** Events taken out of the log since start (for tests and metrics). */
  taken = 0
  /** Purges whose cuts this log has applied. */
  private readonly done = new Set<string>()

  constructor (private readonly o: ReclaimOptions) {}

  /** After a load: the purges with a cut whose events this log still holds. */
  async resume (): Promise<void> {
    for (const k of await this.o.store.reclaimed()) this.done.add(k)
    this.add([...this.cutKeys(this.o.state())].filter(k => !this.done.has(k)).sort())
  }

  /** Purges with a cut in the state whose events have not left this log yet. */
  pending (state: ClusterState): number {
    let n = 0
    for (const k of this.cutKeys(state)) if (!this.done.has(k)) n++
    return n
  }

  private cutKeys (state: ClusterState): Set<string> {
    const keys = new Set<string>()
    for (const ranges of Object.values(state.cuts ?? {})) for (const r of ranges) keys.add(r[2])
    return keys
  }

  /** Purge events (keys `origin:seq`), applied and durable here: take their cuts' events out. */
  add (keys: string[]): void {
    if (this.stopped || keys.length === 0) return
    this.todo.push(...keys)
    this.running ??= this.run().finally(() => { this.running = null })
  }

  /** Idle: nothing queued or under way. */
  get idle (): boolean { return this.running === null }

  /** Stop after the write under way (the rest is resumed at the next start). */
  async stop (): Promise<void> {
    this.stopped = true
    await this.running
  }

  private async run (): Promise<void> {
    while (this.todo.length > 0 && !this.stopped) {
      const key = this.todo.shift() as string
      try {
        await this.one(key)
      } catch (err) {
        if (!this.stopped) this.o.log.warn({ purge: key, err: (err as Error).message }, 'could not take purged events out of the log; the next start tries again')
      }
    }
  }

  private async one (key: string): Promise<void> {
    const { origin, seq } = keyParts(key)
    const p = await this.o.store.getEvent(origin, seq)
    const cut = p?.type === 'purge' ? (p.body as PurgeBody).cut ?? {} : {}
    let chunk: CisEvent[] = []
    let n = 0
    for (const [origin, ranges] of Object.entries(cut)) {
      for (const [from, to] of ranges) {
        for await (const e of this.o.store.readOrigin(origin, from - 1)) {
          if (e.seq > to || this.stopped) break
          if (!purgeable(e, this.o.state()) || (origin === this.o.self && e.seq >= this.o.durableSeq())) continue
          chunk.push(e)
          if (chunk.length >= CHUNK) {
            await this.o.store.reclaim(chunk)
            n += chunk.length
            chunk = []
          }
        }
        if (this.stopped) return
      }
    }
    await this.o.store.reclaim(chunk, key)
    this.done.add(key)
    n += chunk.length
    this.taken += n
    if (n > 0) this.o.log.info({ purge: key, events: n }, 'events of purged joblists taken out of the log')
  }
}
