import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

function scenario (): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  h.node('B', { slot: ['s0'] })
  const r1 = h.submit(joblist('one', [['s1', [job('a'), job('b')]], ['s2', [job('c')]]]), 'A')
  h.submit(joblist('two', [['s1', [job('x', { retries: 1 })]]]), 'B')
  h.settle()
  h.runAll()
  h.settle()
  const r3 = h.submit(joblist('three', [['s1', [job('q')]]]), 'B')
  h.settle()
  h.finishQuick(`${h.joblistId(r3)}.1`)
  h.settle()
  h.runAll('failed')
  h.settle()
  h.runAll()
  h.settle()
  h.emit('B', 'stop', { joblistId: h.joblistId(r1) })
  h.settle()
  return h
}

/** Shuffle events but keep each origin's own order (what replication guarantees). */
function shufflePerOrigin (events: UnsignedEvent[], seed: number): UnsignedEvent[] {
  let s = seed
  const rand = (): number => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s / 0x7fffffff }
  const queues = new Map<string, UnsignedEvent[]>()
  for (const e of events) { const q = queues.get(e.origin) ?? []; q.push(e); queues.set(e.origin, q) }
  const out: UnsignedEvent[] = []
  while (out.length < events.length) {
    const live = [...queues.values()].filter(q => q.length > 0)
    out.push(live[Math.floor(rand() * live.length)].shift() as UnsignedEvent)
  }
  return out
}

test('R1-5/R1-7: the same events in any cross-origin order give the same state and hash', () => {
  const h = scenario()
  const expected = stateHash(h.state)
  assert.equal(stateHash(reduce(h.events)), expected, 'replaying gives the same state')
  for (let seed = 1; seed <= 25; seed++) {
    const shuffled = shufflePerOrigin(h.events, seed)
    assert.equal(stateHash(reduce(shuffled)), expected, `order with seed ${seed}`)
  }
})

test('reducer: an event seen twice is applied once', () => {
  const h = scenario()
  const doubled = h.events.flatMap(e => [e, e])
  assert.equal(stateHash(reduce(doubled)), stateHash(h.state))
})

test('reducer: the state hash changes when a fact changes', () => {
  const h = scenario()
  const before = stateHash(h.state)
  h.emit('A', 'node', { name: 'A', priority: 5, profiles: [], resources: { slot: ['s0'] }, api: '', addresses: [], version: 't' })
  assert.notEqual(stateHash(h.state), before)
})

test('R1-6: two masters accepting one request (a healing partition) resolve the same way in any order', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('twice', [['s', [job('x')]]]), 'A')
  const first = h.emit('M1', 'accept', { request: req, id: 'aaaa-1', term: 1, onLost: 'retry', maxLost: 3 })
  const second = h.emit('M2', 'accept', { request: req, id: 'bbbb-1', term: 2, onLost: 'retry', maxLost: 3 })
  const forward = reduce(h.events)
  const backward = reduce([h.events[0], h.events[1], second, first])
  assert.equal(stateHash(forward), stateHash(backward))
  assert.deepEqual(Object.keys(forward.joblists), ['aaaa-1'], 'the earlier accept wins')
  assert.equal(forward.aliases['bbbb-1'], 'aaaa-1', 'the other ID is an alias')
  assert.equal(Object.keys(forward.jobs).length, 1)
})

/** Two nodes and one single-job joblist placed on A: the start of the conflict scenarios. */
function twoNodesOneJob (): { h: Harness, req: string, jobId: string } {
  const h = new Harness()
  h.node('A', { slot: ['a0'] })
  h.node('B', { slot: ['b0'] })
  const req = h.submit(joblist('x', [['s', [job('j')]]]), 'A')
  h.settle(['A', 'M'])
  return { h, req, jobId: `${h.joblistId(req)}.1` }
}

test('R1-6: two masters assigning the same attempt resolve the same way in any order, counted as a conflict', () => {
  const { h, req, jobId } = twoNodesOneJob()
  h.start(jobId)
  const other = h.emit('M2', 'assign', { jobId, attempt: 1, node: 'B', resources: { slot: ['b0'] }, term: 2 })
  h.finish(jobId)
  const forward = reduce(h.events)
  const moved = h.events.filter(e => e !== other)
  const i = moved.findIndex(e => e.type === 'assign')
  moved.splice(i, 0, other)
  const backward = reduce(moved)
  assert.equal(stateHash(forward), stateHash(backward))
  const a = forward.attempts[jobId][1]
  assert.equal(a.node, 'A', 'the earlier assign wins')
  assert.equal(a.ranOn, 'A')
  assert.equal(a.conflicts, 1)
  assert.equal(forward.joblists[h.joblistId(req)].state, 'succeeded')
})

test('regression (chaos seed 3): two executors reporting one attempt give the same "ran on" in any order', () => {
  const { h, jobId } = twoNodesOneJob()
  h.emit('A', 'started', { jobId, attempt: 1, pid: 1 })
  h.emit('B', 'started', { jobId, attempt: 1, pid: 2 })
  h.emit('B', 'finished', { jobId, attempt: 1, state: 'lost', exitCode: null, signal: null, reason: 'refused' })
  h.emit('A', 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
  const orders = [h.events, [...h.events].reverse().filter(e => e.type !== 'node' && e.type !== 'submit').concat(h.events.filter(e => e.type === 'node' || e.type === 'submit')).reverse()]
  const hashes = new Set<string>()
  for (const order of orders) {
    // Keep each origin's own order: sort stably by (origin, seq) within the shuffled list.
    const byOrigin = new Map<string, typeof order>()
    for (const e of order) byOrigin.set(e.origin, [...(byOrigin.get(e.origin) ?? []), e].sort((x, y) => x.seq - y.seq))
    const interleaved = [...byOrigin.values()].flat()
    const st = reduce(interleaved)
    hashes.add(stateHash(st))
    assert.equal(st.attempts[jobId][1].ranOn, 'B', 'the earliest finished fact decides who ran it')
  }
  assert.equal(hashes.size, 1)
})

test('R1-5 (issue 12): a short job\'s start told with its end (one finished event) is the same attempt as a started and a finished', () => {
  const one = twoNodesOneJob()
  const two = twoNodesOneJob()
  const a = one.h.attempt(one.jobId)
  one.h.now += 1
  const at = one.h.now
  one.h.emit(a.node, 'finished', { jobId: one.jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, started: { at, pid: 7 } })
  two.h.now = at - 1
  const s = two.h.emit(a.node, 'started', { jobId: two.jobId, attempt: 1, pid: 7 })
  two.h.emit(a.node, 'finished', { jobId: two.jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
  assert.equal(s.ts, at, 'the started event has the time the merged start has')
  const [x, y] = [one.h.state.attempts[one.jobId][1], two.h.state.attempts[two.jobId][1]]
  assert.equal(x.state, 'succeeded')
  assert.equal(x.startedAt, y.startedAt)
  assert.equal(x.pid, 7)
  assert.equal(x.ranOn, y.ranOn)
  assert.equal(one.h.state.joblists[one.h.joblistId(one.req)].state, 'succeeded')
})

test('R1-5 (issue 12): a start told with an end, and another executor\'s own reports of the attempt, resolve the same way in any order', () => {
  const { h, jobId } = twoNodesOneJob()
  h.now += 1
  h.emit('A', 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, started: { at: h.now, pid: 1 } })
  h.emit('B', 'started', { jobId, attempt: 1, pid: 2 })
  h.emit('B', 'finished', { jobId, attempt: 1, state: 'lost', exitCode: null, signal: null, reason: 'refused' })
  const hashes = new Set<string>()
  const pids = new Set<number | undefined>()
  for (let seed = 1; seed <= 10; seed++) {
    const st = reduce(shufflePerOrigin(h.events, seed))
    hashes.add(stateHash(st))
    pids.add(st.attempts[jobId][1].pid)
  }
  assert.equal(hashes.size, 1)
  assert.deepEqual([...pids], [1], 'the earliest start fact wins, told alone or with its end')
  assert.equal(h.state.attempts[jobId][1].ranOn, 'A')
})

test('R1-5/R1-6 (issue 12): an accept carrying an assign is the same as an accept and an assign, and resolves with another master\'s assign in any order', () => {
  const build = (carry: boolean): Harness => {
    const h = new Harness()
    h.node('A', { slot: ['a0'] })
    h.node('B', { slot: ['b0'] })
    const req = h.submit(joblist('x', [['s', [job('j')]]]), 'A')
    const a = { jobId: 'm-1.1', attempt: 1, node: 'A', resources: { slot: ['a0'] } }
    if (carry) h.emit('M', 'accept', { request: req, id: 'm-1', term: 1, onLost: 'retry', maxLost: 1, assign: [a] })
    else {
      h.emit('M', 'accept', { request: req, id: 'm-1', term: 1, onLost: 'retry', maxLost: 1 })
      h.emit('M', 'assign', { ...a, term: 1 })
    }
    h.emit('M2', 'assign', { jobId: 'm-1.1', attempt: 1, node: 'B', resources: { slot: ['b0'] }, term: 2 })
    return h
  }
  const carried = build(true)
  const apart = build(false)
  for (const h of [carried, apart]) {
    const a = h.state.attempts['m-1.1'][1]
    assert.equal(a.node, 'A', 'the earlier assign wins')
    assert.equal(a.conflicts, 1)
  }
  const hashes = new Set<string>()
  for (let seed = 1; seed <= 10; seed++) {
    const st = reduce(shufflePerOrigin(carried.events, seed))
    hashes.add(stateHash(st))
    assert.equal(st.attempts['m-1.1'][1].node, 'A')
    assert.equal(st.attempts['m-1.1'][1].term, 1)
  }
  assert.equal(hashes.size, 1)
  assert.equal(carried.state.joblists['m-1'].state, apart.state.joblists['m-1'].state)
})
