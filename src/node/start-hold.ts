// A job's start, held for its end (issue 12): a job that ends within START_HOLD_MS of its start
// is told by one event, its `finished` carrying the start, instead of `started` and `finished`:
// a fifth fewer events a short job for every node of the cluster to check, apply and store. A
// job still running after the hold is told started by a `started` event, as before. Through a
// fork server the hold is the fork server's (spawner-main.ts): it answers a short job's start and
// end in one write, and a longer one's start after the hold, which is then told at once here.
import type { Logger } from 'pino'
import type { EventBodies, EventType, FinishedBody, StartedBody } from '../events/types.js'
import type { StartHeld } from '../exec/process.js'

/**
 * How long a start waits to be told. Short: until it is told and durable, a crash of this agent
 * would forget that the job started (and run it again), and the cluster sees it assigned.
 */
export const START_HOLD_MS = 10

export interface StartHoldOptions {
  log: Logger
  append: <T extends EventType>(type: T, body: EventBodies[T]) => Promise<unknown>
  /** The time on the hybrid clock's scale (ms) an own event appended now would at least get. */
  clock: () => number
  /** Default START_HOLD_MS. */
  holdMs?: number
}

interface Held { body: StartedBody, at: number, timer: NodeJS.Timeout, told: () => void }

export class StartHold {
  /** Starts not told yet, by `jobId#attempt`. */
  private readonly held = new Map<string, Held>()

  constructor (private readonly o: StartHoldOptions) {}

  /** Starts held now. */
  get size (): number { return this.held.size }

  /**
   * A job started: resolves once told, by a `started` event or with the job's end. `held`: the
   * fork server held it already, `sinceMs` after the start: told at once if the job still runs
   * (as a start held here would be after the hold), else kept, timed `sinceMs` ago, for its end,
   * which follows in this turn.
   */
  async started (body: StartedBody, held?: StartHeld): Promise<void> {
    if (held !== undefined && !held.ending) { await this.tell(body); return }
    const key = `${body.jobId}#${body.attempt}`
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => {
        this.held.delete(key)
        void this.tell(body).then(resolve)
      }, this.o.holdMs ?? START_HOLD_MS)
      this.held.set(key, { body, at: this.o.clock() - (held?.sinceMs ?? 0), timer, told: resolve })
    })
  }

  /** A `started` event now (if it cannot be written, said; the job's end is still told). */
  private async tell (body: StartedBody): Promise<void> {
    try {
      await this.o.append('started', body)
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, job: body.jobId }, 'cannot record a start')
    }
  }

  /** A job ended: its start, if still held, goes in the same event. Resolves once durable. */
  async finished (body: FinishedBody): Promise<void> {
    const key = `${body.jobId}#${body.attempt}`
    const held = this.held.get(key)
    if (held === undefined) { await this.o.append('finished', body); return }
    clearTimeout(held.timer)
    this.held.delete(key)
    try {
      await this.o.append('finished', { ...body, started: { at: held.at, pid: held.body.pid } })
    } finally { held.told() }
  }

  /** Forget what is held (the agent stops: every job has ended by then, so nothing is). */
  clear (): void {
    for (const h of this.held.values()) { clearTimeout(h.timer); h.told() }
    this.held.clear()
  }
}
