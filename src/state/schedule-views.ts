// JSON views of schedules (S-1, S-6) for the API, the CLI and the logs.
import type { SkipReason } from '../events/types.js'
import { nextInstant } from '../spec/cron.js'
import type { ScheduleSpec } from '../spec/types.js'
import { joblistOfRequest, scheduleStatus } from './schedules.js'
import type { ClusterState, JoblistRecord, ScheduleRecord } from './types.js'

export interface RunView {
  /** The joblist ID (null while no master accepted the run yet). */
  id: string | null
  instant: string
  /** (`archived`: out of memory, and not read back by this caller.) */
  state: JoblistRecord['state'] | 'submitted' | 'archived'
  /** `cis trigger`: a run outside the cron. */
  manual?: true
  /** Two runs stand for this instant (both sides of a partition launched it): this is the later one. */
  duplicateOf?: string
  endedAt: string | null
}

export interface SkipView { from: string, to: string, count: number, reason: SkipReason, why: string }

/** A schedule as listed: its definition (cron, timezone, onFailure, overlap, catchUp, maxCatchUp) and where it stands. */
export interface ScheduleSummary extends ScheduleSpec {
  name: string
  owner: string
  paused: boolean
  /** `user`, or the ID of the failed run that paused it. */
  pausedBy: string | null
  removed: boolean
  /** The next instant it will launch (null: paused or removed). */
  next: string | null
  last: RunView | null
  /** The last run failed. */
  failing: boolean
  /** Runs in all (until purged), skipped instants in the skip records kept (the latest MAX_SKIP_RECORDS: schedules.ts). */
  runCount: number
  skippedCount: number
  values?: Record<string, string>
}

export interface ScheduleView extends ScheduleSummary {
  /** Newest first (at most `limit`). */
  runs: RunView[]
  skipped: SkipView[]
}

const WHY: Record<SkipReason, string> = {
  overlap: 'the previous run was still active (overlap: skip)',
  missed: 'missed while no master could launch it (catchUp: none)',
  'caught-up': 'missed while no master could launch it; one run stands for all (catchUp: one)',
  paused: 'the schedule was paused',
  'over-limit': 'missed, beyond maxCatchUp (catchUp: all)'
}

const iso = (t: number): string => new Date(t).toISOString()

function runView (state: ClusterState, rec: ScheduleRecord, key: string): RunView {
  const req = state.requests[key]
  // A run archived out of memory that the caller did not bring in (see runKeys): what the record knows.
  if (req === undefined) return { id: null, instant: iso(rec.order[key]?.[0] ?? 0), state: 'archived', endedAt: null }
  const jl = joblistOfRequest(state, key)
  const run = req.schedule
  const first = run !== undefined && run.manual !== true ? rec.byInstant[String(run.instant)]?.[0] : undefined
  return {
    id: jl?.id ?? null,
    instant: iso(run?.instant ?? req.at),
    state: jl?.state ?? 'submitted',
    ...(run?.manual === true ? { manual: true as const } : {}),
    ...(first !== undefined && first !== key ? { duplicateOf: state.requests[first]?.joblistId ?? first } : {}),
    endedAt: jl?.endedAt !== undefined ? iso(jl.endedAt) : null
  }
}

/** The run a joblist duplicates (the earlier run of the same schedule instant), if it is a duplicate. */
export function duplicateOf (state: ClusterState, jl: JoblistRecord): string | undefined {
  const run = jl.schedule
  if (run === undefined || run.manual === true) return undefined
  const first = state.schedules[run.name]?.byInstant[String(run.instant)]?.[0]
  return first === undefined || first === jl.request ? undefined : state.requests[first]?.joblistId ?? first
}

export function scheduleSummary (state: ClusterState, rec: ScheduleRecord, now: number): ScheduleSummary | undefined {
  const spec = rec.spec
  const def = spec?.schedule
  if (spec === null || def === undefined) return undefined
  const status = scheduleStatus(state, rec)
  const lastKey = rec.runs[rec.runs.length - 1]
  const last = lastKey === undefined ? null : runView(state, rec, lastKey)
  const next = status.removed || status.paused ? null : nextInstant(def.cron, def.timezone, Math.max(status.cursor, now))
  return {
    name: rec.name,
    ...def,
    owner: rec.owner,
    paused: status.paused,
    pausedBy: status.pausedBy,
    removed: status.removed,
    next: next === null ? null : iso(next),
    last,
    failing: last?.state === 'failed',
    runCount: rec.runs.length,
    skippedCount: rec.skips.reduce((n, s) => n + s.count, 0),
    ...(spec.values !== undefined && Object.keys(spec.values).length > 0 ? { values: spec.values } : {})
  }
}

/** The request keys of the runs a view of `limit` runs shows (to read archived ones back first). */
export const runKeys = (rec: ScheduleRecord, limit = 100): string[] => rec.runs.slice(-limit)

export function scheduleView (state: ClusterState, rec: ScheduleRecord, now: number, limit = 100): ScheduleView | undefined {
  const summary = scheduleSummary(state, rec, now)
  if (summary === undefined) return undefined
  return {
    ...summary,
    runs: rec.runs.slice(-limit).reverse().map(k => runView(state, rec, k)),
    skipped: rec.skips.slice(-limit).reverse().map(s => ({ from: iso(s.from), to: iso(s.to), count: s.count, reason: s.reason, why: WHY[s.reason] }))
  }
}

/** Every defined schedule: paused and failing ones first, then by name; removed ones only if asked. */
export function scheduleList (state: ClusterState, now: number, withRemoved = false): ScheduleSummary[] {
  const out: ScheduleSummary[] = []
  for (const rec of Object.values(state.schedules)) {
    const s = scheduleSummary(state, rec, now)
    if (s !== undefined && (withRemoved || !s.removed)) out.push(s)
  }
  const rank = (s: ScheduleSummary): number => s.paused ? 0 : s.failing ? 1 : s.removed ? 3 : 2
  return out.sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
