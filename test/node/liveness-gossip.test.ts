// Issue 12 (R1-1, R1-5): the wiring of a large cluster's liveness gossip
// (src/cluster/liveness-gossip.ts), which the agent's mesh and the simulator both run. A small
// cluster broadcasts heartbeats; a large one beats only to the nodes that asked to watch it,
// asks its ring successors to beat to it (dialling them if need be), floods a down notice for
// a watched node that does not answer, gives a new neighbour every beat it knows at once,
// floods a down notice on a close that was not a prune, never prunes the ring's links, dials
// more at once when a close leaves it below the target, and relays peers' events in batches.
// Replication's anti-entropy dials one known node it does not hear each round, even at the
// target (the sides of a healed partition).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { LivenessGossip } from '../../src/cluster/liveness-gossip.js'
import type { MembershipMessage } from '../../src/cluster/liveness-gossip.js'
import { Membership, PROBE_ROUNDS, TARGET_PEERS } from '../../src/cluster/membership.js'
import type { Heartbeat } from '../../src/cluster/membership.js'
import { Replication } from '../../src/cluster/replication.js'
import type { CisEvent } from '../../src/events/types.js'

const silent = pino({ level: 'silent' })

function setup (peers: string[], known: string[] = peers, replicationTimers?: Array<{ ms: number, fn: () => void }>): {
  g: LivenessGossip, m: Membership, sent: Array<{ to: string, msg: MembershipMessage }>, broadcasts: Heartbeat[], dialled: string[], published: CisEvent[][], timers: Array<() => void>, links: { peers: string[] }, hangUps: string[], clock: { now: number }
} {
  const clock = { now: 10_000 }
  const m = new Membership({ self: 'me', log: silent, now: () => clock.now, heartbeatIntervalMs: 200, timeoutMs: 800, changed: () => {} })
  const links = { peers }
  const dialled: string[] = []
  const published: CisEvent[][] = []
  const r: Replication = new Replication({
    self: 'me',
    log: silent,
    eventsTopic: 'events',
    bootstrap: [],
    vector: () => ({}),
    receive: () => {},
    eventsAfter: async function * () {},
    skip: () => {},
    proof: () => {},
    gapProof: async () => undefined,
    knownPeers: () => known.map(id => ({ id, addresses: [] })),
    pick: () => 0,
    targetPeers: (): number | undefined => g.large ? TARGET_PEERS : undefined,
    hears: id => m.isAlive(id),
    ...(replicationTimers !== undefined ? { dialSpreadMs: 2000, heldDown: (id: string) => m.heldDown(id), after: (ms: number, fn: () => void) => { replicationTimers.push({ ms, fn }) }, pick: (n: number) => Math.min(n - 1, 1234) } : {})
  }, {
    publishRaw: async (_topic, json) => { published.push(JSON.parse(`[${json.startsWith('[') ? json.slice(1, -1) : json}]`)) },
    request: async () => {},
    connectedPeers: () => links.peers,
    dial: async peer => { dialled.push(peer) },
    dialAddr: async () => {}
  })
  r.publishEvents = (events: CisEvent[]) => { published.push(events) }
  const sent: Array<{ to: string, msg: MembershipMessage }> = []
  const broadcasts: Heartbeat[] = []
  const timers: Array<() => void> = []
  const hangUps: string[] = []
  const g: LivenessGossip = new LivenessGossip(m, r, {
    peers: () => links.peers,
    send: (to, msg) => { sent.push({ to, msg }) },
    broadcast: hb => { broadcasts.push(hb) },
    hangUp: (peer, notice) => { sent.push({ to: peer, msg: notice }); hangUps.push(peer) },
    dial: peer => { dialled.push(peer) },
    after: (_ms, fn) => { timers.push(fn) },
    pick: () => 0
  })
  return { g, m, sent, broadcasts, dialled, published, timers, links, hangUps, clock }
}

/** Run the timers set so far, and those they set, in order (bounded). */
function drain (t: { timers: Array<() => void> }): void {
  for (let i = 0; i < 100 && t.timers.length > 0; i++) t.timers.splice(0, 1)[0]()
  assert.equal(t.timers.length, 0, 'the timers settle')
}
const downIds = (msg: MembershipMessage): string[] => ((msg.downs ?? []) as Array<{ id: string }>).map(d => d.id)

const hb = (ts: number): Heartbeat => ({ id: 'me', name: 'me', priority: 1, vector: { me: 3, x: 4 }, ts, master: false })
const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`)

test('R1-1 issue 12: up to 16 nodes the heartbeat goes to every peer; above, the beat goes only to the nodes that asked to watch this one, and a watch request is answered at once', () => {
  const small = setup(names(5))
  small.g.beat(hb(1), 6)
  assert.equal(small.broadcasts.length, 1)
  assert.equal(small.sent.length, 0)
  const big = setup(names(20))
  big.g.size(100)
  big.g.beat(hb(1), 100) // (the first beat after the switch gives the neighbours their beats: the last test)
  assert.equal(big.sent.filter(s => s.msg.beats !== undefined && s.msg.watch !== true).length, 20, 'the switch seen by size() is not lost')
  big.sent.length = 0
  big.g.beat(hb(1), 100)
  assert.equal(big.g.large, true)
  assert.equal(big.broadcasts.length, 0)
  assert.equal(big.sent.filter(s => s.msg.beats !== undefined).length, 0, 'no one asked yet')
  big.g.message({ cis: 'membership', watch: true }, 'p03', () => hb(2))
  big.g.message({ cis: 'membership', watch: true }, 'p07', () => hb(2))
  assert.deepEqual(big.sent.map(s => [s.to, (s.msg.beats as Array<{ ts: number }>)[0].ts]), [['p03', 2], ['p07', 2]], 'answered at once')
  big.sent.length = 0
  big.g.beat(hb(3), 100)
  assert.equal(big.sent.filter(s => s.msg.beats !== undefined).length, 0, 'the round beats to no one (beatWatchers does, on its own timer)')
  big.g.beatWatchers(hb(3))
  const beats = big.sent.filter(s => s.msg.beats !== undefined)
  assert.deepEqual(beats.map(s => s.to), ['p03', 'p07'], 'to its watchers, nobody else')
  for (const s of beats) {
    assert.deepEqual((s.msg.beats as Array<{ id: string }>).map(b => b.id), ['me'], 'only its own beat')
    assert.equal(s.msg.sum, 7, 'the sum of the version vector')
  }
})

test('R1-1 issue 12: a watched node beats to its watchers every second heartbeat interval (two beats still fit in the timeout); with a timeout under four intervals, every interval', () => {
  // (mesh-core.ts arms beatWatchers every beatEvery intervals: test/node/mesh-beats.test.ts.)
  for (const [timeoutMs, every] of [[800, 2], [600, 1], [2000, 2], [300, 1]]) {
    const m = new Membership({ self: 'me', log: silent, now: () => 0, heartbeatIntervalMs: 200, timeoutMs, changed: () => {} })
    assert.equal(m.beatEvery, every, `timeout ${timeoutMs} ms`)
  }
  const m = new Membership({ self: 'me', log: silent, now: () => 0, heartbeatIntervalMs: 200, timeoutMs: 2000, beatEvery: 3, changed: () => {} })
  assert.equal(m.beatEvery, 3, 'the option, where it fits')
  const tight = new Membership({ self: 'me', log: silent, now: () => 0, heartbeatIntervalMs: 200, timeoutMs: 1000, beatEvery: 3, changed: () => {} })
  assert.equal(tight.beatEvery, 2, 'not where two beats would not fit in the timeout')
  // A small cluster's node has no watchers to beat to.
  const t = setup(names(5))
  t.g.size(4)
  t.g.beatWatchers(hb(1))
  assert.equal(t.sent.length, 0)
})

test('R1-1, R1-3 issue 12: a large cluster\'s node asks its ring successors to beat to it (dialling one it is not connected to); one that cannot be reached is held down after the probe and a notice floods', async () => {
  const t = setup(['mf', 'x1'])
  t.g.size(100)
  // Alive here: ma..mh; its WATCHERS (2) successors are mf (connected) and mg (not connected: dialled, and the dial fails).
  t.m.mergeBeats(['ma', 'mb', 'mc', 'md', 'mf', 'mg', 'mh'].map(id => ({ id, name: id, priority: 0, ts: 5 })), 'mf')
  t.g.beat(hb(1), 100)
  assert.deepEqual(t.sent.filter(s => s.msg.watch === true).map(s => s.to), ['mf'])
  assert.deepEqual(t.dialled, ['mg'])
  await new Promise(resolve => setImmediate(resolve)) // (the dial's outcome)
  t.sent.length = 0
  t.clock.now += PROBE_ROUNDS * 200
  t.m.mergeBeats([{ id: 'mf', name: 'mf', priority: 0, ts: 6 }], 'mf')
  t.m.heardFrom()
  t.g.beat(hb(2), 100)
  drain(t)
  const downs = t.sent.filter(s => s.msg.downs !== undefined)
  assert.deepEqual([...new Set(downs.flatMap(s => downIds(s.msg)))], ['mg'], 'mg held down')
  assert.deepEqual(downs.map(s => s.to), ['mf', 'x1'], 'the notice to every neighbour')
  assert.equal(t.m.isAlive('mg'), false)
  assert.equal(t.m.isAlive('mf'), true)
})

test('R1-5 issue 12: a new neighbour of a large cluster gets this node\'s beat and the beats of every node alive here at once, with a watch request if this node watches it', () => {
  const t = setup(names(10))
  t.g.size(100)
  t.m.mergeBeats([{ id: 'a', name: 'a', priority: 0, ts: 5 }, { id: 'b', name: 'b', priority: 0, ts: 5 }], 'p00')
  t.g.connected('p09', hb(2))
  assert.equal(t.sent.length, 1)
  assert.equal(t.sent[0].to, 'p09')
  assert.deepEqual((t.sent[0].msg.beats as Array<{ id: string }>).map(b => b.id), ['me', 'a', 'b'])
  assert.equal(t.sent[0].msg.watch, undefined)
  t.g.beat(hb(3), 100) // watches a and b now (its successors: 'me' sorts after them, so the ring wraps)
  t.sent.length = 0
  t.g.connected('a', hb(4))
  assert.equal(t.sent[0].msg.watch, true, 'a is watched here: asked to beat')
  const small = setup(names(3))
  small.g.size(4)
  small.g.connected('p00', hb(2))
  assert.equal(small.sent.length, 0, 'a small cluster has heartbeats for that')
})

test('R1-1 issue 12: a close floods a down notice, a prune does not; a close that leaves fewer than the target neighbours dials more at once', () => {
  const t = setup(names(30), [...names(30), ...names(60).slice(30)])
  t.g.size(60)
  t.g.message({ cis: 'membership', watch: true }, 'p05', () => hb(1))
  t.g.prune()
  assert.equal(t.hangUps.length, 30 - 2 * TARGET_PEERS, 'pruned down to twice the target')
  assert.equal(t.hangUps.includes('p05'), false, 'never a watcher (pick() is 0: without the ring p00..p13 go)')
  assert.ok(t.sent.filter(s => s.msg.prune === true).length === t.hangUps.length, 'each told first')
  // The pruned peers' closes: no down notice, no dial (still at the target).
  t.links.peers = names(30).filter(p => !t.hangUps.includes(p))
  t.sent.length = 0
  for (const p of t.hangUps) assert.equal(t.g.disconnected(p), false)
  drain(t)
  assert.equal(t.sent.length, 0, 'no notice for a prune')
  assert.equal(t.dialled.length, 0)
  // Neighbours close until fewer than the target are left: a notice each, and dials at once up to the target.
  const left = [...t.links.peers]
  while (t.links.peers.length >= TARGET_PEERS) {
    const gone = t.links.peers.pop() as string
    assert.equal(t.g.disconnected(gone), true)
  }
  drain(t)
  assert.ok(t.sent.some(s => downIds(s.msg).includes(left[left.length - 1])), 'a down notice')
  assert.equal(t.dialled.length, TARGET_PEERS - t.links.peers.length, 'dialled up to the target at once')
})

test('R1-1, R1-5 issue 12: a flood goes out at once; what comes within FLOOD_MS after goes in one message a neighbour (the newest of each, not back to where it came from); malformed notices are dropped', () => {
  const t = setup(['n1', 'n2', 'n3'])
  t.g.size(100)
  t.m.mergeBeats(['a', 'b', 'c', 'd'].map(id => ({ id, name: id, priority: 0, ts: 5 })), 'n1')
  drain(t)
  t.sent.length = 0
  // One notice (in the form older nodes send): out at the next tick to the two other neighbours.
  t.g.message({ cis: 'membership', down: { id: 'a', ts: 10 } }, 'n1', () => hb(1))
  assert.equal(t.sent.length, 0)
  assert.equal(t.timers.length, 1)
  t.timers.splice(0, 1)[0]()
  assert.deepEqual(t.sent.map(s => [s.to, downIds(s.msg)]), [['n2', ['a']], ['n3', ['a']]])
  t.sent.length = 0
  // Within FLOOD_MS: three more notices from two neighbours (one twice, one stale), then one message each.
  t.g.message({ cis: 'membership', downs: [{ id: 'b', ts: 10 }, { id: 'a', ts: 9 }] }, 'n1', () => hb(1))
  t.g.message({ cis: 'membership', downs: [{ id: 'c', ts: 10 }, { id: 'b', ts: 10 }] }, 'n2', () => hb(1))
  t.g.message({ cis: 'membership', downs: [{ id: 'd', ts: 11, junk: 'x'.repeat(1000) }] }, 'n2', () => hb(1))
  assert.equal(t.sent.length, 0, 'cooling: nothing yet')
  drain(t)
  assert.equal(JSON.stringify(t.sent).includes('junk'), false, 'only what a notice is goes on')
  assert.deepEqual(t.sent.map(s => [s.to, downIds(s.msg).sort()]), [['n1', ['c', 'd']], ['n2', ['b']], ['n3', ['b', 'c', 'd']]])
  for (const id of ['a', 'b', 'c', 'd']) assert.equal(t.m.isAlive(id), false)
  // Hostile input: not an array, too many, not a notice: dropped, the node goes on.
  t.sent.length = 0
  t.g.message({ cis: 'membership', downs: 'x' }, 'n1', () => hb(1))
  t.g.message({ cis: 'membership', downs: Array.from({ length: 20_001 }, () => ({ id: 'e', ts: 1 })) }, 'n1', () => hb(1))
  t.g.message({ cis: 'membership', downs: [null, { id: 7 }, { id: 'e', ts: 'x' }] }, 'n1', () => hb(1))
  drain(t)
  assert.equal(t.sent.length, 0, 'nothing flooded')
  // A notice about this node itself: refuted with its beat to every neighbour.
  t.g.message({ cis: 'membership', downs: [{ id: 'me', ts: 50 }] }, 'n1', () => hb(60))
  drain(t)
  assert.deepEqual(t.sent.map(s => [s.to, (s.msg.beats as Array<{ id: string, ts: number }>).map(b => `${b.id}@${b.ts}`)]), [['n1', ['me@60']], ['n2', ['me@60']], ['n3', ['me@60']]])
  // After stop, nothing floods.
  t.sent.length = 0
  t.g.message({ cis: 'membership', downs: [{ id: 'x9', ts: 70 }] }, 'n1', () => hb(70))
  t.g.stop()
  drain(t)
  assert.equal(t.sent.length, 0)
})

test('R1-1, R1-3 issue 12: a node back from isolation asks a neighbour for the notices it missed, and holds those nodes down (a node alive until a notice would otherwise stay alive there)', () => {
  const beat = (id: string, ts: number): { id: string, name: string, priority: number, ts: number } => ({ id, name: id, priority: 0, ts })
  // The neighbour n1: it holds 'a' down (a notice came while 'me' was cut off), 'b' alive.
  const n1 = setup(['me', 'n2'])
  n1.g.size(100)
  n1.m.mergeBeats([beat('a', 5), beat('b', 5)], 'n2')
  n1.g.message({ cis: 'membership', downs: [{ id: 'a', ts: 11_000 }] }, 'n2', () => hb(1))
  drain(n1)
  // 'me': a, b alive; then nothing heard for longer than the timeout and the probe: isolated.
  const t = setup(['n1', 'n2', 'n3'])
  t.g.size(100)
  t.m.mergeBeats([beat('a', 5), beat('b', 5)], 'n1')
  t.g.message({ cis: 'membership', beats: [beat('n1', 6)] }, 'n1', () => hb(1))
  drain(t)
  t.sent.length = 0
  assert.equal(t.sent.some(s => s.msg.sync === true), false)
  t.clock.now += t.m.timeout + 1
  assert.deepEqual([...t.m.alive()], ['me'], 'isolated: only itself')
  // Back: the first message heard asks its sender for what it missed, once.
  t.g.message({ cis: 'membership', beats: [beat('n1', 7)] }, 'n1', () => hb(2))
  t.g.message({ cis: 'membership', beats: [beat('n1', 8)] }, 'n1', () => hb(2))
  assert.deepEqual(t.sent.filter(s => s.msg.sync === true).map(s => s.to), ['n1'])
  assert.equal(t.m.isAlive('a'), true, 'a is alive here until a notice')
  // n1 answers with the notices it holds (about nodes down there only).
  n1.sent.length = 0
  n1.g.message({ cis: 'membership', sync: true }, 'me', () => hb(3))
  const answer = n1.sent.filter(s => s.to === 'me' && s.msg.downs !== undefined)
  assert.deepEqual(answer.map(s => downIds(s.msg)), [['a']])
  // 'me' takes it as any notice: a held down, and the news goes on to its other neighbours.
  t.sent.length = 0
  t.g.message(answer[0].msg, 'n1', () => hb(4))
  drain(t)
  assert.equal(t.m.isAlive('a'), false)
  assert.equal(t.m.isAlive('b'), true)
  assert.deepEqual(t.sent.filter(s => s.msg.downs !== undefined).map(s => s.to), ['n2', 'n3'])
})

test('R1-1, R1-3 issue 12: a watched node silent here is probed indirectly too (its other watchers are asked whether they hear it); one they vouch for is not held down (one bad link is no death)', () => {
  const beat = (id: string, ts: number): { id: string, name: string, priority: number, ts: number } => ({ id, name: id, priority: 0, ts })
  // Ring here: a1 a2 me t1 t2: 'me' watches t1 t2 (WATCHERS: 2); t1's other watcher is a2.
  const t = setup(['a1', 'a2', 't1', 't2'])
  t.g.size(100)
  t.m.mergeBeats(['a1', 'a2', 't1', 't2'].map(id => beat(id, 5)), 'a1')
  t.g.beat(hb(1), 100)
  drain(t)
  assert.deepEqual(t.sent.filter(s => s.msg.watch === true).map(s => s.to), ['t1', 't2'])
  const fresh = (ts: number): void => { t.m.mergeBeats([beat('t2', ts)], 't2'); t.m.heardFrom() }
  // t1 goes silent here (its link to 'me' is cut): probed, and a2 asked to vouch.
  t.sent.length = 0
  t.clock.now += 801
  fresh(6)
  t.g.beat(hb(2), 100)
  assert.deepEqual(t.sent.filter(s => s.msg.watch === true).map(s => s.to), ['t1'], 'probed directly')
  assert.deepEqual(t.sent.filter(s => s.msg.vouchFor !== undefined).map(s => [s.to, s.msg.vouchFor]), [['a2', 't1']], 'and indirectly')
  // a2 hears t1: it answers with t1's beat (a round trip later). Past the probe, t1 is not held down.
  t.clock.now += 1
  t.g.message({ cis: 'membership', beats: [beat('t1', 7)] }, 'a2', () => hb(3))
  for (let k = 0; k < PROBE_ROUNDS; k++) { t.clock.now += 200; fresh(7 + k); t.g.beat(hb(4 + k), 100) }
  drain(t)
  assert.equal(t.m.isAlive('t1'), true)
  assert.equal(t.sent.some(s => downIds(s.msg).includes('t1')), false, 'no notice')
  // No one vouches: held down after the probe.
  t.sent.length = 0
  for (let k = 0; k < 12; k++) { t.clock.now += 200; fresh(20 + k); t.g.beat(hb(20 + k), 100) }
  drain(t)
  assert.equal(t.m.isAlive('t1'), false)
  assert.ok(t.sent.some(s => downIds(s.msg).includes('t1')), 'a notice')

  // The helper's side: it vouches with its latest beat of the node only if it heard it within the timeout.
  const h = setup(['me', 't1'])
  h.g.size(100)
  h.m.mergeBeats([beat('t1', 9)], 't1')
  h.g.message({ cis: 'membership', vouchFor: 't1' }, 'me', () => hb(1))
  assert.deepEqual(h.sent.map(s => [s.to, (s.msg.beats as Array<{ id: string, ts: number }>).map(b => `${b.id}@${b.ts}`)]), [['me', ['t1@9']]])
  h.sent.length = 0
  h.g.message({ cis: 'membership', vouchFor: ['t1'] }, 'me', () => hb(1))
  h.g.message({ cis: 'membership', vouchFor: 'nobody' }, 'me', () => hb(1))
  h.clock.now += 801
  h.g.message({ cis: 'membership', vouchFor: 't1' }, 'me', () => hb(1))
  assert.equal(h.sent.length, 0, 'not heard lately, unknown, or malformed: no answer')
})

test('R1-1, R1-3: in a small cluster a peer silent past half the timeout is asked about (two other peers: do you hear it?); one heard lately elsewhere stays alive here (one bad link is no death), a dead one does not, a closed connection is not overruled', () => {
  const hbOf = (id: string, ts: number): Heartbeat => ({ id, name: id, priority: 0, vector: {}, ts, master: false })
  const t = setup(names(4))
  t.g.size(5)
  const hearAll = (ts: number, except: string[] = []): void => { for (const p of names(4)) if (!except.includes(p)) t.g.heartbeat(hbOf(p, ts), p) }
  hearAll(1)
  t.g.beat(hb(1), 5)
  assert.equal(t.sent.length, 0, 'everyone heard: no one asked about')
  // p00 is heard no more here; the others are.
  t.clock.now += 401
  hearAll(2, ['p00'])
  t.g.beat(hb(2), 5)
  const asks = t.sent.filter(s => s.msg.vouchFor !== undefined)
  assert.deepEqual(asks.map(s => [s.to, s.msg.vouchFor]), [['p01', 'p00'], ['p02', 'p00']], 'two others asked (pick() is 0)')
  // p01 heard it 30 ms ago: alive here past the timeout.
  t.g.message({ cis: 'membership', vouch: { id: 'p00', ageMs: 30 } }, 'p01', () => hb(3))
  t.clock.now += 500
  hearAll(3, ['p00'])
  assert.equal(t.m.isAlive('p00'), true, 'vouched for: alive 901 ms after it was last heard here')
  // No one vouches again: not alive once the timeout passes since the vouched moment.
  t.clock.now += 400
  hearAll(4, ['p00'])
  assert.equal(t.m.isAlive('p00'), false)
  // Hostile or odd answers change nothing and do not throw.
  for (const vouch of [null, 'x', { id: 'p00', ageMs: -5 }, { id: 'p00', ageMs: 'soon' }, { id: 7, ageMs: 1 }, { id: 'nobody', ageMs: 1 }]) t.g.message({ cis: 'membership', vouch }, 'p01', () => hb(5))
  assert.equal(t.m.isAlive('p00'), false)
  // A late answer brings it back (heard elsewhere 10 ms ago); a closed connection is not overruled.
  t.g.message({ cis: 'membership', vouch: { id: 'p00', ageMs: 10 } }, 'p02', () => hb(5))
  assert.equal(t.m.isAlive('p00'), true)
  t.g.disconnected('p03')
  t.g.message({ cis: 'membership', vouch: { id: 'p03', ageMs: 0 } }, 'p01', () => hb(5))
  assert.equal(t.m.isAlive('p03'), false, 'its connection here closed: held down')

  // The helper's side: how long ago it heard the peer, only within the timeout.
  const h = setup(['me2', 'p00'])
  h.g.size(3)
  h.g.heartbeat(hbOf('p00', 1), 'p00')
  h.clock.now += 120
  h.g.message({ cis: 'membership', vouchFor: 'p00' }, 'me2', () => hb(1))
  assert.deepEqual(h.sent.map(s => [s.to, s.msg.vouch]), [['me2', { id: 'p00', ageMs: 120 }]])
  h.sent.length = 0
  h.clock.now += 700
  h.g.message({ cis: 'membership', vouchFor: 'p00' }, 'me2', () => hb(1))
  h.g.message({ cis: 'membership', vouchFor: { id: 'p00' } }, 'me2', () => hb(1))
  assert.equal(h.sent.length, 0, 'not heard within the timeout, or malformed: no answer')
})

test('R1-5 issue 12: peers\' events are relayed in a large cluster, those of a few ms in one message; not in a small one', () => {
  const e = (seq: number): CisEvent => ({ origin: 'x', seq, ts: 1, lc: 0, type: 'ack', body: { ids: [] }, sig: 's' }) as unknown as CisEvent
  const small = setup(names(3))
  small.g.size(4)
  small.g.relay([e(1)])
  assert.equal(small.timers.length, 0)
  const t = setup(names(10))
  t.g.size(100)
  t.g.relay([e(1)])
  t.g.relay([e(2), e(3)])
  assert.equal(t.timers.length, 1, 'one timer for the batch')
  t.timers[0]()
  assert.deepEqual(t.published.map(b => b.map(x => x.seq)), [[1, 2, 3]])
  t.g.stop()
  t.g.relay([e(4)])
  t.timers[1]()
  assert.equal(t.published.length, 1, 'nothing after stop')
})

test('R1-1 issue 12: at the target, anti-entropy still dials one known node this node does not hear (a healed partition)', () => {
  const known = names(40)
  const t = setup(names(20), known)
  t.g.size(40)
  // It hears p00..p19 (connected) and p20..p29; not p30..p39 (the other side).
  t.m.mergeBeats(names(30).map(id => ({ id, name: id, priority: 0, ts: 5 })), 'p00')
  ;(t.g as unknown as { replication: Replication }).replication.antiEntropy()
  assert.equal(t.dialled.length, 1, 'one dial a round')
  assert.ok(names(40).slice(30).includes(t.dialled[0]), `an unheard node: ${t.dialled[0]}`)
})

test('R1-1 issue 12: with a spread, that dial waits a random part of it, and is not made if the node was heard or connected meanwhile (every node\'s rounds fall on a few instants: all dialled a node back from a silent cut at once)', () => {
  const known = names(40)
  const timers: Array<{ ms: number, fn: () => void }> = []
  const t = setup(names(20), known, timers)
  t.g.size(40)
  t.m.mergeBeats(names(40).map(id => ({ id, name: id, priority: 0, ts: 5 })), 'p00')
  const r = (t.g as unknown as { replication: Replication }).replication
  t.m.mergeBeats([{ id: 'p38', name: 'p38', priority: 0, ts: 6 }], 'p00')
  assert.equal(t.m.downNotice({ id: 'p39', ts: 6 }, 'p00'), true) // p39 held down (a notice): unheard
  r.antiEntropy()
  assert.deepEqual(t.dialled, [], 'not at once')
  assert.deepEqual(timers.map(x => x.ms), [1234], 'a random moment of the spread')
  timers[0].fn()
  assert.deepEqual(t.dialled, ['p39'], 'then the unheard node')
  r.antiEntropy()
  t.m.mergeBeats([{ id: 'p39', name: 'p39', priority: 0, ts: 7 }], 'p00') // heard meanwhile (another node reached it)
  timers[1].fn()
  assert.deepEqual(t.dialled, ['p39'], 'heard meanwhile: no dial')
  // A known node never heard here (a cluster forming): dialled at once.
  const fresh = setup(names(20), [...names(20), 'q1'], timers)
  fresh.g.size(40)
  fresh.m.mergeBeats(names(20).map(id => ({ id, name: id, priority: 0, ts: 5 })), 'p00')
  ;(fresh.g as unknown as { replication: Replication }).replication.antiEntropy()
  assert.deepEqual(fresh.dialled, ['q1'], 'never heard: at once')
})

test('R1-5 issue 12: every sync interval a large cluster\'s node gives its beat to one random neighbour (a node some peers never heard of becomes news); a small one does not', () => {
  const t = setup(names(10))
  t.g.size(100)
  t.g.refresh(hb(9))
  assert.equal(t.sent.length, 1)
  assert.deepEqual((t.sent[0].msg.beats as Array<{ id: string, ts: number }>).map(b => [b.id, b.ts]), [['me', 9]])
  const small = setup(names(3))
  small.g.size(4)
  small.g.refresh(hb(9))
  assert.equal(small.sent.length, 0)
})

test('R1-5 issue 12: a node that grows large gives every neighbour what a new connection gets, once', () => {
  const t = setup(names(4))
  t.m.heard({ ...hb(1), id: 'p00', name: 'p00' }, 'p00')
  t.g.beat(hb(2), 10)
  assert.equal(t.broadcasts.length, 1, 'small: a heartbeat')
  t.g.beat(hb(3), 100)
  const full = t.sent.filter(s => Array.isArray(s.msg.beats) && (s.msg.beats as unknown[]).length > 0 && s.msg.watch === undefined)
  assert.deepEqual(full.map(s => s.to), names(4), 'each neighbour once')
  assert.deepEqual((full[1].msg.beats as Array<{ id: string }>).map(b => b.id), ['me', 'p00'])
  t.sent.length = 0
  t.g.beat(hb(4), 100)
  assert.equal(t.sent.filter(s => Array.isArray(s.msg.beats) && s.msg.watch === undefined).length, 0, 'not again (no one asked to watch it)')
})
