// recurrences(input) -> the master's decisions for schedules (S-1, S-6). Pure: the master's
// shell turns them into events (a launch into the submit of a run, a skip into a skip event).
//
// For each schedule the instants after its cursor (the newest instant a run or a skip already
// stands for) up to now are due. Each is handled once, by whoever is master, because the
// decision is an event that moves the cursor:
// - instants due before this master took office were missed (no master could launch them;
//   so is one seen more than LATE_LIMIT_MS late):
//   catchUp one = one run for the newest, the older ones skipped as caught up; none = all
//   skipped; all = the newest maxCatchUp each run, oldest first, older ones skipped;
// - instants due since are launched on time;
// - overlap skip: an instant whose previous run is still active is skipped;
// - a paused schedule launches nothing; after a resume its instants up to the resume are
//   skipped as paused, not caught up.
import type { SkipReason } from '../events/types.js'
import { instantsBetween, nextInstant } from '../spec/cron.js'
import type { JoblistSpec } from '../spec/types.js'
import { scheduleStatus } from '../state/schedules.js'
import type { ClusterState } from '../state/types.js'

export type RecurrenceDecision =
  | { type: 'launch', name: string, instant: number, spec: JoblistSpec, owner: string }
  | { type: 'skip', name: string, from: number, to: number, count: number, reason: SkipReason }

export interface RecurrenceInput {
  state: ClusterState
  now: number
  /** When this master took office: instants before it were missed. */
  masterSince: number
}

/**
 * An instant seen due later than this is missed even under a master in office: a schedule
 * defined on the other side of a long partition (or a master stalled that long) must not
 * launch every instant since as if on time.
 */
export const LATE_LIMIT_MS = 60_000

/** How many instants one pass looks at per schedule, beyond the catch-up limit. */
export const BATCH = 2000

/** The spec of a run: the schedule's joblist without its schedule. */
export function runSpec (spec: JoblistSpec): JoblistSpec {
  const { schedule: _schedule, ...rest } = spec
  return rest
}

/**
 * The first instant after a cursor, memoized: most passes find nothing due, and asking the
 * cron library for every schedule on every pass would cost more than the rest of the pass.
 * (A cache of a pure function: the answers do not depend on it.)
 */
const firstAfter = new Map<string, number | null>()

function firstInstantAfter (cron: string, timezone: string, cursor: number): number | null {
  const key = `${timezone} ${cursor} ${cron}`
  let t = firstAfter.get(key)
  if (t === undefined) {
    t = nextInstant(cron, timezone, cursor)
    if (firstAfter.size >= 10_000) firstAfter.clear()
    firstAfter.set(key, t)
  }
  return t
}

/** The earliest instant any active schedule falls due at (to wake the master then), or null. */
export function nextDue (state: ClusterState): number | null {
  let best: number | null = null
  for (const rec of Object.values(state.schedules)) {
    const def = rec.spec?.schedule
    if (def === undefined) continue
    const status = scheduleStatus(state, rec)
    if (status.removed || status.paused) continue
    const t = firstInstantAfter(def.cron, def.timezone, status.cursor)
    if (t !== null && (best === null || t < best)) best = t
  }
  return best
}

export function recurrences (input: RecurrenceInput): RecurrenceDecision[] {
  const out: RecurrenceDecision[] = []
  for (const name of Object.keys(input.state.schedules).sort()) out.push(...decideSchedule(input, name))
  return out
}

type Plan = { instant: number, run: true } | { instant: number, run: false, reason: SkipReason }

function decideSchedule (input: RecurrenceInput, name: string): RecurrenceDecision[] {
  const { state, now, masterSince } = input
  const rec = state.schedules[name]
  const def = rec.spec?.schedule
  if (rec.spec === null || def === undefined) return []
  const status = scheduleStatus(state, rec)
  if (status.removed || status.paused) return []
  const first = firstInstantAfter(def.cron, def.timezone, status.cursor)
  if (first === null || first > now) return [] // nothing due: the common case
  const limit = BATCH + def.maxCatchUp
  const { instants, more } = instantsBetween(def.cron, def.timezone, status.cursor, now, limit)
  if (instants.length === 0) return []
  const plan: Plan[] = []
  const pausedUntil = status.resumedAt !== null && status.resumedAt > status.cursor ? status.resumedAt : -Infinity
  const missed: number[] = []
  const batch = more ? instants.slice(0, BATCH) : instants
  for (const t of batch) {
    if (t <= pausedUntil) plan.push({ instant: t, run: false, reason: 'paused' })
    else if (t < masterSince || now - t > LATE_LIMIT_MS) missed.push(t)
    else plan.push({ instant: t, run: true })
  }
  // Newer missed instants follow in a later pass only if this batch ends with a missed one.
  const moreMissed = more && missed.length > 0 && missed[missed.length - 1] === batch[batch.length - 1]
  plan.push(...catchUp(missed, def.catchUp, def.maxCatchUp, moreMissed))
  plan.sort((a, b) => a.instant - b.instant)
  // Overlap: at most one active run when it is `skip` (launched ones count at once).
  let active = rec.active.length > 0
  const decided: Plan[] = plan.map(p => {
    if (!p.run) return p
    if (def.overlap === 'skip' && active) return { instant: p.instant, run: false, reason: 'overlap' }
    active = true
    return p
  })
  return toDecisions(name, rec.spec, rec.owner, decided)
}

/** What to do with the missed instants (oldest first). `more`: newer missed instants follow in a later pass. */
function catchUp (missed: number[], policy: 'one' | 'none' | 'all', max: number, more: boolean): Plan[] {
  if (missed.length === 0) return []
  if (policy === 'none') return missed.map(t => ({ instant: t, run: false, reason: 'missed' as const }))
  if (policy === 'one') {
    return missed.map((t, i) => i === missed.length - 1 && !more ? { instant: t, run: true as const } : { instant: t, run: false, reason: 'caught-up' as const })
  }
  const keepFrom = more ? missed.length : Math.max(0, missed.length - max)
  return missed.map((t, i) => i >= keepFrom ? { instant: t, run: true as const } : { instant: t, run: false, reason: 'over-limit' as const })
}

/** Launches one by one; consecutive skips with the same reason as one range. */
function toDecisions (name: string, spec: JoblistSpec, owner: string, plan: Plan[]): RecurrenceDecision[] {
  const out: RecurrenceDecision[] = []
  let range: { from: number, to: number, count: number, reason: SkipReason } | undefined
  const close = (): void => {
    if (range !== undefined) out.push({ type: 'skip', name, ...range })
    range = undefined
  }
  for (const p of plan) {
    if (p.run) {
      close()
      out.push({ type: 'launch', name, instant: p.instant, spec: runSpec(spec), owner })
    } else if (range !== undefined && range.reason === p.reason) {
      range.to = p.instant
      range.count++
    } else {
      close()
      range = { from: p.instant, to: p.instant, count: 1, reason: p.reason }
    }
  }
  close()
  return out
}
