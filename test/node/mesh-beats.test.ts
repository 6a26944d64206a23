// The mesh's wiring of heartbeats (issue 12; cluster/mesh-core.ts, which an agent runs over
// libp2p and the simulator over its network), without a network: a stand-in for the transport
// records what would be sent. A busy node's beat rides on its frames of events to peers that
// read carried beats (and only in a small cluster); the heartbeat round skips a peer that had
// one within half an interval unless the office changed; a pass is set for the instant the
// first alive peer passes the timeout unheard (every node checks at the same grid instant).
import '../../src/polyfill.js'
import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { MeshCore } from '../../src/cluster/mesh-core.js'
import { REWATCH_MS, phaseOf } from '../../src/cluster/mesh-core.js'
import type { MeshClock, MeshCoreHost, MeshLinks } from '../../src/cluster/mesh-core.js'
import type { Heartbeat } from '../../src/cluster/membership.js'
import type { CarriedMessage } from '../../src/net/topics.js'
import { EVENTS_TOPIC, HEARTBEAT_TOPIC } from '../../src/net/topics.js'

interface Sent { topic: string, to: readonly string[] | undefined, carry?: CarriedMessage }

type Mesh = MeshCore

function mesh (o: { timeoutMs?: number, ticks?: () => void, master?: () => boolean, known?: () => number, every?: MeshClock['every'], id?: string } = {}): { m: Mesh, sent: Sent[], told: Array<{ peer: string, msg: unknown }>, clock: { now: number, mono: number }, peers: string[] } {
  const clock = { now: 1_000_000, mono: 5_000 }
  const peers = ['p1', 'p2']
  const sent: Sent[] = []
  const told: Array<{ peer: string, msg: unknown }> = []
  const host: MeshCoreHost = {
    id: o.id ?? 'me',
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    vector: () => ({}),
    heartbeat: (): Heartbeat => ({ id: o.id ?? 'me', name: o.id ?? 'me', priority: 1, vector: {}, ts: clock.now, master: o.master?.() ?? false, carried: true }),
    receive: () => {},
    receiveMany: () => {},
    eventsAfter: async function * () {},
    skip: () => {},
    proof: () => {},
    gapProof: async () => undefined,
    membershipChanged: () => {},
    ...(o.ticks !== undefined ? { tick: o.ticks } : {}),
    knownPeers: () => [],
    knownCount: o.known ?? (() => 3)
  }
  const none = async (): Promise<void> => {}
  // The transport's stand-in: connected to p1 and p2, every publish recorded.
  const links: MeshLinks = {
    connectedPeers: () => peers,
    connectedSince: () => undefined,
    publishRaw: async (topic, _json, to, carry) => {
      sent.push({ topic, to, ...(carry !== undefined ? { carry } : {}) })
      for (const p of to ?? peers) if (carry?.to.has(p) === true) carry.queued(p)
    },
    tell: (peer, msg) => { told.push({ peer, msg }) },
    noticeAndHangUp: () => {},
    hangUp: none,
    request: none,
    dial: none,
    dialAddr: none
  }
  const m = new MeshCore(host, links, {
    every: o.every ?? (() => ({ stop: () => {} })),
    after: (ms, fn) => { const t = setTimeout(fn, ms); return { cancel: () => { clearTimeout(t) } } },
    monotonic: () => clock.mono,
    pick: () => 0
  }, { bootstrap: [], heartbeatIntervalMs: 200, heartbeatTimeoutMs: o.timeoutMs ?? 800, syncIntervalMs: 2000 })
  return { m, sent, told, clock, peers }
}

const hb = (id: string, ts: number, carried: boolean): Heartbeat => ({ id, name: id, priority: 1, vector: {}, ts, ...(carried ? { carried: true } : {}) })
/** A peer's heartbeat as the transport hands it over. */
const hear = (m: Mesh, b: Heartbeat): void => { m.gossiped(HEARTBEAT_TOPIC, b, b.id) }
const publishEvents = async (m: Mesh, more?: boolean): Promise<void> => {
  await (m.replication as unknown as { links: { publishRaw: (t: string, j: string, to?: readonly string[], more?: boolean) => Promise<void> } }).links.publishRaw(EVENTS_TOPIC, '[]', undefined, more)
}
/** A small cluster's heartbeat round, with this node's beat claiming the office or not. */
const round = (m: Mesh, master = false): void => { (m as unknown as { broadcastBeat: (h: Heartbeat) => void }).broadcastBeat({ id: 'me', name: 'me', priority: 1, vector: {}, ts: 0, master, carried: true }) }

test('R1-1 issue 12: a frame of events carries this node\'s beat to the peers that read carried beats and are due one; the next round skips them, not the others', async () => {
  const { m, sent, clock } = mesh()
  hear(m, hb('p1', 1, true))
  hear(m, hb('p2', 1, false)) // an older version
  await publishEvents(m)
  assert.deepEqual([...(sent[0].carry?.to ?? [])], ['p1'], 'carried to p1 only')
  await publishEvents(m)
  assert.equal(sent[1].carry, undefined, 'not again within half an interval')
  round(m)
  assert.deepEqual(sent[2], { topic: HEARTBEAT_TOPIC, to: ['p2'] }, 'the round beats to p2 only')
  // A part of a split batch with more to come does not carry (its beat would count events not sent yet).
  const n = sent.length
  clock.mono += 99
  await publishEvents(m)
  assert.equal(sent[n].carry, undefined, '99 ms after: not yet')
  clock.mono += 1
  await publishEvents(m, true)
  assert.equal(sent[n + 1].carry, undefined, 'due, but more parts of the batch follow')
  await publishEvents(m, false)
  assert.deepEqual([...(sent[n + 2].carry?.to ?? [])], ['p1'], 'the last part carries it')
})

test('R1-1 issue 12: nothing is carried in a large cluster, nor with a timeout under four intervals; a change of office beats to every peer', async () => {
  const short = mesh({ timeoutMs: 700 })
  hear(short.m, hb('p1', 1, true))
  await publishEvents(short.m)
  assert.equal(short.sent[0].carry, undefined, 'timeout 700 ms at 200 ms intervals: nothing carried')

  const large = mesh()
  hear(large.m, hb('p1', 1, true))
  ;(large.m.gossip as unknown as { large: boolean }).large = true
  await publishEvents(large.m)
  assert.equal(large.sent[0].carry, undefined, 'a large cluster: nothing carried')

  let office = false
  const { m, sent } = mesh({ master: () => office })
  hear(m, hb('p1', 1, true))
  hear(m, hb('p2', 1, true))
  await publishEvents(m)
  assert.deepEqual([...(sent[0].carry?.to ?? [])].sort(), ['p1', 'p2'])
  office = true
  round(m, true)
  assert.deepEqual(sent[1], { topic: HEARTBEAT_TOPIC, to: ['p1', 'p2'] }, 'the office changed: every peer, carried beats or not')
})

test('R1-1 issue 12: the mesh sets a pass for the instant the first alive peer passes the timeout unheard, when that comes before the next round', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    let ticks = 0
    const { m, clock } = mesh({ ticks: () => { ticks++ } })
    hear(m, hb('p1', 1, true))
    const watch = (): void => { (m as unknown as { watchExpiry: () => void }).watchExpiry() }
    clock.now += 500
    watch()
    mock.timers.tick(250)
    assert.equal(ticks, 0, 'p1 passes the timeout 300 ms from now: the next round (200 ms) comes first')
    clock.now += 150 // 650 ms after p1's beat
    watch()
    mock.timers.tick(150)
    assert.equal(ticks, 0, 'not before p1 passes the timeout')
    mock.timers.tick(1)
    assert.equal(ticks, 1, 'a pass 1 ms after p1 passed the timeout (800 ms after its beat)')
    hear(m, hb('p1', 2, true))
    watch()
    mock.timers.tick(1000)
    assert.equal(ticks, 1, 'heard again: nothing set')
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a cluster\'s heartbeat rounds are on the grid (phase 0); a large one\'s every second interval with its beat to its watchers in it, and its sync round at the node\'s own slot of the heartbeat intervals; armed again when the cluster crosses the line', () => {
  const armed: Array<{ ms: number, phase: number, fn: () => void, stopped: boolean }> = []
  let known = 3
  // A node whose slot of the sync interval is not the grid's own (0).
  const id = ['me', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'n9'].find(x => phaseOf(x, 2000) % 400 >= 200) as string
  const { m, told } = mesh({
    id,
    known: () => known,
    every: (ms, fn, phase) => { const t = { ms, phase, fn, stopped: false }; armed.push(t); return { stop: () => { t.stopped = true } } }
  })
  m.start()
  assert.deepEqual(armed.map(t => [t.ms, t.phase]), [[200, 0], [2000, 0]], 'small: on the grid')
  known = 40
  armed[0].fn() // a heartbeat round sizes the cluster: large now
  const live = armed.filter(t => !t.stopped)
  const slot = phaseOf(id, 2000) - phaseOf(id, 2000) % 200
  assert.ok(slot >= 200 && slot % 200 === 0 && slot % 400 !== 0, `a slot of its own, between two rounds: ${slot}`)
  assert.deepEqual(live.map(t => [t.ms, t.phase]), [[400, 0], [2000, slot]], 'large: a round every second interval on the grid, the sync round at its own slot of the heartbeat intervals (not only of the rounds: a healed partition\'s first dial across would wait up to twice as long)')
  assert.ok(armed.slice(0, 2).every(t => t.stopped), 'the grid\'s timers stopped')
  // The round sends this node's beat to its watchers (and to no one else).
  m.told({ cis: 'membership', watch: true }, 'p2')
  told.length = 0
  live[0].fn()
  assert.deepEqual(told.map(t => [t.peer, (t.msg as { beats: Array<{ id: string }> }).beats.map(b => b.id)]), [['p2', [id]]], 'the beat to its watcher, from the round')
  assert.equal(armed.filter(t => !t.stopped).length, 2, 'not armed again while the size stays')
  m.stop()
  assert.equal(armed.filter(t => !t.stopped).length, 0)
})

test('R1-3 issue 12: a node that takes or leaves the office tells every peer at once, not at the next round (a new master waits for the old claim to end)', async () => {
  // A small cluster: the heartbeat goes to every peer now, also to peers a carried beat reached
  // just before (a round now would skip them).
  let master = false
  const small = mesh({ master: () => master })
  hear(small.m, hb('p1', 1, true))
  hear(small.m, hb('p2', 1, true))
  await publishEvents(small.m)
  small.sent.length = 0
  round(small.m)
  assert.equal(small.sent.length, 0, 'a round right after the carried beats sends none')
  master = true
  small.m.office(true)
  const beats = small.sent.filter(s => s.topic === HEARTBEAT_TOPIC)
  assert.equal(beats.length, 1)
  assert.deepEqual([...(beats[0].to ?? [])].sort(), ['p1', 'p2'])
  small.m.office(true)
  assert.equal(small.sent.filter(s => s.topic === HEARTBEAT_TOPIC).length, 1, 'an office held still is not told again')
  // The next round: the change was told, so it goes only to the peers that are due a beat (none
  // here: the carried beats and the told one are fresh), not to every peer a second time.
  round(small.m, true)
  assert.equal(small.sent.filter(s => s.topic === HEARTBEAT_TOPIC).length, 1, 'a told change of office is not beaten to every peer again by the round')
  // A round that sees a change before the node's pass tells it (every peer); the pass then has nothing to tell.
  const early = mesh({ master: () => false })
  round(early.m, true)
  assert.deepEqual(early.sent.filter(s => s.topic === HEARTBEAT_TOPIC).map(s => [...(s.to ?? [])].sort()), [['p1', 'p2']], 'the round told the change to every peer')
  early.m.office(true)
  assert.equal(early.sent.filter(s => s.topic === HEARTBEAT_TOPIC).length, 1, 'the pass after it tells nothing more')
  // A large cluster: a beat claiming the office to every neighbour (they flood the change on).
  const large = mesh({ master: () => true, known: () => 40 })
  large.m.sizeFromLog()
  large.m.office(true)
  const claims = large.told.filter(t => (t.msg as { beats?: Array<{ id: string, master?: boolean }> }).beats?.some(b => b.id === 'me' && b.master === true) === true)
  assert.deepEqual(claims.map(t => t.peer).sort(), ['p1', 'p2'])
  assert.equal(large.sent.filter(s => s.topic === HEARTBEAT_TOPIC).length, 0)
})

/** A large cluster's node ('me', 40 known) whose round has run once (sized large), with mocked timers; p1 and p2 connected. */
function largeMesh (o: { ticks?: () => void } = {}): { m: Mesh, told: Array<{ peer: string, msg: unknown }>, clock: { now: number }, round: () => void, peers: string[] } {
  const armed: Array<{ ms: number, fn: () => void, stopped: boolean }> = []
  const r = mesh({ ...o, known: () => 40, every: (ms, fn) => { const t = { ms, fn, stopped: false }; armed.push(t); return { stop: () => { t.stopped = true } } } })
  r.m.start()
  armed[0].fn() // sized: large
  // (The round: a large cluster's is every second interval, the beat to the watchers in it.)
  const round = (): void => { const t = armed.find(t => !t.stopped && t.ms === 400); assert.ok(t !== undefined, 'a round armed'); t.fn() }
  r.told.length = 0
  return { m: r.m, told: r.told, clock: r.clock, round, peers: r.peers }
}

const watchRequests = (told: Array<{ peer: string, msg: unknown }>): string[] => told.filter(t => (t.msg as { watch?: true }).watch === true).map(t => t.peer).sort()

test('R1-1 issue 12: a large cluster\'s node that learns of nodes between rounds asks them to beat to it within REWATCH_MS, not at its next round (the rounds are on the grid: a hop would wait an interval)', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const { m, told, clock } = largeMesh()
    assert.ok(m.gossip.large)
    m.told({ cis: 'membership', beats: [{ id: 'p1', name: 'p1', priority: 1, ts: clock.now }, { id: 'p2', name: 'p2', priority: 1, ts: clock.now }] }, 'p1')
    assert.deepEqual(watchRequests(told), [], 'not in the same turn (the changes of a few ms go together)')
    mock.timers.tick(REWATCH_MS)
    assert.deepEqual(watchRequests(told), ['p1', 'p2'], 'its ring successors, asked without a round')
    told.length = 0
    mock.timers.tick(1000)
    assert.deepEqual(watchRequests(told), [], 'once')
    m.stop()
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a large cluster\'s node probes a watched node at the instant it passes the timeout unheard and holds it down when the probe\'s wait ends, between the grid\'s rounds', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const { m, told, clock, round } = largeMesh()
    const t0 = clock.now
    const beat = (id: string): void => { m.told({ cis: 'membership', beats: [{ id, name: id, priority: 1, ts: clock.now }] }, id) }
    const probes = (): number => told.filter(t => t.peer === 'p1' && (t.msg as { watch?: true }).watch === true).length
    beat('p1')
    beat('p2')
    mock.timers.tick(REWATCH_MS)
    assert.equal(probes(), 1, 'p1 asked to beat here')
    told.length = 0
    // Rounds on the grid (every second interval), p2 heard at each (this node is not cut off); p1 silent since t0: past the timeout (800 ms) at t0 + 801.
    const at = (ms: number): void => { clock.now = t0 + ms; beat('p2'); round() }
    for (let k = 1; k <= 2; k++) at(400 * k)
    assert.equal(probes(), 0, 'not silent past the timeout at any round up to t0 + 800')
    clock.now = t0 + 801
    mock.timers.tick(1)
    assert.equal(probes(), 1, 'probed at t0 + 801, not at the round of t0 + 1200')
    at(1200)
    assert.equal(m.membership.isAlive('p1'), true, 'the probe\'s wait (two intervals) has not ended at t0 + 1200')
    clock.now = t0 + 1201
    mock.timers.tick(1)
    assert.equal(m.membership.isAlive('p1'), false, 'held down at t0 + 1201, when the wait ended, not at the round of t0 + 1600')
    assert.equal(m.membership.isAlive('p2'), true)
    m.stop()
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a large cluster\'s node whose watched nodes beat on time sets no timer of its own between rounds', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const { m, clock, round } = largeMesh()
    const t0 = clock.now
    m.told({ cis: 'membership', beats: [{ id: 'p1', name: 'p1', priority: 1, ts: t0 }] }, 'p1')
    mock.timers.tick(REWATCH_MS)
    for (let k = 1; k <= 5; k++) {
      clock.now = t0 + 400 * k
      m.told({ cis: 'membership', beats: [{ id: 'p1', name: 'p1', priority: 1, ts: clock.now }] }, 'p1')
      round()
      assert.equal((m as unknown as { expiry: unknown }).expiry, undefined, `no timer after the round at t0 + ${400 * k}`)
    }
    assert.equal(m.membership.isAlive('p1'), true)
    m.stop()
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a large cluster\'s node cut off from everyone holds none of its watched nodes down (it counts itself isolated first), though their beats came a few ms apart; it probes each at most every half interval', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    // (It watches its WATCHERS (2) successors: p1 and p2.)
    const { m, told, clock, round } = largeMesh()
    const t0 = clock.now
    for (const [id, ms] of [['p1', 1], ['p2', 3]] as const) {
      clock.now = t0 + ms
      m.told({ cis: 'membership', beats: [{ id, name: id, priority: 1, ts: clock.now }] }, id)
    }
    mock.timers.tick(REWATCH_MS)
    told.length = 0
    // Nothing more is heard (its links are cut). Rounds on the grid, and whatever timers the mesh sets between them.
    const probesAt: Record<string, number[]> = { p1: [], p2: [] }
    const note = (): void => {
      for (const t of told.splice(0)) {
        const msg = t.msg as { watch?: true, downs?: unknown[] }
        assert.equal(msg.downs, undefined, `no down notice (to ${t.peer} at t0 + ${clock.now - t0})`)
        if (msg.watch === true) probesAt[t.peer]?.push(clock.now - t0)
      }
    }
    for (let ms = 1; ms <= 3000; ms++) {
      clock.now = t0 + ms
      if (ms % 400 === 0) round()
      mock.timers.tick(1)
      note()
    }
    for (const id of ['p1', 'p2']) {
      assert.equal(m.membership.isAlive(id), false, `${id}: not alive here once this node is isolated`)
      const at = probesAt[id]
      assert.ok(at.length >= 1, `${id} was probed`)
      for (let k = 1; k < at.length; k++) assert.ok(at[k] - at[k - 1] >= 100, `${id} probed again ${at[k] - at[k - 1]} ms after (${at.join(', ')})`)
    }
    // Heard again: every watched node alive again, none was held down by this node's notices.
    clock.now = t0 + 3001
    m.told({ cis: 'membership', beats: [{ id: 'p1', name: 'p1', priority: 1, ts: clock.now }, { id: 'p2', name: 'p2', priority: 1, ts: clock.now }] }, 'p1')
    for (const id of ['p1', 'p2']) assert.equal(m.membership.isAlive(id), true, `${id} alive again`)
    m.stop()
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a large cluster\'s watch round that runs past a watched node\'s due instant (a slow round) still probes it at once, not a round later', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const slow = { on: false }
    const r = largeMesh({ ticks: () => { if (slow.on) r.clock.now += 5 } })
    const { m, told, clock, round } = r
    const t0 = clock.now
    const beat = (id: string): void => { m.told({ cis: 'membership', beats: [{ id, name: id, priority: 1, ts: clock.now }] }, id) }
    clock.now = t0 + 1
    beat('p1') // due (past the timeout unheard) at t0 + 802
    beat('p2')
    mock.timers.tick(REWATCH_MS)
    told.length = 0
    clock.now = t0 + 400; beat('p2'); round()
    slow.on = true
    clock.now = t0 + 800
    beat('p2')
    round() // looks at t0 + 800, ends at t0 + 805: p1 became due during it
    assert.equal(told.filter(t => t.peer === 'p1' && (t.msg as { watch?: true }).watch === true).length, 0, 'not due when the round looked')
    mock.timers.tick(1)
    assert.equal(told.filter(t => t.peer === 'p1' && (t.msg as { watch?: true }).watch === true).length, 1, 'probed right after the round')
    m.stop()
  } finally { mock.timers.reset() }
})
