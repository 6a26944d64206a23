// Issue 12: the membership of a large cluster (src/cluster/membership.ts). Over LARGE_CLUSTER
// nodes the timeout grows by the gossip rounds a beat takes; a batch to a neighbour carries
// this node's beat and every beat learned since the last batch to it, not the rest; a fresher
// beat counts, an older one does not; a down notice takes a node out until a beat newer than
// the notice comes; a notice about oneself asks for a refutation; malformed input is dropped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { LARGE_CLUSTER, Membership, gossipRounds } from '../../src/cluster/membership.js'
import type { Beat } from '../../src/cluster/membership.js'

function member (self: string): { m: Membership, clock: { now: number }, changes: () => number } {
  const clock = { now: 1000 }
  let changes = 0
  const m = new Membership({ self, log: pino({ level: 'silent' }), now: () => clock.now, heartbeatIntervalMs: 200, timeoutMs: 800, changed: () => { changes++ } })
  return { m, clock, changes: () => changes }
}
const beat = (id: string, ts: number, master = false): Beat => ({ id, name: id, priority: 0, ts, ...(master ? { master: true } : {}) })

test('R1-1 (issue 12): a large cluster\'s timeout grows by the gossip rounds; a small one keeps the configured timeout', () => {
  const { m } = member('a')
  assert.equal(m.sized(LARGE_CLUSTER), false)
  assert.equal(m.timeout, 800)
  assert.equal(m.sized(1000), true)
  assert.equal(m.timeout, 800 + gossipRounds(1000) * 200)
  assert.ok(gossipRounds(1000) >= 7 && gossipRounds(1000) <= 8, `rounds at 1,000: ${gossipRounds(1000)}`)
})

test('R1-5 (issue 12): beats: fresher ones count and are passed on once to each neighbour; older ones do not; status changes are reported', () => {
  const { m, clock } = member('a')
  m.sized(100)
  const own = beat('a', 5000)
  assert.deepEqual(m.mergeBeats([beat('b', 100), beat('c', 100)], 'b').map(b => b.id), ['b', 'c'], 'two nodes came: both news')
  assert.equal(m.isAlive('b'), true)
  assert.deepEqual(m.beatsFor('x', own).map(b => b.id), ['a', 'b', 'c'])
  assert.deepEqual(m.beatsFor('x', own).map(b => b.id), ['a'], 'nothing new since the last batch to x')
  assert.deepEqual(m.beatsFor('b', own).map(b => b.id), ['a', 'c'], 'never a node\'s own beat back to it')
  assert.deepEqual(m.mergeBeats([beat('b', 101)], 'c'), [], 'fresher, no status change: not forwarded at once')
  assert.deepEqual(m.beatsFor('x', own).map(b => b.id), ['a', 'b'], 'but in the next batch')
  m.mergeBeats([beat('b', 99)], 'c')
  assert.deepEqual(m.beatsFor('x', own).map(b => b.id), ['a'], 'an older beat is nothing new')
  assert.deepEqual(m.mergeBeats([beat('b', 102, true)], 'c').map(b => b.id), ['b'], 'claiming the office is a status change')
  // Silent past the (grown) timeout: not alive.
  clock.now += m.timeout + 1
  assert.equal(m.isAlive('b'), false)
})

test('R1-3 (issue 12): a down notice takes a node out at once until a beat newer than it; one about this node asks for a refutation', () => {
  const { m, clock } = member('a')
  m.sized(100)
  m.mergeBeats([beat('b', 100), beat('c', 100)], 'c')
  assert.equal(m.downNotice({ id: 'b', ts: 150 }, 'c'), true, 'news: forward it')
  assert.equal(m.isAlive('b'), false)
  assert.equal(m.downNotice({ id: 'b', ts: 150 }, 'd'), false, 'the same notice again: not news')
  clock.now += 10
  m.mergeBeats([beat('b', 140)], 'c')
  assert.equal(m.isAlive('b'), false, 'a beat from before the notice (relayed late) does not revive it')
  assert.equal(m.downNotice({ id: 'c', ts: 90 }, 'd'), false, 'a notice older than the last beat is stale')
  assert.equal(m.isAlive('c'), true)
  m.mergeBeats([beat('b', 160)], 'c')
  assert.equal(m.isAlive('b'), true, 'a beat after the notice: it is back')
  assert.equal(m.downNotice({ id: 'a', ts: 200 }, 'c'), 'self')
  m.disconnected('c') // (the mesh tells both: the connection closed, then spreads the notice)
  const notice = m.downOf('c')
  assert.equal(notice.id, 'c')
  m.mergeBeats([beat('c', notice.ts - 1)], 'b')
  assert.equal(m.isAlive('c'), false, 'after our own notice about c, only a newer beat revives it')
})

test('R1-5 (issue 12): malformed beats and notices are dropped; the rest of the batch counts', () => {
  const { m } = member('a')
  m.sized(100)
  assert.deepEqual(m.mergeBeats('nope', 'b'), [])
  assert.deepEqual(m.mergeBeats([{ id: 5 }, null, beat('b', 1), { id: 'c', name: 'c', priority: 0, ts: Infinity }], 'b').map(b => b.id), ['b'])
  assert.equal(m.downNotice({ id: 'b' }, 'c'), false)
  assert.equal(m.downNotice(null, 'c'), false)
  assert.equal(m.isAlive('b'), true)
})
