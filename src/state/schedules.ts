// Schedules in the state (S-1, S-6): the reducer's part for schedule, control, skip and the
// submits of runs, and what is derived from those facts (paused, removed, the cursor).
// Pure and independent of arrival order, like the rest of the reducer.
import type { CisEvent, EventType, UnsignedEvent } from '../events/types.js'
import type { ClusterState, JoblistRecord, ScheduleRecord } from './types.js'
import { FINAL_JOBLIST_STATES } from './types.js'
import { comparePositions, insertByPosition, positionOf } from './position.js'
import { touchPart } from './changes.js'

type Ev<T extends EventType> = UnsignedEvent<T> | CisEvent<T>

const posOf = positionOf
const cmp = comparePositions

/** The schedule's record, made if new; marked for the snapshot (every caller writes to it). */
function ensure (state: ClusterState, name: string): ScheduleRecord {
  touchPart(state, 'schedules', name)
  let rec = state.schedules[name]
  if (rec === undefined) {
    rec = { name, spec: null, owner: '', definedPos: null, created: 0, definitions: 0, ops: {}, runs: [], order: {}, byInstant: {}, lastInstant: 0, skips: [], active: [] }
    state.schedules[name] = rec
  }
  return rec
}

function insertBy<T> (list: T[], item: T, before: (a: T, b: T) => number): void {
  let i = list.length
  while (i > 0 && before(item, list[i - 1]) < 0) i--
  list.splice(i, 0, item)
}

/** Runs in request order, by the orders the record keeps (never by reading other runs' requests). */
const runOrder = (rec: ScheduleRecord) => (a: string, b: string): number => cmp(rec.order[a] ?? [0, 0, '', 0], rec.order[b] ?? [0, 0, '', 0])

/** A definition (or a replacement of one): the latest by position wins; history stays. */
export function applyScheduleDefine (state: ClusterState, e: Ev<'schedule'>): void {
  const rec = ensure(state, e.body.spec.name)
  const pos = posOf(e)
  rec.definitions++
  rec.created = rec.created === 0 ? e.ts : Math.min(rec.created, e.ts)
  if (rec.definedPos === null || cmp(pos, rec.definedPos) > 0) {
    rec.definedPos = pos
    rec.spec = e.body.spec
    rec.owner = e.body.owner
  }
}

export function applyControl (state: ClusterState, e: Ev<'control'>): void {
  const rec = ensure(state, e.body.name)
  const pos = posOf(e)
  const had = rec.ops[e.body.op]
  if (had === undefined || cmp(pos, had) > 0) rec.ops[e.body.op] = pos
}

/** A skip's key among the snapshot's parts (schedule-parts.ts): its schedule and its event. */
export const skipPartKey = (name: string, origin: string, seq: number): string => `${name}@${origin}:${seq}`

/**
 * Skip records a schedule keeps: the latest by position. A schedule whose runs overlap its
 * instants (overlap: skip) writes a skip most instants, so the record would otherwise grow for
 * good (a minutely one: a quarter of a million a year); its cursor (lastInstant) counts every
 * skip all the same.
 */
export const MAX_SKIP_RECORDS = 1000

export function applySkip (state: ClusterState, e: Ev<'skip'>): void {
  const b = e.body
  const rec = ensure(state, b.name)
  touchPart(state, 'skips', skipPartKey(b.name, e.origin, e.seq))
  insertByPosition(rec.skips, { from: b.from, to: b.to, count: b.count, reason: b.reason, pos: posOf(e) })
  rec.lastInstant = Math.max(rec.lastInstant, b.to)
  trimSkips(state, rec)
}

/**
 * The schedule's skip records cut to the latest MAX_SKIP_RECORDS: a function of the skips
 * applied, in any order (one older than all kept is cut again at once), like an address's mail
 * records (reducer.ts trimMailRecords).
 */
export function trimSkips (state: ClusterState, rec: ScheduleRecord): void {
  const extra = rec.skips.length - MAX_SKIP_RECORDS
  if (extra <= 0) return
  for (const s of rec.skips.splice(0, extra)) touchPart(state, 'skips', skipPartKey(rec.name, s.pos[2], s.pos[3]))
}

/** The submit of a run (its request is already in state.requests). */
export function noteRun (state: ClusterState, key: string): void {
  const run = state.requests[key].schedule
  if (run === undefined) return
  const rec = ensure(state, run.name)
  // (A run is a part of its own in the snapshot: store/schedule-parts.ts.)
  touchPart(state, 'runs', key)
  ;(rec.order ??= {})[key] = state.requests[key].order
  const order = runOrder(rec)
  insertBy(rec.runs, key, order)
  insertBy(rec.active, key, order)
  if (run.manual !== true) {
    const list = rec.byInstant[String(run.instant)] ?? (rec.byInstant[String(run.instant)] = [])
    insertBy(list, key, order)
    rec.lastInstant = Math.max(rec.lastInstant, run.instant)
  }
}

/** A run's joblist changed: keep the schedule's active runs and its last failure in step. */
export function runChanged (state: ClusterState, jl: JoblistRecord): void {
  if (jl.schedule === undefined) return
  const rec = state.schedules[jl.schedule.name]
  if (rec === undefined) return
  touchPart(state, 'schedules', rec.name)
  const key = jl.request
  const i = rec.active.indexOf(key)
  if (FINAL_JOBLIST_STATES.has(jl.state)) {
    if (i >= 0) rec.active.splice(i, 1)
  } else if (i < 0) {
    insertBy(rec.active, key, runOrder(rec))
  }
  // Its failed runs are kept on the record (not looked up among the joblists: an ended run
  // may be archived out of memory on one node and not on another: archive.ts).
  const had = rec.failed?.[key]
  const now = jl.state === 'failed' ? jl.endedAt ?? 0 : undefined
  if (now === had) return
  touchPart(state, 'failed', key)
  if (now !== undefined) (rec.failed ??= {})[key] = now
  else if (rec.failed !== undefined) {
    delete rec.failed[key]
    if (Object.keys(rec.failed).length === 0) delete rec.failed
  }
  findLastFailed(state, rec)
}

/** A schedule's last failed run, found again among its failed runs (the latest end; ties by key). */
export function findLastFailed (state: ClusterState, rec: ScheduleRecord): void {
  touchPart(state, 'schedules', rec.name)
  delete rec.lastFailed
  for (const [k, t] of Object.entries(rec.failed ?? {})) {
    if (rec.lastFailed === undefined || t > rec.lastFailed.at || (t === rec.lastFailed.at && k > rec.lastFailed.key)) rec.lastFailed = { key: k, at: t }
  }
}

export function joblistOfRequest (state: ClusterState, key: string): JoblistRecord | undefined {
  const id = state.requests[key]?.joblistId
  return id === undefined ? undefined : state.joblists[id]
}

export interface ScheduleStatus {
  /** No more runs (`cis unschedule`); history kept. */
  removed: boolean
  paused: boolean
  /** `user`, or the ID of the failed run that paused it. */
  pausedBy: string | null
  /** Instants at or before this are not due (the newest accounted for, or the (re)creation). */
  cursor: number
  /** Time of the latest resume, if any. */
  resumedAt: number | null
}

/** What the facts of a schedule say now. */
export function scheduleStatus (state: ClusterState, rec: ScheduleRecord): ScheduleStatus {
  const { pause, resume, delete: del } = rec.ops
  const removed = del !== undefined && (rec.definedPos === null || cmp(del, rec.definedPos) > 0)
  // Re-created after an unschedule (defined again after the delete): a fresh start. The
  // instants while it was gone are not due (up to the definition), and its pauses and
  // failures from before the delete stay in the history only.
  const revivedFrom = del !== undefined && !removed ? del : undefined
  const revived = revivedFrom !== undefined && rec.definedPos !== null ? rec.definedPos[0] : 0
  const resumedAt = resume?.[0] ?? null
  const userPaused = pause !== undefined && (resume === undefined || cmp(pause, resume) > 0) && (revivedFrom === undefined || cmp(pause, revivedFrom) > 0)
  const failure = rec.lastFailed
  const failPaused = rec.spec?.schedule?.onFailure === 'pause' && failure !== undefined && (resumedAt === null || failure.at > resumedAt) && (revivedFrom === undefined || failure.at > revivedFrom[0])
  const pausedBy = userPaused ? 'user' : failPaused ? state.requests[failure.key]?.joblistId ?? failure.key : null
  return { removed, paused: pausedBy !== null, pausedBy, cursor: Math.max(rec.lastInstant, rec.created, revived), resumedAt }
}
