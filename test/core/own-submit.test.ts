// A submit made on the master carries its accept (issue 12: one event a request, not two):
// the master decides the accept as it writes the submit (acceptOwnSubmit), applies it, places
// the joblist's jobs with it (carryAssigns) and sends the whole event. A peer applying that
// event must reach the master's very state; and the master must decide what a pass would have
// decided for the same request written alone (the same ID, expansion and placement).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { acceptOf, eventKey } from '../../src/events/types.js'
import type { CarriedAssign, SubmitBody, UnsignedEvent } from '../../src/events/types.js'
import { checkEvent } from '../../src/events/check.js'
import { acceptOwnSubmit, schedule, schedulePass } from '../../src/scheduler/schedule.js'
import type { ScheduleInput } from '../../src/scheduler/schedule.js'
import { decisionEvent } from '../../src/scheduler/decision-event.js'
import { apply, carryAssigns } from '../../src/state/reducer.js'
import type { PlaceWithAccept } from '../../src/state/reducer.js'
import type { ClusterState } from '../../src/state/types.js'
import { cloneState } from '../helpers/harness.js'
import { historyOf } from '../../src/state/history.js'
import { eventSubjects } from '../../src/state/subjects.js'
import { touchedBy } from '../../src/export/subjects.js'
import { urgentPeers } from '../../src/cluster/urgency.js'
import { canonicalJson } from '../../src/util/canonical.js'
import { seededRandom } from '../../src/util/seeded-random.js'
import type { JobSpec, JoblistSpec } from '../../src/spec/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const clone = (s: ClusterState): ClusterState => cloneState(s)
const POLICY = { onLost: 'retry' as const, maxLost: 2 }

function input (h: Harness, state: ClusterState, alive: Set<string>): ScheduleInput {
  return { state, now: h.now, self: h.master, selfCode: h.master.toLowerCase(), alive, silent: new Map(), lostAfterMs: 0, policy: POLICY, queue: h.queue }
}

/** The master's placement with an accept (master-role.ts ownSubmit.place): that joblist's assigns. */
const placeOwn = (h: Harness, alive: Set<string>): PlaceWithAccept => (s, accept) => {
  const own = `${accept.body.id}.`
  const out: CarriedAssign[] = []
  for (const d of schedule(input(h, s, alive))) if (d.type === 'assign' && d.jobId.startsWith(own)) out.push({ jobId: d.jobId, attempt: d.attempt, node: d.node, resources: d.resources })
  return out
}

/** The master writes its own submit of `spec` on `state` as the node does: accept decided, applied, jobs placed with it. */
function ownSubmit (h: Harness, state: ClusterState, spec: JoblistSpec, alive: Set<string>, term: number): UnsignedEvent<'submit'> {
  const accept = acceptOwnSubmit({ state, self: h.master, selfCode: h.master.toLowerCase(), alive, policy: POLICY }, spec, term)
  const e: UnsignedEvent<'submit'> = { origin: h.master, seq: (state.applied[h.master] ?? 0) + 1, ts: h.now + 1, lc: 0, type: 'submit', body: { spec, owner: 'tester', accept } }
  apply(state, e)
  carryAssigns(state, e, placeOwn(h, alive))
  return e
}

/** The same request written alone, then accepted by a pass (the accept placing with it, as master-role records it). */
function submitThenPass (h: Harness, state: ClusterState, spec: JoblistSpec, alive: Set<string>, term: number): string {
  const e: UnsignedEvent<'submit'> = { origin: h.master, seq: (state.applied[h.master] ?? 0) + 1, ts: h.now + 1, lc: 0, type: 'submit', body: { spec, owner: 'tester' } }
  apply(state, e)
  const pass = schedulePass(input(h, state, alive))
  const accepts = pass.decisions.filter(d => d.type === 'accept')
  assert.equal(accepts.length, 1, 'the pass accepts the one request waiting')
  const a = decisionEvent(accepts[0], term)
  const ae = { origin: h.master, seq: e.seq + 1, ts: e.ts, lc: 1, type: a.type, body: a.body } as UnsignedEvent<'accept'>
  apply(state, ae)
  carryAssigns(state, ae, placeOwn(h, alive))
  return eventKey(e)
}

function randomCluster (seed: number): { h: Harness, spec: JoblistSpec, alive: Set<string> } {
  const rnd = seededRandom(seed)
  const h = new Harness()
  if (rnd() < 0.4) h.queue = { policy: 'priority', agingPerMinute: 1 }
  h.node('M', {}, 100)
  h.emit('M', 'master', { term: 1 })
  h.node('A', { slot: Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => `s${i}`), ...(rnd() < 0.5 ? { gpu: ['g0'] } : {}) }, 0, ['p'])
  if (rnd() < 0.6) h.node('B', { slot: ['s0', 's1'] }, 0, rnd() < 0.5 ? ['p'] : [])
  const needs = (): JobSpec['needs'] => {
    const r = rnd()
    return r < 0.15 ? {} : r < 0.3 ? { gpu: 1 } : r < 0.4 ? { slot: 2 } : { slot: 1 }
  }
  const target = (): Partial<JobSpec> => {
    const r = rnd()
    return r < 0.1 ? { target: { all: true } } : r < 0.2 ? { target: { profile: 'p' } } : r < 0.25 ? { target: { node: 'B' } } : {}
  }
  const some = (tag: string): JoblistSpec => joblist(tag, Array.from({ length: 1 + Math.floor(rnd() * 2) }, (_, s): [string, JobSpec[]] =>
    [`s${s}`, Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, j) => job(`j${j}`, { needs: needs(), ...target() }))]), { priority: Math.floor(rnd() * 5) })
  // Earlier work, from other nodes: accepted and placed; some of it started or ended.
  for (let i = 0; i < Math.floor(rnd() * 6); i++) h.submit(some(`w${i}`), rnd() < 0.5 ? 'A' : 'M')
  h.settle()
  for (const [jobId, byN] of Object.entries(h.state.attempts)) {
    for (const a of Object.values(byN)) if (a.state === 'assigned' && rnd() < 0.5) h.emit(a.node, 'finished', { jobId, attempt: a.n, state: 'succeeded', exitCode: 0, signal: null })
  }
  h.settle()
  const alive = new Set(Object.keys(h.state.nodes).filter(id => id === 'M' || rnd() < 0.9))
  return { h, spec: some('own'), alive }
}

test('R1-5, R3-5 (issue 12, property): a peer applying the master\'s submit that carries its accept reaches the master\'s very state; the master decided what a pass decides for the request written alone (ID, targets, placement)', () => {
  let placedWith = 0
  let expanded = 0
  for (let seed = 1; seed <= 200; seed++) {
    const { h, spec, alive } = randomCluster(seed)
    assert.equal(h.state.unaccepted.length, 0, 'settled: nothing waits for an accept')
    const master = clone(h.state)
    const e = ownSubmit(h, master, spec, alive, 1)
    const peer = clone(h.state)
    apply(peer, structuredClone(e))
    assert.equal(canonicalJson(peer), canonicalJson(master), `seed ${seed}: the peer's state is the master's`)
    const id = master.requests[eventKey(e)]?.joblistId
    assert.equal(id, e.body.accept?.id, `seed ${seed}: the request is the joblist ${String(e.body.accept?.id)}`)
    assert.ok(!master.unaccepted.includes(eventKey(e)), 'nothing left for a pass to accept')
    // The same request written alone and accepted by a pass.
    const two = clone(h.state)
    const key = submitThenPass(h, two, spec, alive, 1)
    assert.equal(two.requests[key].joblistId, id, `seed ${seed}: the same ID`)
    const jl = master.joblists[id as string]
    const jl2 = two.joblists[id as string]
    assert.deepEqual(jl.stages.map(s => s.jobIds), jl2.stages.map(s => s.jobIds), `seed ${seed}: the same jobs (targets expanded alike)`)
    const held = (s: ClusterState): unknown => jl.stages.flatMap(st => st.jobIds).flatMap(j => s.jobs[j]?.physical ?? [j]).map(j => Object.values(s.attempts[j] ?? {}).map(a => [j, a.n, a.node, a.resources, a.state]))
    assert.deepEqual(held(master), held(two), `seed ${seed}: the same jobs placed, on the same instances`)
    if ((e.body.accept?.assign?.length ?? 0) > 0) placedWith++
    if (e.body.accept?.expand !== undefined) expanded++
  }
  assert.ok(placedWith > 50, `many submits were placed as they were accepted (${placedWith})`)
  assert.ok(expanded > 10, `many had targets expanded (${expanded})`)
})

test('R1-5 (issue 12): a submit carrying its accept is checked as an accept is (its request is the submit itself: none may be given); a malformed one is refused', () => {
  const spec = joblist('x', [['s', [job('a')]]])
  const base = { origin: 'M', seq: 3, ts: 1, lc: 0, sig: 's', type: 'submit' }
  const ok = { id: 'm-1', term: 1, onLost: 'retry', maxLost: 2, assign: [{ jobId: 'm-1.1', attempt: 1, node: 'A', resources: { slot: ['s0'] } }] }
  assert.equal(checkEvent({ ...base, body: { spec, owner: 'o', accept: ok } }), null)
  const bad: Array<[string, unknown]> = [
    ['a request of its own', { ...ok, request: 'A:1' }],
    ['no ID', { ...ok, id: undefined }],
    ['a bad term', { ...ok, term: -1 }],
    ['a bad policy', { ...ok, onLost: 'maybe' }],
    ['an assign of another joblist', { ...ok, assign: [{ jobId: 'm-2.1', attempt: 1, node: 'A', resources: {} }] }],
    ['not an object', 'm-1']
  ]
  for (const [what, accept] of bad) assert.match(checkEvent({ ...base, body: { spec, owner: 'o', accept } }) ?? '', /bad accept carried by a submit/, what)
})

test('R1-5, G-3, G-5 (issue 12): what acts on accepts sees the one a submit carries: its subjects, the history (submitted, accepted, assigned), the export\'s joblists touched, the peers that need it at once', () => {
  const body: SubmitBody = { spec: joblist('x', [['s', [job('a')]]]), owner: 'o', accept: { id: 'm-7', term: 2, onLost: 'retry', maxLost: 2, assign: [{ jobId: 'm-7.1', attempt: 1, node: 'B', resources: { slot: ['s0'] } }] } }
  const e: UnsignedEvent<'submit'> = { origin: 'M', seq: 9, ts: 5, lc: 0, type: 'submit', body }
  const accept = acceptOf(e)
  assert.deepEqual(accept?.body, { request: 'M:9', ...body.accept })
  assert.deepEqual([accept?.origin, accept?.seq, accept?.ts], ['M', 9, 5], 'at the submit\'s place in the log')
  assert.equal(acceptOf({ ...e, body: { spec: body.spec, owner: 'o' } }), undefined, 'a submit alone carries none')
  assert.deepEqual(eventSubjects(e), ['M:9', 'm-7'])
  const lines = historyOf([e], new Set(['m-7']), id => id)
  assert.deepEqual(lines.map(l => [l.type, l.seq]), [['submit', 9], ['accept', 9], ['assign', 9]])
  assert.match(lines[1].text, /accepted as m-7 \(master term 2\)/)
  assert.match(lines[2].text, /job m-7\.1 attempt 1 assigned to B/)
  const t = touchedBy([e])
  assert.deepEqual([...t.ids], ['m-7'])
  assert.equal(t.requests.size, 0, 'its accept is in the same event: nothing to look up')
  const urgent = urgentPeers([{ ...e, sig: '' }], 'M')
  assert.ok(urgent !== 'all' && urgent.has('B'), 'the node assigned a job with it hears at once')
})
