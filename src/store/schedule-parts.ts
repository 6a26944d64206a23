// A schedule's record in the snapshot (G-4, S-6): what grows with its history is stored as parts
// of their own, each written once: a run (`runs!KEY`: its schedule, request order and cron
// instant), a skipped range (`skips!NAME@ORIGIN:SEQ`) and a failed run (`failed!KEY`: when it
// ended). The schedule's own part (`schedules!NAME`) is the rest of its record (definition,
// controls, cursor, active runs, last failure). A schedule keeps every run, skip and failure, so
// its record grew ~280-340 bytes a run (2.8 MB after 10,000 runs: a week of a schedule every
// minute) and was serialized and written whole at the snapshot after each run.
// Pure: values of the state in, parts out, and back.
import { comparePositions } from '../state/position.js'
import { MAX_SKIP_RECORDS, skipPartKey } from '../state/schedules.js'
import type { ClusterState, Position, ScheduleRecord, SkipRecord } from '../state/types.js'

/** The fields of a schedule's part that have parts of their own instead. */
export const SCHEDULE_SPLIT_FIELDS: ReadonlySet<string> = new Set(['runs', 'skips', 'failed'])

/**
 * A run: its schedule, request order and cron instant (absent: a manual run). `seq`: its place
 * among its schedule's runs, for a run recorded without an order (a record of Nov 30's code).
 */
interface RunPart { schedule: string, order?: Position, seq?: number, instant?: number }
interface SkipPart { schedule: string, skip: SkipRecord }
interface FailedPart { schedule: string, at: number }

const runPartOf = (schedule: string, order: Position | undefined, seq: number, instant: number | undefined): RunPart =>
  ({ schedule, ...(order !== undefined ? { order } : { seq }), ...(instant !== undefined ? { instant } : {}) })

/** A skip's key: its schedule and its event (origin and seq name one event). */
const skipKey = (name: string, pos: Position): string => skipPartKey(name, pos[2], pos[3])

/** A schedule's record without what has parts of its own. */
export function scheduleHead (rec: ScheduleRecord): Omit<ScheduleRecord, 'runs' | 'order' | 'byInstant' | 'skips' | 'failed'> {
  const { runs: _runs, order: _order, byInstant: _byInstant, skips: _skips, failed: _failed, ...head } = rec
  return head
}

/** Every part a schedule's record is stored as: [field, key, value]. */
export function * scheduleParts (rec: ScheduleRecord): Generator<[string, string, unknown]> {
  yield ['schedules', rec.name, scheduleHead(rec)]
  const instantOf = new Map<string, number>()
  for (const [instant, keys] of Object.entries(rec.byInstant)) for (const k of keys) instantOf.set(k, Number(instant))
  for (let i = 0; i < rec.runs.length; i++) {
    const k = rec.runs[i]
    yield ['runs', k, runPartOf(rec.name, rec.order?.[k], i, instantOf.get(k))]
  }
  for (const skip of rec.skips) yield ['skips', skipKey(rec.name, skip.pos), { schedule: rec.name, skip }]
  for (const [k, at] of Object.entries(rec.failed ?? {})) yield ['failed', k, { schedule: rec.name, at }]
}

/** The schedule that has the run `key` (by its request while in memory, else by looking). */
function scheduleOfRun (state: ClusterState, key: string, has: (rec: ScheduleRecord) => boolean): ScheduleRecord | undefined {
  const named = state.requests[key]?.schedule
  const rec = named !== undefined ? state.schedules[named.name] : undefined
  if (rec !== undefined && has(rec)) return rec
  return Object.values(state.schedules).find(has)
}

/**
 * The value of one part of the fields `schedules`, `runs`, `skips`, `failed` (what
 * scheduleParts gives for it), or undefined if it is gone; null if `field` is not one of them.
 */
export function schedulePart (state: ClusterState, field: string, key: string): unknown {
  if (field === 'schedules') { const rec = state.schedules[key]; return rec === undefined ? undefined : scheduleHead(rec) }
  if (field === 'runs') {
    const rec = scheduleOfRun(state, key, r => r.order?.[key] !== undefined || r.runs.includes(key))
    if (rec === undefined) return undefined
    const order = rec.order?.[key]
    let instant: number | undefined
    const named = state.requests[key]?.schedule
    if (named !== undefined && named.name === rec.name) instant = named.manual === true ? undefined : named.instant
    else for (const [i, keys] of Object.entries(rec.byInstant)) if (keys.includes(key)) { instant = Number(i); break }
    return runPartOf(rec.name, order, order === undefined ? rec.runs.indexOf(key) : 0, instant)
  }
  if (field === 'skips') {
    const at = key.lastIndexOf('@')
    const rec = state.schedules[key.slice(0, at)]
    if (rec === undefined) return undefined
    // (Mostly the newest: skips are kept in position order.)
    for (let i = rec.skips.length - 1; i >= 0; i--) if (skipKey(rec.name, rec.skips[i].pos) === key) return { schedule: rec.name, skip: rec.skips[i] }
    return undefined
  }
  if (field === 'failed') {
    const rec = scheduleOfRun(state, key, r => r.failed?.[key] !== undefined)
    return rec === undefined ? undefined : { schedule: rec.name, at: rec.failed?.[key] }
  }
  return null
}

/**
 * Put the parts of the fields `runs`, `skips` and `failed` (as assembled: maps by key) back into
 * their schedules' records, each list in its order (request order; skips by position), as the
 * reducer keeps them. A record stored whole (snapshot version 5) keeps what it holds.
 */
export function foldScheduleParts (state: ClusterState, runs: Record<string, RunPart>, skips: Record<string, SkipPart>, failed: Record<string, FailedPart>): void {
  for (const rec of Object.values(state.schedules)) {
    rec.runs ??= []
    rec.order ??= {}
    rec.byInstant ??= {}
    rec.skips ??= []
  }
  const touched = new Set<ScheduleRecord>()
  const seqOf = new Map<string, number>()
  // (The runs a record stored whole holds already.)
  const held = new Map<ScheduleRecord, Set<string>>()
  for (const rec of Object.values(state.schedules)) if (rec.runs.length > 0) held.set(rec, new Set(rec.runs))
  for (const [k, r] of Object.entries(runs)) {
    const rec = state.schedules[r.schedule]
    if (rec === undefined || held.get(rec)?.has(k) === true) continue
    touched.add(rec)
    if (r.order !== undefined) rec.order[k] = r.order
    else seqOf.set(k, r.seq ?? 0)
    rec.runs.push(k)
    if (r.instant !== undefined) (rec.byInstant[String(r.instant)] ??= []).push(k)
  }
  for (const rec of touched) {
    // As the reducer's runOrder (a run without an order first), and such runs as they stood.
    const none: Position = [0, 0, '', 0]
    const byOrder = (a: string, b: string): number => comparePositions(rec.order[a] ?? none, rec.order[b] ?? none) || (seqOf.get(a) ?? 0) - (seqOf.get(b) ?? 0)
    rec.runs.sort(byOrder)
    for (const keys of Object.values(rec.byInstant)) keys.sort(byOrder)
  }
  const skipped = new Set<ScheduleRecord>()
  for (const s of Object.values(skips)) {
    const rec = state.schedules[s.schedule]
    if (rec === undefined) continue
    rec.skips.push(s.skip)
    skipped.add(rec)
  }
  // (Cut to the latest MAX_SKIP_RECORDS, as the reducer keeps them: a snapshot of version 7 or
  // older held them all. The next snapshot after one looks at every part: the parts of those
  // cut go: event-store.ts SNAPSHOT_VERSION.)
  for (const rec of skipped) {
    rec.skips.sort((a, b) => comparePositions(a.pos, b.pos))
    if (rec.skips.length > MAX_SKIP_RECORDS) rec.skips.splice(0, rec.skips.length - MAX_SKIP_RECORDS)
  }
  for (const [k, f] of Object.entries(failed)) {
    const rec = state.schedules[f.schedule]
    if (rec !== undefined) (rec.failed ??= {})[k] = f.at
  }
}
