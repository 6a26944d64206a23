// Retention (G-6): with `store.purgeAfter` set, ended joblists are purged automatically that
// long after their end, as `cis admin purge --older-than` would (the same purge events, the
// same cut of their events from every node's log). Only the master purges, and only once it
// has caught up with the cluster (a new master does not purge from a view it has not finished
// reading); two masters of a healing partition may both purge the same joblists: a purge names
// IDs, so the second changes nothing. Checked on the wall clock's grid, every tenth of the
// retention (between a second and an hour), so a joblist leaves between purgeAfter and
// purgeAfter plus one check after its end. A joblist that may still owe a notification is
// kept for a later check (the node says which).
import type { Logger } from 'pino'
import { everyOnGrid } from '../util/grid-timer.js'
import type { GridTimer } from '../util/grid-timer.js'

/** How often a retention of `afterMs` is checked: a tenth of it, between 1 s and 1 h. */
export function retentionCheckMs (afterMs: number): number {
  return Math.min(3600_000, Math.max(1000, Math.floor(afterMs / 10)))
}

/** At most this many joblists a purge by retention names; with more past the cutoff, another follows at once. */
export const RETENTION_BATCH = 5000
/** At most this many such purges in one check (a backlog of a million ended joblists takes a few checks). */
const ROUNDS_PER_CHECK = 50

export interface RetentionOptions {
  afterMs: number
  log: Logger
  now: () => number
  /** This node is the master now and has caught up (only then does it purge). */
  mayPurge: () => boolean
  /** Purge the joblists ended before `before` (node.ts: the purge's events), at most RETENTION_BATCH; how many, and whether more are left. */
  purge: (before: number) => Promise<{ joblists: number, more: boolean }>
  /** Tests only: the timer (default: on the wall clock's grid). */
  every?: (ms: number, fn: () => void) => GridTimer
}

export interface RetentionStatus {
  /** The retention, ms. */
  afterMs: number
  /** The last purge this node made by it (as master): when, the cutoff, how many joblists. */
  last: { at: number, before: number, joblists: number } | null
  /** The last failure of a purge by it, if the latest attempt failed. */
  error: string | null
}

export class Retention {
  private timer: GridTimer | undefined
  private running: Promise<void> | null = null
  private last: RetentionStatus['last'] = null
  private error: string | null = null

  constructor (private readonly o: RetentionOptions) {}

  start (): void {
    if (this.timer !== undefined || this.o.afterMs <= 0) return
    this.timer = (this.o.every ?? everyOnGrid)(retentionCheckMs(this.o.afterMs), () => { void this.check() })
  }

  /** Stop checking; waits for a purge under way. */
  async stop (): Promise<void> {
    this.timer?.stop()
    this.timer = undefined
    await this.running
  }

  status (): RetentionStatus {
    return { afterMs: this.o.afterMs, last: this.last, error: this.error }
  }

  /** One check: purge what ended before now − afterMs, if this node may. At most one at a time. */
  async check (): Promise<void> {
    if (this.running !== null || !this.o.mayPurge()) return
    const at = this.o.now()
    const before = at - this.o.afterMs
    this.running = (async () => {
      try {
        let joblists = 0
        for (let round = 0; round < ROUNDS_PER_CHECK; round++) {
          const r = await this.o.purge(before)
          joblists += r.joblists
          if (!r.more || this.timer === undefined || !this.o.mayPurge()) break
        }
        this.error = null
        if (joblists > 0) {
          this.last = { at, before, joblists }
          this.o.log.info({ before: new Date(before).toISOString(), joblists }, 'retention: purged ended joblists (store.purgeAfter)')
        }
      } catch (err) {
        // (A node stopping mid-purge, a store error: the next check tries again.)
        this.error = (err as Error).message
        this.o.log.warn({ err: this.error }, 'retention: purge failed; trying again at the next check')
      } finally {
        this.running = null
      }
    })()
    await this.running
  }
}
