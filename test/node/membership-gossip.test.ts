// Issue 12: the membership of a large cluster (src/cluster/membership.ts). Over LARGE_CLUSTER
// nodes a node is alive until a down notice (no beat of it needs to come by); each node watches
// its successors on the ring of nodes alive in its view, probes one gone silent and holds it
// down when the probe is not answered; a fresher beat counts, an older one does not; a down
// notice takes a node out until a beat newer than the notice comes; a notice about oneself
// asks for a refutation; a node that hears nothing is isolated (every other not alive, no one
// held down by it); malformed input is dropped.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { LARGE_CLUSTER, Membership, PROBE_ROUNDS, WATCHERS } from '../../src/cluster/membership.js'
import type { Beat } from '../../src/cluster/membership.js'

function member (self: string): { m: Membership, clock: { now: number }, changes: () => number } {
  const clock = { now: 1000 }
  let changes = 0
  const m = new Membership({ self, log: pino({ level: 'silent' }), now: () => clock.now, heartbeatIntervalMs: 200, timeoutMs: 800, changed: () => { changes++ } })
  return { m, clock, changes: () => changes }
}
const beat = (id: string, ts: number, master = false): Beat => ({ id, name: id, priority: 0, ts, ...(master ? { master: true } : {}) })

test('R1-1 (issue 12): a large cluster\'s nodes are alive until a notice, its timeout adds the probe; a small one keeps the configured timeout', () => {
  const { m, clock } = member('a')
  assert.equal(m.sized(LARGE_CLUSTER), false)
  assert.equal(m.timeout, 800)
  m.mergeBeats([beat('s', 100)], 's')
  clock.now += 801
  assert.equal(m.isAlive('s'), false, 'small: silent past the timeout')
  assert.equal(m.sized(1000), true)
  assert.equal(m.timeout, 800 + PROBE_ROUNDS * 200)
  assert.equal(m.isAlive('s'), false, 'past the timeout when the cluster grew: held down, not revived')
  m.mergeBeats([beat('b', 100)], 'b')
  clock.now += 60_000
  m.heardFrom()
  assert.equal(m.isAlive('b'), true, 'not watched here: alive until a notice, however long it is not heard')
  assert.equal(m.isAlive('s'), false)
})

test('R1-5 (issue 12): beats: fresher ones count, older ones do not; status changes are reported; a new neighbour gets this node\'s beat and those of the nodes alive here', () => {
  const { m } = member('a')
  m.sized(100)
  const own = beat('a', 5000)
  assert.deepEqual(m.mergeBeats([beat('b', 100), beat('c', 100), beat('d', 100)], 'b').map(b => b.id), ['b', 'c', 'd'], 'three nodes came: news')
  assert.equal(m.isAlive('b'), true)
  assert.deepEqual(m.mergeBeats([beat('b', 101)], 'c'), [], 'fresher, no status change: not forwarded')
  assert.deepEqual(m.mergeBeats([beat('b', 102, true)], 'c').map(b => b.id), ['b'], 'claiming the office is a status change')
  assert.deepEqual(m.mergeBeats([beat('b', 99, false)], 'c'), [], 'an older beat is nothing new')
  m.downNotice({ id: 'd', ts: 200 }, 'c')
  assert.deepEqual(m.beatsFor('c', own), [own, beat('b', 102, true)], 'its own first, never the peer\'s back, not a node held down')
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
  // Held down by a notice long after its last beat: silent for about a timeout, not since the beat (its attempts wait for lostAfter).
  clock.now += 600_000
  m.heardFrom()
  m.downNotice({ id: 'b', ts: clock.now }, 'c')
  const silent = m.silence(['b']).get('b') as number
  assert.ok(silent >= m.timeout && silent < m.timeout + 1000, `silent ${silent} ms`)
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

const ring = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']

test('R1-1, R1-3 (issue 12): each node watches its successors on the ring; a silent one is probed, then held down, and the ring moves on', () => {
  const { m, clock } = member('c')
  m.sized(100)
  m.mergeBeats(ring.filter(id => id !== 'c').map(id => beat(id, 100)), 'a')
  const first = m.watch()
  assert.equal(WATCHERS, 2)
  assert.deepEqual(first.start, ['d', 'e'], `the next ${WATCHERS} after c`)
  assert.deepEqual(m.watch().start, [], 'no change, no new watch')
  // d and e fall silent.
  for (let t = 0; t < 5; t++) { clock.now += 200; m.heardFrom() } // (others' messages: c itself is not cut off)
  const second = m.watch()
  assert.deepEqual(second.probe, ['d', 'e'], 'silent past the timeout: probed')
  assert.deepEqual(second.vouch, [{ id: 'd', helpers: ['b'] }, { id: 'e', helpers: ['d'] }], 'the other watcher of each is asked whether it hears it')
  assert.deepEqual(second.down, [])
  clock.now += 10
  m.mergeBeats([beat('d', 301)], 'd'); m.heardFrom() // d answers the probe
  clock.now += 190
  assert.deepEqual(m.watch().probe, ['e'], 'e is asked again each interval (a lost probe or answer is no death)')
  clock.now += PROBE_ROUNDS * 200 - 200
  m.mergeBeats([beat('d', 302)], 'd'); m.heardFrom()
  const third = m.watch()
  assert.deepEqual(third.down.map(d => d.id), ['e'], 'e did not answer: held down, a notice to flood')
  assert.equal(m.isAlive('e'), false)
  assert.equal(m.isAlive('d'), true)
  const fourth = m.watch()
  assert.deepEqual(fourth.start, ['f'], 'the ring closes over e')
  assert.deepEqual(m.watched().sort(), ['d', 'f'])
})

test('R1-3 (issue 12): a node that hears nothing for the timeout is isolated: every other node not alive, no one held down by it; hearing again ends it', () => {
  const { m, clock } = member('c')
  m.sized(100)
  m.mergeBeats(ring.filter(id => id !== 'c').map(id => beat(id, 100)), 'a')
  m.heardFrom()
  m.watch()
  clock.now += m.timeout + 1
  assert.deepEqual([...m.alive()], ['c'], 'isolated: only itself')
  assert.equal(m.isAlive('d'), false)
  const silent = m.silence(['d', 'h'])
  assert.equal(silent.get('d'), m.timeout + 1, 'silent since it last heard anything')
  clock.now += 5000
  const r = m.watch()
  assert.deepEqual([r.probe, r.down], [[], []], 'an isolated node probes and downs no one')
  m.heardFrom()
  assert.equal(m.isAlive('d'), true, 'heard again: the others are alive again')
  assert.equal(m.alive().size, ring.length)
})

test('R1-5 (issue 12): watch requests: a node beats to the peers that asked (a bounded number), not after they stop or their connection closes', () => {
  const { m } = member('a')
  m.sized(100)
  for (let i = 0; i < 20; i++) m.watchedBy(`w${i}`)
  assert.equal(m.watchersOf().length, 4 * WATCHERS, 'bounded')
  m.unwatchedBy('w0')
  m.disconnected('w1')
  assert.equal(m.watchersOf().includes('w0'), false)
  assert.equal(m.watchersOf().includes('w1'), false)
  m.watchedBy('w15')
  assert.equal(m.watchersOf().includes('w15'), true, 'room again')
})
