// S-1/S-6: recurring joblists, driven by hand: the reducer holds the facts (schedule, control,
// skip, the submits of runs, their accepts and ends), recurrences() is the master's pure
// decision, and each decision is applied as the event the master would write. Time is a
// number passed in; nothing waits.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { ControlOp, EventBodies, EventType, UnsignedEvent } from '../../src/events/types.js'
import { BATCH, LATE_LIMIT_MS, recurrences, runSpec } from '../../src/scheduler/recurrence.js'
import type { RecurrenceDecision } from '../../src/scheduler/recurrence.js'
import type { JoblistSpec, ScheduleSpec } from '../../src/spec/types.js'
import { stateHash } from '../../src/state/hash.js'
import { apply, reduce } from '../../src/state/reducer.js'
import { scheduleList, scheduleSummary, scheduleView } from '../../src/state/schedule-views.js'
import { scheduleStatus } from '../../src/state/schedules.js'
import type { ClusterState, ScheduleRecord } from '../../src/state/types.js'
import { emptyState } from '../../src/state/types.js'
import { joblistView } from '../../src/state/views.js'
import { job, joblist } from '../helpers/harness.js'

const SEC = 1000
const MIN = 60 * SEC
/** 2026-01-01T00:00:00Z: a whole minute, so `* * * * *` fires at T0 + k minutes. */
const T0 = Date.UTC(2026, 0, 1)
/** T0 plus `m` minutes (fractions allowed). */
const at = (m: number): number => T0 + Math.round(m * MIN)
/** An instant as minutes after T0. */
const minOf = (t: number): number => (t - T0) / MIN

function scheduled (name: string, over: Partial<ScheduleSpec> = {}, extra: Partial<JoblistSpec> = {}): JoblistSpec {
  return joblist(name, [['s', [job('j')]]], {
    schedule: { cron: '* * * * *', timezone: 'UTC', onFailure: 'pause', overlap: 'skip', catchUp: 'one', maxCatchUp: 100, ...over },
    ...extra
  })
}

/** A decision in a short form: `{run: minute}` or `{skip: reason, from, to, count}` (minutes). */
type Short = { run: number } | { skip: string, from: number, to: number, count: number }
const short = (ds: RecurrenceDecision[]): Short[] => ds.map(d => d.type === 'launch'
  ? { run: minOf(d.instant) }
  : { skip: d.reason, from: minOf(d.from), to: minOf(d.to), count: d.count })

/** The facts of a small cluster, built by hand: a user node U, masters M (and M2), executors N (and N2). */
class World {
  state: ClusterState = emptyState()
  readonly events: UnsignedEvent[] = []
  private readonly seqs = new Map<string, number>()
  private ids = 0

  emit<T extends EventType> (origin: string, type: T, body: EventBodies[T], ts: number): UnsignedEvent<T> {
    const seq = (this.seqs.get(origin) ?? 0) + 1
    this.seqs.set(origin, seq)
    const e: UnsignedEvent<T> = { origin, seq, ts, lc: 0, type, body }
    this.events.push(e)
    apply(this.state, e)
    return e
  }

  define (spec: JoblistSpec, ts: number, origin = 'U'): void {
    this.emit(origin, 'schedule', { spec, owner: 'alice' }, ts)
  }

  control (name: string, op: ControlOp, ts: number, origin = 'U'): void {
    this.emit(origin, 'control', { name, op }, ts)
  }

  /** One pass of the master: its decisions become its events, written at `now`. */
  pass (now: number, masterSince: number, master = 'M'): Short[] {
    const ds = recurrences({ state: this.state, now, masterSince })
    for (const d of ds) {
      if (d.type === 'launch') this.emit(master, 'submit', { spec: d.spec, owner: d.owner, schedule: { name: d.name, instant: d.instant } }, now)
      else this.emit(master, 'skip', { name: d.name, from: d.from, to: d.to, count: d.count, reason: d.reason, term: 1 }, now)
    }
    return short(ds)
  }

  rec (name: string): ScheduleRecord {
    const r = this.state.schedules[name]
    assert.ok(r !== undefined, `no schedule ${name}`)
    return r
  }

  /** The request key of the run for `instant` (minutes), the first if there are more. */
  runKey (name: string, minute: number): string {
    const key = this.rec(name).byInstant[String(at(minute))]?.[0]
    assert.ok(key !== undefined, `no run of ${name} for minute ${minute}`)
    return key
  }

  accept (key: string, ts: number, master = 'M'): string {
    const known = this.state.requests[key]?.joblistId
    if (known !== undefined) return known
    const id = `${master.toLowerCase()}-${++this.ids}`
    this.emit(master, 'accept', { request: key, id, term: 1, onLost: 'retry', maxLost: 3 }, ts)
    return id
  }

  /** Accept (if needed), assign to N and end the run's one job. */
  end (key: string, outcome: 'succeeded' | 'failed', ts: number): string {
    const id = this.accept(key, ts)
    const jobId = `${id}.1`
    if (this.state.attempts[jobId]?.[1] === undefined) this.emit('M', 'assign', { jobId, attempt: 1, node: 'N', resources: { slot: ['s0'] }, term: 1 }, ts)
    this.emit('N', 'finished', { jobId, attempt: 1, state: outcome, exitCode: outcome === 'succeeded' ? 0 : 1, signal: null }, ts)
    assert.equal(this.state.joblists[id].state, outcome)
    return id
  }

  status (name: string): ReturnType<typeof scheduleStatus> {
    return scheduleStatus(this.state, this.rec(name))
  }
}

/** Every cron instant accounted for, by a run or a skip range: instant -> how many times. */
function accounted (w: World, name: string, step: number): Map<number, number> {
  const seen = new Map<number, number>()
  const add = (t: number): void => { seen.set(t, (seen.get(t) ?? 0) + 1) }
  const rec = w.rec(name)
  for (const [t, keys] of Object.entries(rec.byInstant)) for (let i = 0; i < keys.length; i++) add(Number(t))
  for (const s of rec.skips) {
    assert.equal(s.count, (s.to - s.from) / step + 1, `skip range ${s.from}..${s.to} is whole (${s.count})`)
    for (let t = s.from; t <= s.to; t += step) add(t)
  }
  return seen
}

test('S-1: on time, each instant is launched exactly once; a second pass at the same time decides nothing', () => {
  const w = new World()
  w.define(scheduled('nightly', {}, { values: { env: 'prod' } }), at(0.2))
  assert.deepEqual(w.pass(at(0.5), at(0)), [], 'nothing due before the first instant')
  assert.deepEqual(w.pass(at(1), at(0)), [{ run: 1 }])
  assert.deepEqual(w.pass(at(1), at(0)), [], 'the launch is a fact now: not launched again')
  assert.deepEqual(w.pass(at(1.9), at(0)), [])
  w.end(w.runKey('nightly', 1), 'succeeded', at(1.5))
  assert.deepEqual(w.pass(at(2), at(0)), [{ run: 2 }])
  assert.deepEqual(w.pass(at(2), at(0)), [])
  // The run is the schedule's joblist without its schedule, owned by whoever defined it.
  const req = w.state.requests[w.runKey('nightly', 2)]
  assert.deepEqual(req.spec, runSpec(scheduled('nightly', {}, { values: { env: 'prod' } })))
  assert.equal(req.spec.schedule, undefined)
  assert.deepEqual(req.spec.values, { env: 'prod' })
  assert.equal(req.owner, 'alice')
  assert.deepEqual(req.schedule, { name: 'nightly', instant: at(2) })
  const rec = w.rec('nightly')
  assert.equal(rec.runs.length, 2)
  assert.equal(rec.lastInstant, at(2))
  assert.deepEqual(rec.skips, [])
})

test('S-1: nothing is due before the definition; the instant it is defined at is not due', () => {
  const w = new World()
  w.define(scheduled('late'), at(5.25))
  assert.deepEqual(w.pass(at(5.5), at(0)), [], 'minutes 1..5 were before the schedule existed')
  assert.deepEqual(w.pass(at(6), at(0)), [{ run: 6 }])
  const exact = new World()
  exact.define(scheduled('exact'), at(5))
  assert.deepEqual(exact.pass(at(5), at(0)), [])
  assert.deepEqual(exact.pass(at(6), at(0)), [{ run: 6 }])
  // Even when the master took office later: not missed, since it was not due.
  const w2 = new World()
  w2.define(scheduled('x', { catchUp: 'all' }), at(3.5))
  assert.deepEqual(w2.pass(at(4.5), at(4.5)), [{ run: 4 }], 'minute 4 was missed (before the master took office); 1..3 were never due')
})

test('S-1: a schedule with no definition yet (a run arrived first) decides nothing', () => {
  const w = new World()
  w.emit('M', 'submit', { spec: runSpec(scheduled('early')), owner: 'alice', schedule: { name: 'early', instant: at(1) } }, at(1))
  assert.equal(w.rec('early').spec, null)
  assert.deepEqual(w.pass(at(10), at(0)), [])
  assert.equal(scheduleSummary(w.state, w.rec('early'), at(10)), undefined)
  // The definition arrives: the run it already has counts, later instants are due.
  w.define(scheduled('early'), at(0.5))
  w.end(w.runKey('early', 1), 'succeeded', at(1.5))
  assert.deepEqual(w.pass(at(3), at(0)), [{ run: 2 }, { skip: 'overlap', from: 3, to: 3, count: 1 }])
})

test('S-6: overlap skip: an instant whose previous run is still active is skipped and recorded as overlap', () => {
  const w = new World()
  w.define(scheduled('slow'), at(0.5))
  assert.deepEqual(w.pass(at(1), at(0)), [{ run: 1 }])
  assert.deepEqual(w.pass(at(2), at(0)), [{ skip: 'overlap', from: 2, to: 2, count: 1 }], 'not accepted yet still counts as active')
  w.accept(w.runKey('slow', 1), at(2.1))
  assert.deepEqual(w.pass(at(4), at(0)), [{ skip: 'overlap', from: 3, to: 4, count: 2 }])
  w.end(w.runKey('slow', 1), 'succeeded', at(4.5))
  assert.deepEqual(w.pass(at(5), at(0)), [{ run: 5 }])
  // Several due at once with nothing active: the first runs, the rest overlap it.
  w.end(w.runKey('slow', 5), 'succeeded', at(5.5))
  assert.deepEqual(w.pass(at(8), at(0)), [{ run: 6 }, { skip: 'overlap', from: 7, to: 8, count: 2 }])
  const view = scheduleView(w.state, w.rec('slow'), at(8))
  assert.ok(view !== undefined)
  assert.equal(view.runCount, 3)
  assert.equal(view.skippedCount, 5)
  assert.deepEqual(view.skipped.map(s => [s.reason, s.count]), [['overlap', 2], ['overlap', 2], ['overlap', 1]], 'newest first')
  assert.match(view.skipped[0].why, /still active/)
  assert.deepEqual(view.runs.map(r => r.instant), [at(6), at(5), at(1)].map(t => new Date(t).toISOString()))
})

test('S-6: overlap allow: runs may overlap, every instant is launched', () => {
  const w = new World()
  w.define(scheduled('fast', { overlap: 'allow' }), at(0.5))
  assert.deepEqual(w.pass(at(1), at(0)), [{ run: 1 }])
  assert.deepEqual(w.pass(at(3), at(0)), [{ run: 2 }, { run: 3 }])
  assert.equal(w.rec('fast').active.length, 3)
  w.end(w.runKey('fast', 2), 'succeeded', at(3.5))
  assert.deepEqual(w.rec('fast').active, [w.runKey('fast', 1), w.runKey('fast', 3)])
})

test('S-6: a manual run (cis trigger) stands for no instant but is active for overlap', () => {
  const w = new World()
  w.define(scheduled('m'), at(0.5))
  w.emit('U', 'submit', { spec: runSpec(scheduled('m')), owner: 'alice', schedule: { name: 'm', instant: at(0.7), manual: true } }, at(0.7))
  assert.equal(w.rec('m').lastInstant, 0, 'a manual run does not move the cursor')
  assert.deepEqual(w.rec('m').byInstant, {})
  assert.deepEqual(w.pass(at(1), at(0)), [{ skip: 'overlap', from: 1, to: 1, count: 1 }])
  const view = scheduleView(w.state, w.rec('m'), at(1))
  assert.equal(view?.runs[0].manual, true)
})

test('S-6: onFailure pause: a failed run pauses the schedule; after resume the paused instants are skipped, not caught up', () => {
  const w = new World()
  w.define(scheduled('nightly'), at(0.5))
  assert.deepEqual(w.pass(at(1), at(0)), [{ run: 1 }])
  const failed = w.end(w.runKey('nightly', 1), 'failed', at(1.5))
  const st = w.status('nightly')
  assert.equal(st.paused, true)
  assert.equal(st.pausedBy, failed, 'paused by the ID of the failed run')
  const sum = scheduleSummary(w.state, w.rec('nightly'), at(1.5))
  assert.equal(sum?.paused, true)
  assert.equal(sum?.pausedBy, failed)
  assert.equal(sum?.failing, true)
  assert.equal(sum?.next, null, 'a paused schedule has no next run')
  for (const m of [2, 3, 4, 5, 5.5]) assert.deepEqual(w.pass(at(m), at(0)), [], `no launch while paused (minute ${m})`)
  // Resume at 5.5: minutes 2..5 were due while paused.
  w.control('nightly', 'resume', at(5.5))
  assert.equal(w.status('nightly').paused, false)
  assert.equal(w.status('nightly').pausedBy, null)
  assert.deepEqual(w.pass(at(5.5), at(0)), [{ skip: 'paused', from: 2, to: 5, count: 4 }])
  assert.deepEqual(w.pass(at(5.5), at(0)), [])
  assert.deepEqual(w.pass(at(6), at(0)), [{ run: 6 }], 'on time again')
  assert.equal(scheduleView(w.state, w.rec('nightly'), at(6))?.skipped[0].why, 'the schedule was paused')
  // The history keeps the failed run.
  assert.deepEqual(scheduleView(w.state, w.rec('nightly'), at(6))?.runs.map(r => [r.id, r.state]), [[null, 'submitted'], [failed, 'failed']])
  // A later failure pauses it again, by that run.
  const again = w.end(w.runKey('nightly', 6), 'failed', at(6.5))
  assert.equal(w.status('nightly').pausedBy, again)
  assert.deepEqual(w.pass(at(9), at(0)), [])
})

test('S-6: after a resume, instants up to the resume are skipped as paused and later ones run on time, in one pass', () => {
  const w = new World()
  w.define(scheduled('nightly', { overlap: 'allow' }), at(0.5))
  w.pass(at(1), at(0))
  w.end(w.runKey('nightly', 1), 'failed', at(1.5))
  w.control('nightly', 'resume', at(4.5))
  // The master's next pass comes only at 7: 2..4 were paused, 5..7 are simply due.
  assert.deepEqual(w.pass(at(7), at(0)), [{ skip: 'paused', from: 2, to: 4, count: 3 }, { run: 5 }, { run: 6 }, { run: 7 }])
})

test('S-6: an instant at the very moment of the resume is still one of the paused ones', () => {
  const w = new World()
  w.define(scheduled('edge', { overlap: 'allow' }), at(0.5))
  w.control('edge', 'pause', at(0.7))
  w.control('edge', 'resume', at(3))
  assert.deepEqual(w.pass(at(4), at(0)), [{ skip: 'paused', from: 1, to: 3, count: 3 }, { run: 4 }])
})

test('S-6: onFailure continue: a failed run does not pause the schedule', () => {
  const w = new World()
  w.define(scheduled('tolerant', { onFailure: 'continue' }), at(0.5))
  w.pass(at(1), at(0))
  w.end(w.runKey('tolerant', 1), 'failed', at(1.5))
  assert.equal(w.status('tolerant').paused, false)
  const sum = scheduleSummary(w.state, w.rec('tolerant'), at(1.5))
  assert.equal(sum?.failing, true, 'still shown as failing')
  assert.equal(sum?.next, new Date(at(2)).toISOString())
  assert.deepEqual(w.pass(at(2), at(0)), [{ run: 2 }])
  w.end(w.runKey('tolerant', 2), 'failed', at(2.5))
  assert.deepEqual(w.pass(at(3), at(0)), [{ run: 3 }])
  w.end(w.runKey('tolerant', 3), 'succeeded', at(3.5))
  assert.equal(scheduleSummary(w.state, w.rec('tolerant'), at(4))?.failing, false)
})

test('S-6: the user pauses and resumes a schedule (control events)', () => {
  const w = new World()
  w.define(scheduled('job'), at(0.5))
  assert.deepEqual(w.pass(at(1), at(0)), [{ run: 1 }])
  w.end(w.runKey('job', 1), 'succeeded', at(1.2))
  w.control('job', 'pause', at(1.5))
  assert.deepEqual({ paused: w.status('job').paused, by: w.status('job').pausedBy }, { paused: true, by: 'user' })
  assert.deepEqual(w.pass(at(4), at(0)), [])
  w.control('job', 'resume', at(4.2))
  assert.deepEqual(w.pass(at(4.2), at(0)), [{ skip: 'paused', from: 2, to: 4, count: 3 }])
  assert.deepEqual(w.pass(at(5), at(0)), [{ run: 5 }])
  // Pause again, later than the resume: paused. The latest control wins, by position.
  w.control('job', 'pause', at(5.5))
  assert.equal(w.status('job').paused, true)
  // A resume from another node with an earlier position than that pause does not undo it.
  w.control('job', 'resume', at(5.4), 'U2')
  assert.equal(w.status('job').paused, true)
  w.control('job', 'resume', at(5.6), 'U2')
  assert.equal(w.status('job').paused, false)
  // A user pause and a failure: the user's pause is named first; resume clears both.
  w.end(w.runKey('job', 5), 'failed', at(5.7))
  w.control('job', 'pause', at(5.8))
  assert.equal(w.status('job').pausedBy, 'user')
  w.control('job', 'resume', at(5.9))
  assert.equal(w.status('job').paused, false)
})

test('S-6: delete stops launches and keeps the history; a re-definition revives it without catching up the gap', () => {
  const w = new World()
  w.define(scheduled('gone'), at(0.5))
  w.pass(at(2), at(0))
  w.end(w.runKey('gone', 1), 'succeeded', at(2.2))
  w.control('gone', 'delete', at(2.5))
  const st = w.status('gone')
  assert.equal(st.removed, true)
  for (const m of [3, 5, 10]) assert.deepEqual(w.pass(at(m), at(0)), [], `removed: nothing at minute ${m}`)
  const view = scheduleView(w.state, w.rec('gone'), at(10))
  assert.equal(view?.removed, true)
  assert.equal(view?.next, null)
  assert.equal(view?.runCount, 1, 'history kept')
  assert.equal(view?.skippedCount, 1)
  assert.deepEqual(scheduleList(w.state, at(10)).map(s => s.name), [], 'not listed')
  assert.deepEqual(scheduleList(w.state, at(10), true).map(s => s.name), ['gone'], 'listed with the removed ones')
  // Submitted again at 10.5: a fresh start; 3..10 were while it was gone.
  w.define(scheduled('gone'), at(10.5))
  assert.equal(w.status('gone').removed, false)
  assert.equal(w.rec('gone').definitions, 2)
  assert.deepEqual(w.pass(at(10.5), at(0)), [], 'the gap is not caught up, nor recorded as skipped')
  assert.deepEqual(w.pass(at(11), at(0)), [{ run: 11 }])
  assert.equal(scheduleView(w.state, w.rec('gone'), at(11))?.runCount, 2)
  // Even a master that took office during the gap does not count the gap as missed.
  const w2 = new World()
  w2.define(scheduled('gone', { catchUp: 'all', overlap: 'allow' }), at(0.5))
  w2.control('gone', 'delete', at(1.5))
  w2.define(scheduled('gone', { catchUp: 'all', overlap: 'allow' }), at(6.5))
  assert.deepEqual(w2.pass(at(8), at(8)), [{ run: 7 }, { run: 8 }], 'only what was missed since the re-definition')
})

test('S-6: a schedule paused before its delete starts unpaused when it is defined again', () => {
  const w = new World()
  w.define(scheduled('flaky'), at(0.5))
  w.pass(at(1), at(0))
  w.end(w.runKey('flaky', 1), 'failed', at(1.5))
  assert.equal(w.status('flaky').paused, true)
  w.control('flaky', 'delete', at(2.5))
  w.define(scheduled('flaky'), at(3.5))
  assert.equal(w.status('flaky').paused, false, 'the old failure belongs to the old schedule')
  assert.deepEqual(w.pass(at(4), at(0)), [{ run: 4 }])
  // Same for a user pause before the delete.
  const u = new World()
  u.define(scheduled('p'), at(0.5))
  u.control('p', 'pause', at(1.5))
  u.control('p', 'delete', at(2.5))
  u.define(scheduled('p'), at(3.5))
  assert.equal(u.status('p').paused, false)
  assert.deepEqual(u.pass(at(4), at(0)), [{ run: 4 }])
})

test('S-1: a replaced definition (submitted again) takes over from the newest instant accounted for', () => {
  const w = new World()
  w.define(scheduled('r'), at(0.5))
  w.pass(at(1), at(0))
  w.end(w.runKey('r', 1), 'succeeded', at(1.2))
  w.define(scheduled('r', { cron: '*/5 * * * *' }), at(1.5))
  assert.equal(w.rec('r').definitions, 2)
  assert.equal(w.rec('r').spec?.schedule?.cron, '*/5 * * * *')
  assert.deepEqual(w.pass(at(4), at(0)), [])
  assert.deepEqual(w.pass(at(5), at(0)), [{ run: 5 }])
  // An older definition arriving late does not win over the newer one.
  w.define(scheduled('r', { cron: '* * * * *' }), at(1.4), 'U0')
  assert.equal(w.rec('r').spec?.schedule?.cron, '*/5 * * * *')
  assert.equal(w.rec('r').created, at(0.5))
})

test('S-6: catchUp one: instants missed before the master took office give one run, for the newest; the older are skipped as caught-up', () => {
  const w = new World()
  w.define(scheduled('c1'), at(0.5))
  assert.deepEqual(w.pass(at(10.5), at(10.5)), [{ skip: 'caught-up', from: 1, to: 9, count: 9 }, { run: 10 }])
  assert.deepEqual(w.pass(at(10.5), at(10.5)), [])
  assert.match(scheduleView(w.state, w.rec('c1'), at(11))?.skipped[0].why ?? '', /one run stands for all/)
  // Missed and on-time instants in one pass (the master took office at 10.5, passes at 12).
  const w2 = new World()
  w2.define(scheduled('c1', { overlap: 'allow' }), at(0.5))
  assert.deepEqual(w2.pass(at(12), at(10.5)), [{ skip: 'caught-up', from: 1, to: 9, count: 9 }, { run: 10 }, { run: 11 }, { run: 12 }])
})

test('S-6: catchUp none: every missed instant is skipped as missed', () => {
  const w = new World()
  w.define(scheduled('c0', { catchUp: 'none' }), at(0.5))
  assert.deepEqual(w.pass(at(10.5), at(10.5)), [{ skip: 'missed', from: 1, to: 10, count: 10 }])
  assert.deepEqual(w.pass(at(11), at(10.5)), [{ run: 11 }], 'on time after that')
})

test('S-6: an instant at the very moment the master took office is on time, not missed', () => {
  const w = new World()
  w.define(scheduled('edge', { catchUp: 'none', overlap: 'allow' }), at(0.5))
  assert.deepEqual(w.pass(at(10), at(10)), [{ skip: 'missed', from: 1, to: 9, count: 9 }, { run: 10 }])
})

test('S-6: catchUp all: each missed instant runs, oldest first, at most maxCatchUp; older ones are skipped as over-limit', () => {
  const w = new World()
  w.define(scheduled('ca', { catchUp: 'all', maxCatchUp: 3, overlap: 'allow' }), at(0.5))
  assert.deepEqual(w.pass(at(10.5), at(10.5)), [{ skip: 'over-limit', from: 1, to: 7, count: 7 }, { run: 8 }, { run: 9 }, { run: 10 }])
  const keys = w.rec('ca').runs
  assert.deepEqual(keys.map(k => minOf(w.state.requests[k].schedule?.instant ?? 0)), [8, 9, 10], 'submitted oldest first')
  // Within the limit: all of them.
  const w2 = new World()
  w2.define(scheduled('ca', { catchUp: 'all', maxCatchUp: 20, overlap: 'allow' }), at(0.5))
  assert.deepEqual(w2.pass(at(5.5), at(5.5)), [1, 2, 3, 4, 5].map(run => ({ run })))
})

test('S-6: a new master does not redo what the old one decided; it catches up only what nobody decided', () => {
  const w = new World()
  w.define(scheduled('fo', { overlap: 'allow' }), at(0.5))
  assert.deepEqual(w.pass(at(3), at(0), 'M'), [{ run: 1 }, { run: 2 }, { run: 3 }])
  // M dies after minute 3; M2 takes office at 7.5.
  assert.deepEqual(w.pass(at(7.5), at(7.5), 'M2'), [{ skip: 'caught-up', from: 4, to: 6, count: 3 }, { run: 7 }])
  assert.deepEqual(w.pass(at(8), at(7.5), 'M2'), [{ run: 8 }])
  const seen = accounted(w, 'fo', MIN)
  assert.deepEqual([...seen.keys()].sort((a, b) => a - b).map(minOf), [1, 2, 3, 4, 5, 6, 7, 8])
  assert.ok([...seen.values()].every(n => n === 1))
})

for (const policy of ['one', 'none', 'all'] as const) {
  test(`S-6: a gap of more than BATCH instants (per-second cron, catchUp ${policy}) is decided in a few passes, each instant once`, () => {
    const gap = 2 * BATCH + 1000
    const w = new World()
    w.define(scheduled('sec', { cron: '* * * * * *', catchUp: policy, maxCatchUp: 100, overlap: 'allow' }), T0)
    // The master took office half a second after the last of them: all were missed.
    const since = T0 + gap * SEC + 500
    let passes = 0
    while (w.pass(since, since).length > 0) {
      passes++
      assert.ok(passes <= 5, 'a bounded number of passes')
    }
    assert.ok(passes >= 2, 'more than one pass was needed')
    const seen = accounted(w, 'sec', SEC)
    assert.equal(seen.size, gap, 'every instant accounted for')
    for (let k = 1; k <= gap; k++) assert.equal(seen.get(T0 + k * SEC), 1, `instant ${k} once`)
    const runs = Object.keys(w.rec('sec').byInstant).map(Number).sort((a, b) => a - b)
    const rec = w.rec('sec')
    const reasons = new Set(rec.skips.map(s => s.reason))
    if (policy === 'one') {
      assert.deepEqual(runs, [T0 + gap * SEC], 'one run, for the newest')
      assert.deepEqual([...reasons], ['caught-up'])
    } else if (policy === 'none') {
      assert.deepEqual(runs, [])
      assert.deepEqual([...reasons], ['missed'])
    } else {
      assert.deepEqual(runs, Array.from({ length: 100 }, (_, k) => T0 + (gap - 99 + k) * SEC), 'the newest maxCatchUp')
      assert.deepEqual([...reasons], ['over-limit'])
    }
  })
}

test('S-6: a long backlog (a definition that reached the master late) is caught up by policy, not run as if on time (catchUp one and all)', () => {
  // The master took office at +10 s; its first pass is at +2200 s (say the definition reached it
  // late): more instants than one pass looks at; all but the last minute's are more than
  // LATE_LIMIT_MS late, so they count as missed even though a master was in office.
  for (const policy of ['one', 'all'] as const) {
    const w = new World()
    w.define(scheduled('mix', { cron: '* * * * * *', catchUp: policy, maxCatchUp: 100 }), T0)
    const since = T0 + 10.5 * SEC
    const now = T0 + 2200 * SEC
    let passes = 0
    while (w.pass(now, since).length > 0) assert.ok(++passes <= 5)
    const runs = Object.keys(w.rec('mix').byInstant).map(Number).sort((a, b) => a - b)
    const newestLate = now - LATE_LIMIT_MS - SEC
    // one: a single run for the newest late instant; all: its newest 100, of which overlap:
    // skip lets only the first start (the others, and the on-time ones after, are overlaps).
    const expected = policy === 'one' ? [newestLate] : [newestLate - 99 * SEC]
    assert.deepEqual(runs, expected, `${policy}: the late instants are caught up by policy`)
    assert.ok(w.rec('mix').skips.some(sk => sk.reason === 'overlap' && sk.to === now), 'the on-time instants after it overlap the run')
    const seen = accounted(w, 'mix', SEC)
    assert.equal(seen.size, 2200)
    assert.ok([...seen.values()].every(n => n === 1))
  }
})

test('S-6: two runs for one instant (two masters in a partition): the later is a duplicate of the earlier, in any order', () => {
  const w = new World()
  w.define(scheduled('dup', { overlap: 'allow' }), at(0.5))
  const run = (origin: string, ts: number): UnsignedEvent => w.emit(origin, 'submit', { spec: runSpec(scheduled('dup')), owner: 'alice', schedule: { name: 'dup', instant: at(1) } }, ts)
  const first = run('M1', at(1))
  const second = run('M2', at(1) + 5)
  const k1 = `${first.origin}:${first.seq}`
  const k2 = `${second.origin}:${second.seq}`
  // Before either is accepted, the duplicate names the earlier request.
  let runs = scheduleView(w.state, w.rec('dup'), at(2))?.runs ?? []
  assert.deepEqual(runs.map(r => r.duplicateOf), [k1, undefined])
  w.emit('M2', 'accept', { request: k2, id: 'bbbb-1', term: 2, onLost: 'retry', maxLost: 3 }, at(1) + 6)
  w.emit('M1', 'accept', { request: k1, id: 'aaaa-1', term: 1, onLost: 'retry', maxLost: 3 }, at(1) + 7)
  runs = scheduleView(w.state, w.rec('dup'), at(2))?.runs ?? []
  assert.deepEqual(runs.map(r => [r.id, r.duplicateOf]), [['bbbb-1', 'aaaa-1'], ['aaaa-1', undefined]], 'newest first; the later names the earlier')
  assert.equal(joblistView(w.state, w.state.joblists['bbbb-1']).duplicateOf, 'aaaa-1')
  assert.equal(joblistView(w.state, w.state.joblists['aaaa-1']).duplicateOf, undefined)
  assert.deepEqual(joblistView(w.state, w.state.joblists['aaaa-1']).schedule, { name: 'dup', instant: new Date(at(1)).toISOString() })
  assert.deepEqual(w.pass(at(1), at(0)), [], 'the instant is not launched a third time')
  // Any arrival order gives the same answer (M2's events first, each origin in its own order).
  assert.deepEqual(w.events.map(e => `${e.origin}:${e.type}`), ['U:schedule', 'M1:submit', 'M2:submit', 'M2:accept', 'M1:accept'])
  const reversed = reduce([w.events[0], w.events[2], w.events[3], w.events[1], w.events[4]])
  assert.equal(stateHash(reversed), stateHash(w.state))
  assert.equal(joblistView(reversed, reversed.joblists['bbbb-1']).duplicateOf, 'aaaa-1')
  // Same time: the origin decides, the same way everywhere.
  const t = new World()
  t.define(scheduled('dup'), at(0.5))
  const b = t.emit('M2', 'submit', { spec: runSpec(scheduled('dup')), owner: 'alice', schedule: { name: 'dup', instant: at(1) } }, at(1))
  t.emit('M1', 'submit', { spec: runSpec(scheduled('dup')), owner: 'alice', schedule: { name: 'dup', instant: at(1) } }, at(1))
  assert.deepEqual(t.rec('dup').byInstant[String(at(1))], ['M1:1', `M2:${b.seq}`])
})

/** A history with every kind of schedule fact, from several origins (a partition, a conflict, controls). */
function richHistory (): World {
  const w = new World()
  w.define(scheduled('a', { overlap: 'skip' }), at(0.5))
  w.define(scheduled('b', { onFailure: 'continue', overlap: 'allow', cron: '*/2 * * * *' }), at(0.6), 'U2')
  w.pass(at(1), at(0))
  w.end(w.runKey('a', 1), 'succeeded', at(1.2))
  w.pass(at(2), at(0))
  // Run a@2 fails; two executors report its one attempt (the earlier report wins), moving its end.
  const id = w.accept(w.runKey('a', 2), at(2.1))
  w.emit('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: 'N', resources: { slot: ['s0'] }, term: 1 }, at(2.1))
  w.emit('N', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'failed', exitCode: 1, signal: null }, at(2.5))
  w.emit('N2', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'failed', exitCode: 2, signal: null }, at(2.3))
  w.pass(at(3), at(0))
  w.control('a', 'resume', at(3.4))
  w.pass(at(4), at(0))
  w.end(w.runKey('b', 2), 'failed', at(4.1))
  // A second master in a partition launches b@4 again.
  w.emit('M2', 'submit', { spec: runSpec(scheduled('b')), owner: 'alice', schedule: { name: 'b', instant: at(4) } }, at(4) + 50)
  w.emit('M2', 'accept', { request: `M2:${w.events.filter(e => e.origin === 'M2').length}`, id: 'zz-1', term: 2, onLost: 'retry', maxLost: 3 }, at(4) + 60)
  w.control('b', 'pause', at(4.5), 'U2')
  w.pass(at(6), at(0))
  w.control('a', 'delete', at(6.2))
  w.define(scheduled('a'), at(7.5), 'U2')
  w.pass(at(8), at(0))
  w.emit('U', 'ack', { joblistId: id }, at(8.2))
  return w
}

test('S-6: the schedule facts give the same state in any arrival order (each origin in its own order)', () => {
  const w = richHistory()
  const expected = stateHash(w.state)
  const decideLater = (s: ClusterState): RecurrenceDecision[] => recurrences({ state: s, now: at(12), masterSince: at(0) })
  const expectedDecisions = decideLater(w.state)
  assert.ok(expectedDecisions.length > 0, 'the later pass has work to do (a real check)')
  const byOrigin = new Map<string, UnsignedEvent[]>()
  for (const e of w.events) byOrigin.set(e.origin, [...(byOrigin.get(e.origin) ?? []), e])
  assert.ok(byOrigin.size >= 6)
  fc.assert(fc.property(fc.array(fc.nat(), { minLength: w.events.length, maxLength: w.events.length }), picks => {
    const queues = [...byOrigin.values()].map(q => [...q])
    const order: UnsignedEvent[] = []
    for (const p of picks) {
      const live = queues.filter(q => q.length > 0)
      order.push(live[p % live.length].shift() as UnsignedEvent)
    }
    const s = reduce(order)
    assert.equal(stateHash(s), expected)
    assert.deepEqual(decideLater(s), expectedDecisions)
  }), { seed: 9, numRuns: 300 })
})

test('S-6: the status of a failed run is the same whichever report of its end arrives first', () => {
  // Two reports of one attempt: the earlier (by position) wins and sets the end time. A resume
  // between the two end times unpauses the schedule only if the winning end is before it.
  const build = (winnerFirst: boolean): ClusterState => {
    const w = new World()
    w.define(scheduled('x'), at(0.5))
    w.pass(at(1), at(0))
    const id = w.accept(w.runKey('x', 1), at(1.1))
    w.emit('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: 'N', resources: { slot: ['s0'] }, term: 1 }, at(1.1))
    const early = { origin: 'N2', seq: 1, ts: at(1.3), lc: 0, type: 'finished' as const, body: { jobId: `${id}.1`, attempt: 1, state: 'failed' as const, exitCode: 1, signal: null } }
    const late = { origin: 'N', seq: 1, ts: at(1.6), lc: 0, type: 'finished' as const, body: { jobId: `${id}.1`, attempt: 1, state: 'failed' as const, exitCode: 1, signal: null } }
    for (const e of winnerFirst ? [early, late] : [late, early]) apply(w.state, e)
    w.control('x', 'resume', at(1.45))
    return w.state
  }
  const a = build(true)
  const b = build(false)
  assert.equal(a.joblists['m-1'].endedAt, at(1.3))
  assert.equal(b.joblists['m-1'].endedAt, at(1.3))
  assert.equal(scheduleStatus(a, a.schedules.x).paused, false, 'the failure (1.3) is before the resume (1.45)')
  assert.equal(scheduleStatus(b, b.schedules.x).paused, false, 'also when the later report arrived first')
  assert.equal(stateHash(a), stateHash(b))
})
