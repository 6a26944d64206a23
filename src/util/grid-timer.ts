// A periodic timer on the wall clock's grid: `fn` runs at every multiple of `ms` since the
// epoch (Date.now()), not `ms` after whenever the timer happened to start. Every timer of a
// process with a period that divides another's fires in the same turn of the event loop, and
// the nodes of a cluster (clocks within a few ms of each other) beat at about the same moment:
// a node's beats to its peers go out, and theirs come in, in one wake-up instead of one per
// peer (issue 12: on these VMs each wake-up of an idle process costs far more than the work it
// does; bench/cold.ts). Like setInterval, a late turn does not make up the ticks it missed.
// The timer does not keep the process alive (unref). How late each timer on the wall clock ran
// is recorded (gridTimerLateness): the event loop's delay, sampled at wake-ups the process has
// anyway (an agent's heartbeat tick is one, five times a second), so measuring it wakes nothing.
import { createHistogram } from 'node:perf_hooks'
import type { RecordableHistogram } from 'node:perf_hooks'

export interface GridTimer { stop: () => void }

/** How late grid timers on the wall clock ran, in ns (1 for on time), since the process started. */
const lateness: RecordableHistogram = createHistogram()

/** How late this process's grid timers on the wall clock ran (ns): its event loop's delay (metrics.ts). */
export function gridTimerLateness (): RecordableHistogram { return lateness }

/** Lateness beyond this (ms) is the wall clock stepped, not the loop: not recorded. */
const MAX_LATENESS_MS = 3_600_000

/** The longest wait setTimeout takes (a longer one fires at once). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1

/**
 * Run `fn` at each multiple of `ms` on `now()`'s clock (Date.now by default), plus `phase` ms
 * (0 ≤ phase < ms; default 0: the grid itself), until stopped.
 */
export function everyOnGrid (ms: number, fn: () => void, now: () => number = Date.now, phase = 0): GridTimer {
  if (!(ms > 0) || !Number.isFinite(ms)) throw new Error(`a grid timer needs a period above 0 ms, not ${ms}`)
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  /** The grid point the timer is set for (0: none yet). */
  let due = 0
  /** The timer is set for a part of a longer wait (setTimeout takes at most MAX_TIMEOUT_MS). */
  let part = false
  const arm = (): void => {
    const wait = Math.max(0, due - now())
    part = wait > MAX_TIMEOUT_MS
    timer = setTimeout(tick, Math.min(wait, MAX_TIMEOUT_MS))
    timer.unref()
  }
  const schedule = (): void => {
    if (stopped) return
    const t = now()
    let next = (Math.floor((t - phase) / ms) + 1) * ms + phase
    // Never the point just served again: a timer may run a little before the wall clock reaches
    // its point. (A clock stepped back by half a period or more: the new clock's grid, at once.)
    if (due !== 0 && next <= due && due - t < ms / 2) next = due + ms
    due = next
    arm()
  }
  const tick = (): void => {
    if (stopped) return
    if (part) { arm(); return } // (the rest of the wait)
    if (now === Date.now) {
      const late = Date.now() - due
      if (late > -ms && late < MAX_LATENESS_MS) lateness.record(Math.max(1, Math.round(late * 1e6)))
    }
    schedule()
    fn()
  }
  schedule()
  return { stop: () => { stopped = true; if (timer !== undefined) clearTimeout(timer) } }
}
