// Property-based tests of the scheduler: random clusters and queues (fast-check, seeded).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Harness, cloneState, job, joblist } from '../helpers/harness.js'
import { place } from '../../src/scheduler/placement.js'
import { planJoblist, waitReasons } from '../../src/scheduler/plan.js'
import { activeJoblists, expandTargets, schedulePass } from '../../src/scheduler/schedule.js'
import { apply } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import type { JoblistSpec } from '../../src/spec/types.js'
import { QueueIndex } from '../../src/scheduler/queue-index.js'
import { orderQueue, servedInOrder } from '../../src/scheduler/queue.js'
import type { QueueOptions } from '../../src/scheduler/queue.js'
import { emptyState } from '../../src/state/types.js'
import type { JoblistRecord } from '../../src/state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../../src/state/types.js'
import { QueueList } from '../../src/state/queue-list.js'

const nodeArb = fc.record({ slots: fc.integer({ min: 0, max: 3 }), gpus: fc.integer({ min: 0, max: 2 }) })
const jobArb = fc.record({ slot: fc.integer({ min: 0, max: 2 }), gpu: fc.integer({ min: 0, max: 2 }) })
const listArb = fc.array(fc.array(jobArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 2 })
const scenarioArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 4 }),
  lists: fc.array(listArb, { minLength: 1, maxLength: 8 }),
  outcomes: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 40, maxLength: 40 })
})

type Scenario = { nodes: Array<{ slots: number, gpus: number }>, lists: Array<Array<Array<{ slot: number, gpu: number }>>>, outcomes: number[] }

function build (s: Scenario): Harness {
  const h = new Harness()
  s.nodes.forEach((n, i) => h.node(`N${i}`, {
    slot: Array.from({ length: n.slots }, (_, k) => `s${k}`),
    gpu: Array.from({ length: n.gpus }, (_, k) => `g${k}`)
  }))
  s.lists.forEach((stages, i) => h.submit(joblist(`jl${i}`, stages.map((jobs, si) => [`st${si}`, jobs.map((j, ji) => job(`j${si}-${ji}`, { needs: { slot: j.slot, gpu: j.gpu } }))]))))
  return h
}

/** No instance is held by two active attempts on one node. */
function checkNoDoubleHold (h: Harness): void {
  const held = new Map<string, string>()
  for (const [jobId, byN] of Object.entries(h.state.attempts)) {
    for (const a of Object.values(byN)) {
      if (!ACTIVE_ATTEMPT_STATES.has(a.state)) continue
      for (const [t, ids] of Object.entries(a.resources)) {
        for (const id of ids) {
          const k = `${a.node}/${t}/${id}`
          assert.equal(held.get(k), undefined, `${k} held by ${held.get(k) ?? ''} and ${jobId}`)
          held.set(k, jobId)
        }
      }
    }
  }
}

/** Run the cluster: schedule, then start/finish attempts as the outcomes say. */
function run (h: Harness, outcomes: number[], each: (h: Harness) => void): void {
  for (const o of outcomes) {
    h.settle()
    each(h)
    for (const [jobId, byN] of Object.entries(h.state.attempts)) {
      for (const a of Object.values(byN)) {
        // Some attempts end at once: their start told with their end (one event, issue 12).
        if (a.state === 'assigned' && (o + a.n + jobId.length) % 4 === 1) h.finishQuick(jobId, o === 0 ? 'failed' : 'succeeded')
        else if (a.state === 'assigned') h.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
        else if (a.state === 'running' && (o + a.n + jobId.length) % 3 !== 0) {
          h.emit(a.node, 'finished', { jobId, attempt: a.n, state: o === 0 ? 'failed' : 'succeeded', exitCode: o === 0 ? 1 : 0, signal: null })
        }
      }
    }
  }
}

test('R3-1/R3-3 (property): no resource instance is ever given to two running jobs at once', () => {
  fc.assert(fc.property(scenarioArb, s => {
    const h = build(s)
    run(h, s.outcomes, checkNoDoubleHold)
  }), { seed: 42, numRuns: 150 })
})

test('R3-5 (property): a later joblist never changes what an earlier joblist gets', () => {
  fc.assert(fc.property(scenarioArb, s => {
    const h = build(s)
    run(h, s.outcomes.slice(0, 12), hh => {
      const queue = activeJoblists(hh.state)
      const input = { state: hh.state, now: hh.now, alive: new Set(Object.keys(hh.state.nodes)), queue: hh.queue }
      const full = place(input, queue)
      for (let k = 0; k < queue.length; k++) {
        const prefix = new Set(queue.slice(0, k + 1).map(j => j.id))
        const alone = place(input, queue.slice(0, k + 1)).assigns
        const inFull = full.assigns.filter(a => prefix.has(hh.state.jobs[a.jobId].joblistId))
        assert.deepEqual(inFull, alone, `joblists up to ${queue[k].id} get the same with or without later ones`)
      }
    })
  }), { seed: 7, numRuns: 120 })
})

/** Minute at which a low-priority joblist first got an attempt, under a stream of higher-priority work. */
function lowStartsAt (gap: number, slots: number, aging: number, horizon: number): number {
  const h = new Harness()
  h.queue = { policy: 'priority', agingPerMinute: aging }
  h.node('A', { slot: Array.from({ length: slots }, (_, i) => `s${i}`) })
  const low = h.submit(joblist('low', [['s', [job('l', { needs: { slot: slots } })]]], { priority: 0 }))
  for (let minute = 0; minute < horizon; minute++) {
    for (let k = 0; k < slots + 1; k++) h.submit(joblist(`high-${minute}-${k}`, [['s', [job('h')]]], { priority: gap }))
    h.settle()
    if (h.state.attempts[`${h.joblistId(low)}.1`] !== undefined) return minute
    h.runAll()
    h.now += 60_000
  }
  return -1
}

test('P-3 (property): with aging, a low-priority joblist starts despite a steady stream of higher-priority work', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 1, max: 3 }), (gap, slots) => {
    const horizon = 2 * gap + 10
    const started = lowStartsAt(gap, slots, 1, horizon)
    assert.ok(started >= 0, `with aging, low priority started within ${horizon} minutes (gap ${gap}, ${slots} slots)`)
    assert.equal(lowStartsAt(gap, slots, 0, horizon), -1, 'without aging the same stream starves it (the control)')
  }), { seed: 3, numRuns: 30 })
})

/** As build, with some jobs targeted (at one node, or at all nodes: physical jobs pinned to a node). */
const targetArb = fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.integer({ min: 0, max: 3 }), fc.constant('all' as const))
const pinnedScenarioArb = fc.record({
  nodes: fc.array(nodeArb, { minLength: 1, maxLength: 4 }),
  lists: fc.array(fc.array(fc.array(fc.record({ slot: fc.integer({ min: 0, max: 2 }), gpu: fc.integer({ min: 0, max: 2 }), target: targetArb }), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 8 }),
  outcomes: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 16, maxLength: 16 })
})

test('R3-5 (property): the master pass, which passes over joblists that cannot be placed, decides what a walk of every job decides', () => {
  fc.assert(fc.property(pinnedScenarioArb, s => {
    const h = build({ nodes: s.nodes, lists: [], outcomes: [] })
    s.lists.forEach((stages, i) => h.submit(joblist(`jl${i}`, stages.map((jobs, si) => [`st${si}`, jobs.map((j, ji) => job(`j${si}-${ji}`, {
      needs: { slot: j.slot, gpu: j.gpu },
      ...(j.target === 'all' ? { target: { all: true } } : j.target !== undefined ? { target: { node: `N${j.target % s.nodes.length}` } } : {})
    }))]))))
    let compared = 0
    run(h, s.outcomes, hh => {
      const queue = activeJoblists(hh.state)
      const nodes = Object.keys(hh.state.nodes)
      // All nodes alive, all but one (pinned jobs wait for it), none.
      for (const alive of [nodes, nodes.slice(1), []]) {
        const input = { state: hh.state, now: hh.now, alive: new Set(alive), queue: hh.queue }
        // explain walks every job of every joblist (it says why each one waits).
        assert.deepEqual(place(input, queue).assigns, place({ ...input, explain: true }, queue).assigns)
        compared++
      }
    })
    assert.ok(compared > 0)
  }), { seed: 12, numRuns: 200 })
})

test('R3-5 / issue 12 (property): why one joblist\'s jobs wait, the walk stopped after it, is what explaining the whole queue says of them', () => {
  let compared = 0
  let shorter = 0
  fc.assert(fc.property(pinnedScenarioArb, fc.constantFrom<QueueOptions['policy']>('fifo', 'priority', 'fairshare'), (s, policy) => {
    const h = build({ nodes: s.nodes, lists: [], outcomes: [] })
    h.queue = { policy, agingPerMinute: 1 }
    s.lists.forEach((stages, i) => h.submit(joblist(`jl${i}`, stages.map((jobs, si) => [`st${si}`, jobs.map((j, ji) => job(`j${si}-${ji}`, {
      needs: { slot: j.slot, gpu: j.gpu },
      ...(j.target === 'all' ? { target: { all: true } } : j.target !== undefined ? { target: { node: `N${j.target % s.nodes.length}` } } : {})
    }))]), { priority: (i * 5) % 3 })))
    run(h, s.outcomes, hh => {
      const nodes = Object.keys(hh.state.nodes)
      for (const alive of [nodes, nodes.slice(1)]) {
        const input = { state: hh.state, now: hh.now, alive: new Set(alive), queue: hh.queue }
        const all = waitReasons(input)
        for (const id of hh.state.queue) {
          const one = waitReasons(input, id)
          const mine = Object.fromEntries(Object.entries(all).filter(([jobId]) => hh.state.jobs[jobId]?.joblistId === id))
          assert.deepEqual(one, mine, `why the jobs of ${id} wait`)
          if (place({ ...input, explainFor: id }).looked < place({ ...input, explain: true }).looked) shorter++
          compared++
        }
      }
    })
  }), { seed: 14, numRuns: 150 })
  assert.ok(compared > 300, `joblists compared: ${compared}`)
  // (The control: many of these walks stopped before the end of the queue.)
  assert.ok(shorter > 100, `walks that stopped at their joblist: ${shorter}`)
})

test('R3-5 / issue 12 (property): a plan says what a plan on a whole copy of the state said, and leaves the state as it was', () => {
  // The plan before Dec 4: the whole state copied deep, the whole queue explained.
  const deepPlan = (input: Parameters<typeof planJoblist>[0], spec: JoblistSpec): ReturnType<typeof planJoblist> => {
    const state = cloneState(input.state)
    const at = Math.max(input.now, state.clock.ts) + 1
    apply(state, { origin: '~plan', seq: 1, ts: at, lc: 0, type: 'submit', body: { spec, owner: 'plan' } })
    const expand = expandTargets(state, '~plan:1', input.alive)
    apply(state, { origin: '~plan', seq: 2, ts: at, lc: 1, type: 'accept', body: { request: '~plan:1', id: 'plan', term: 0, onLost: 'retry', maxLost: 0, ...(expand !== undefined ? { expand } : {}) } })
    const result = place({ ...input, state, explain: true })
    const assigned = new Map(result.assigns.map(a => [a.jobId, a]))
    const jl = state.joblists.plan
    const jobs = jl.stages[0].jobIds.flatMap(logicalId => {
      const logical = state.jobs[logicalId]
      const none = logical.physical !== undefined && logical.physical.length === 0 ? [{ id: logicalId, name: logical.name, node: null, resources: {}, waiting: 'its target matches no node' }] : []
      return [...none, ...(logical.physical ?? [logicalId]).map(id => {
        const a = assigned.get(id)
        return { id, name: state.jobs[id].name, node: a === undefined ? null : state.nodes[a.node]?.name ?? a.node, resources: a?.resources ?? {}, waiting: a === undefined ? result.waiting[id] ?? 'waits for an earlier stage' : null }
      })]
    })
    return { stage: jl.stages[0].name, jobs }
  }
  let planned = 0
  fc.assert(fc.property(pinnedScenarioArb, fc.constantFrom<QueueOptions['policy']>('fifo', 'priority', 'fairshare'), (s, policy) => {
    const h = build({ nodes: s.nodes, lists: [], outcomes: [] })
    h.queue = { policy, agingPerMinute: 1 }
    const specOf = (stages: typeof s.lists[number], i: number): JoblistSpec => joblist(`jl${i}`, stages.map((jobs, si) => [`st${si}`, jobs.map((j, ji) => job(`j${si}-${ji}`, {
      needs: { slot: j.slot, gpu: j.gpu },
      ...(j.target === 'all' ? { target: { all: true } } : j.target !== undefined ? { target: { node: `N${j.target % s.nodes.length}` } } : {})
    }))]), { priority: (i * 5) % 3 })
    s.lists.forEach((stages, i) => h.submit(specOf(stages, i)))
    run(h, s.outcomes.slice(0, 12), hh => {
      const nodes = Object.keys(hh.state.nodes)
      const input = { state: hh.state, now: hh.now, alive: new Set(nodes), queue: hh.queue }
      const before = JSON.stringify(hh.state)
      const hash = stateHash(hh.state)
      for (const [i, stages] of s.lists.entries()) {
        const spec = specOf(stages, i)
        assert.deepEqual(planJoblist(input, spec), deepPlan(input, spec), `the plan of jl${i}`)
        planned++
      }
      assert.equal(JSON.stringify(hh.state), before, 'the state is as it was')
      assert.equal(stateHash(hh.state), hash)
    })
  }), { seed: 15, numRuns: 60 })
  assert.ok(planned > 300, `plans compared: ${planned}`)
})

/** The master's index of the harness's queue, kept as its events apply (as the node keeps it). */
function keptIndex (h: Harness): QueueIndex {
  const index = new QueueIndex()
  index.view(h.state)
  h.applied = ids => index.update(h.state, ids)
  return index
}

test('R3-5 / issue 12 (property): with the master\'s index of the queue (kept as events apply), a pass decides what a walk of the whole queue decides', () => {
  let stoppedEarly = 0
  fc.assert(fc.property(pinnedScenarioArb, fc.constantFrom<QueueOptions['policy']>('fifo', 'priority', 'fairshare'), (s, policy) => {
    const h = build({ nodes: s.nodes, lists: [], outcomes: [] })
    h.queue = { policy, agingPerMinute: 1 }
    const index = keptIndex(h)
    h.index = index
    s.lists.forEach((stages, i) => h.submit(joblist(`jl${i}`, stages.map((jobs, si) => [`st${si}`, jobs.map((j, ji) => job(`j${si}-${ji}`, {
      needs: { slot: j.slot, gpu: j.gpu },
      ...(j.target === 'all' ? { target: { all: true } } : j.target !== undefined ? { target: { node: `N${j.target % s.nodes.length}` } } : {})
    }))]), { priority: (i * 7) % 3 })))
    let compared = 0
    run(h, s.outcomes, hh => {
      assert.deepEqual(index.differences(hh.state), [], 'the index kept as events apply is what a recount says')
      const nodes = Object.keys(hh.state.nodes)
      for (const alive of [nodes, nodes.slice(1), []]) {
        const input = { state: hh.state, now: hh.now, self: 'M', selfCode: 'm', alive: new Set(alive), policy: { onLost: 'retry' as const, maxLost: 2 }, queue: hh.queue, silent: new Map(nodes.slice(0, 1).map(n => [n, Infinity])) }
        const walked = schedulePass(input)
        const indexed = schedulePass({ ...input, index })
        assert.deepEqual(indexed, walked)
        compared++
        const placeInput = { state: hh.state, now: hh.now, alive: input.alive, queue: hh.queue }
        if (place({ ...placeInput, index }).looked < place(placeInput).looked) stoppedEarly++
      }
      checkNoDoubleHold(hh)
    })
    assert.ok(compared > 0)
  }), { seed: 13, numRuns: 200 })
  // (The control that the stop is there to be checked: many of these passes end before the queue does.)
  assert.ok(stoppedEarly > 100, `indexed passes that stopped before the end of the queue: ${stoppedEarly}`)
})

test('issue 12: with the index, a pass over a saturated cluster does not look at the joblists queued behind the first that waits', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const index = keptIndex(h)
  for (let i = 0; i < 50; i++) h.submit(joblist(`jl${i}`, [['s', [job('j')]]]))
  h.settle()
  assert.equal(Object.keys(h.state.attempts).length, 2, 'two jobs run, 48 joblists wait')
  assert.deepEqual([...index.running].sort(), ['m-1', 'm-2'])
  assert.deepEqual([...index.kinds], [['slot:1', 48]], 'the jobs waiting, by kind of need')
  // The last joblist of the queue can no longer be read: a pass that reaches it throws.
  const last = h.state.queue.at(-1) as string
  Object.defineProperty(h.state.joblists, last, { get () { throw new Error(`the pass looked at ${last}`) } })
  const input = { state: h.state, now: h.now, self: 'M', selfCode: 'm', alive: new Set(['A']), policy: { onLost: 'retry' as const, maxLost: 2 }, queue: h.queue }
  assert.deepEqual(schedulePass({ ...input, index }).decisions, [])
  assert.throws(() => schedulePass(input), /the pass looked at m-50/, 'without the index the pass walks the whole queue (the control)')
})

test('issue 12: with the index, a pass stops once the kinds of need waiting are blocked, though something else is free (an ended stage\'s kind is not counted)', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'], gpu: ['g0'] })
  const index = keptIndex(h)
  // A pipeline: build on the GPU, then test on the slot.
  h.submit(joblist('pipeline', [['build', [job('b', { needs: { gpu: 1 } })]], ['test', [job('t', { needs: { slot: 1 } })]]]))
  h.settle()
  h.finishQuick('m-1.1', 'succeeded')
  h.settle()
  assert.equal(h.state.attempts['m-1.2']?.['1']?.state, 'assigned', 'the test stage holds the slot')
  for (let i = 0; i < 20; i++) h.submit(joblist(`jl${i}`, [['s', [job('j')]]]))
  h.settle()
  assert.deepEqual([...index.kinds], [['slot:1', 20]], 'only what waits now is counted (not the build stage\'s gpu:1)')
  const last = h.state.queue.at(-1) as string
  Object.defineProperty(h.state.joblists, last, { get () { throw new Error(`the pass looked at ${last}`) } })
  const input = { state: h.state, now: h.now, self: 'M', selfCode: 'm', alive: new Set(['A']), policy: { onLost: 'retry' as const, maxLost: 2 }, queue: h.queue }
  assert.deepEqual(schedulePass({ ...input, index }).decisions, [], 'the GPU is free, and nothing waiting needs it')
  assert.throws(() => schedulePass(input), /the pass looked at m-21/, 'without the index the pass walks the whole queue (the control)')
})

test('issue 12: the index\'s audit tells a joblist it was not told of', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'], gpu: ['g0'] })
  const index = new QueueIndex()
  index.view(h.state)
  h.submit(joblist('a', [['s', [job('j')]]]))
  h.submit(joblist('b', [['s', [job('j')]]]))
  h.settle()
  // Not told: the joblists were accepted, one runs and one waits, and the index knows neither.
  assert.deepEqual(index.differences(h.state), ['running "m-1": indexed false, in the state true', 'kind "slot:1": indexed undefined, in the state 1'])
  index.update(h.state, ['m-1', 'm-2'])
  assert.deepEqual(index.differences(h.state), [])
})

test('D-4 / issue 12 (property): the queue served one joblist at a time (a heap) comes in exactly the order of the policy\'s sort', () => {
  const entry = fc.record({ priority: fc.integer({ min: -3, max: 3 }), accepted: fc.integer({ min: -5, max: 5 }), ts: fc.integer({ min: 0, max: 4 }), seq: fc.integer({ min: 1, max: 1000 }) })
  fc.assert(fc.property(fc.array(entry, { maxLength: 60 }), fc.constantFrom(0, 0.5, 1, 3), fc.constantFrom<QueueOptions['policy']>('fifo', 'priority'), (entries, aging, policy) => {
    const now = 10 * 60_000
    const state = emptyState()
    state.queue = QueueList.from(entries.map((x, i) => {
      const id = `m-${i}`
      // Accepted a whole number of minutes apart (exact ties of effective priority), some in the future (a master's clock behind).
      state.joblists[id] = { id, priority: x.priority, acceptedAt: now + x.accepted * 60_000, position: [x.ts, 0, 'm', x.seq * 1000 + i], owner: 'o' } as unknown as JoblistRecord
      return id
    }))
    const o: QueueOptions = { policy, agingPerMinute: aging }
    const sorted = orderQueue(state.queue.map(id => state.joblists[id]), now, o, state).map(jl => jl.id)
    const next = servedInOrder(state, now, o)
    const served: string[] = []
    for (let jl = next(); jl !== undefined; jl = next()) served.push(jl.id)
    assert.deepEqual(served, sorted)
  }), { seed: 21, numRuns: 500 })
})
