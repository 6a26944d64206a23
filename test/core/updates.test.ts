// D-1: changing queued work. `update` events change a joblist's priority and tags; per field
// the update with the highest (ts, lc, origin, seq) position wins, in any arrival order, and
// the scheduler serves the new priority at once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** Every order of the events that keeps each origin's own order (what replication guarantees). */
function interleavings (events: UnsignedEvent[]): UnsignedEvent[][] {
  const byOrigin = new Map<string, UnsignedEvent[]>()
  for (const e of events) byOrigin.set(e.origin, [...(byOrigin.get(e.origin) ?? []), e])
  const queues = [...byOrigin.values()]
  const out: UnsignedEvent[][] = []
  const walk = (idx: number[], acc: UnsignedEvent[]): void => {
    if (acc.length === events.length) { out.push(acc); return }
    queues.forEach((q, i) => { if (idx[i] < q.length) walk(idx.map((n, k) => k === i ? n + 1 : n), [...acc, q[idx[i]]]) })
  }
  walk(queues.map(() => 0), [])
  return out
}

test('D-1: updates of a joblist give the same state in any order; per field the highest position wins', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('tune', [['s', [job('x')]]], { priority: 3, tags: ['orig'] }), 'A')
  h.settle()
  const id = h.joblistId(req)
  // Hand-made clocks: B's priority change has the highest ts; A's tags change the highest
  // position among tag changes (same ts as C's, higher lc).
  const ev = (origin: string, seq: number, ts: number, lc: number, body: { priority?: number, tags?: string[] }): UnsignedEvent<'update'> =>
    ({ origin, seq, ts, lc, type: 'update', body: { joblistId: id, ...body } })
  const updates = [
    ev('U1', 1, 5000, 0, { priority: 10 }),
    ev('U1', 2, 5100, 1, { tags: ['a-wins'], priority: 20 }),
    ev('U2', 1, 5200, 0, { priority: 30 }),
    ev('U3', 1, 5100, 0, { tags: ['c-loses'] }),
    ev('U3', 2, 5050, 0, { priority: -5 }) // a later seq of U3 with an older clock: still loses on ts
  ]
  const base = h.events.slice()
  const orders = interleavings(updates)
  const expected = reduce([...base, ...updates])
  const jl = expected.joblists[id]
  assert.equal(jl.priority, 30, 'the priority of the update with the highest ts')
  assert.deepEqual(jl.tags, ['a-wins'], 'the tags of the update with the highest (ts, lc)')
  const hash = stateHash(expected)
  assert.ok(orders.length > 20, `${orders.length} orders`)
  for (const order of orders) {
    assert.equal(stateHash(reduce([...base, ...order])), hash, 'updates after the accept')
    // Updates that arrive before the submit and the accept they refer to.
    assert.equal(stateHash(reduce([...order, ...base])), hash, 'updates before the joblist exists')
  }
})

test('D-1: ties in ts and lc are broken by origin, then seq; a field an update leaves out keeps its value', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('tie', [['s', [job('x')]]], { priority: 1, tags: ['keep'] }), 'A')
  h.settle()
  const id = h.joblistId(req)
  const x: UnsignedEvent<'update'> = { origin: 'X', seq: 1, ts: 9000, lc: 4, type: 'update', body: { joblistId: id, priority: 7 } }
  const y: UnsignedEvent<'update'> = { origin: 'Y', seq: 1, ts: 9000, lc: 4, type: 'update', body: { joblistId: id, priority: 8 } }
  for (const order of [[x, y], [y, x]]) {
    const s = reduce([...h.events, ...order])
    assert.equal(s.joblists[id].priority, 8, 'origin Y > X')
    assert.deepEqual(s.joblists[id].tags, ['keep'], 'tags were not part of any update')
  }
  // Without updates the spec's values stand; an empty tag list is a change.
  assert.equal(h.state.joblists[id].priority, 1)
  const cleared = reduce([...h.events, { origin: 'Z', seq: 1, ts: 9999, lc: 0, type: 'update', body: { joblistId: id, tags: [] } }])
  assert.deepEqual(cleared.joblists[id].tags, [])
})

test('D-1: an update naming the ID of a losing accept (an alias) changes the winning joblist, in any order', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('twice', [['s', [job('x')]]]), 'A')
  const first = h.emit('M1', 'accept', { request: req, id: 'aaaa-1', term: 1, onLost: 'retry', maxLost: 3 })
  const second = h.emit('M2', 'accept', { request: req, id: 'bbbb-1', term: 2, onLost: 'retry', maxLost: 3 })
  const upd = h.emit('U', 'update', { joblistId: 'bbbb-1', priority: 42, tags: ['via-alias'] })
  const [node, submit] = h.events
  const orders = [
    [node, submit, first, second, upd],
    [node, submit, second, upd, first], // the update named the winner-to-be while it was the only joblist
    [upd, node, submit, second, first],
    [node, submit, first, upd, second]
  ]
  const hashes = new Set(orders.map(o => stateHash(reduce(o))))
  assert.equal(hashes.size, 1)
  const s = reduce(orders[1])
  assert.deepEqual(Object.keys(s.joblists), ['aaaa-1'])
  assert.equal(s.joblists['aaaa-1'].priority, 42)
  assert.deepEqual(s.joblists['aaaa-1'].tags, ['via-alias'])
})

test('D-1/D-4: the scheduler serves a changed priority at once (priority policy)', () => {
  const h = new Harness()
  h.queue = { policy: 'priority', agingPerMinute: 0 }
  h.node('A', { slot: ['s0'] })
  const r1 = h.submit(joblist('first', [['s', [job('x')]]]), 'A')
  h.settle()
  const r2 = h.submit(joblist('second', [['s', [job('x')]]], { priority: 5 }), 'A')
  const r3 = h.submit(joblist('third', [['s', [job('x')]]], { priority: 1 }), 'A')
  h.settle()
  const [j1, j2, j3] = [r1, r2, r3].map(r => h.joblistId(r))
  assert.equal(h.state.joblists[j1].state, 'running')
  assert.equal(h.state.joblists[j2].state, 'queued')
  // Without a change `second` (priority 5) would be next; raise `third` above it.
  h.emit('U', 'update', { joblistId: j3, priority: 50 })
  assert.equal(h.state.joblists[j3].priority, 50)
  h.runAll()
  const assigned = h.assigns(h.settle()).map(d => d.jobId)
  assert.deepEqual(assigned, [`${j3}.1`], 'third runs before second')
  assert.equal(h.state.attempts[`${j2}.1`], undefined)
})
