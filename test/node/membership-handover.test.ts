// Membership (src/cluster/membership.ts) tells a new master what it must wait for before it
// decides: alive peers it has not heard since they came (a restart, a heal: their version
// vector is unknown) and alive peers whose heartbeat still claims the master office.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Membership } from '../../src/cluster/membership.js'
import type { Heartbeat } from '../../src/cluster/membership.js'

function membership (): { m: Membership, clock: { now: number }, changes: () => number } {
  const clock = { now: 1000 }
  let changes = 0
  const m = new Membership({ self: 'me', log: pino({ level: 'silent' }), now: () => clock.now, heartbeatIntervalMs: 200, timeoutMs: 800, changed: () => { changes++ } })
  return { m, clock, changes: () => changes }
}

const hb = (id: string, ts: number, master?: boolean): Heartbeat => ({ id, name: id, priority: 1, vector: {}, ts, ...(master !== undefined ? { master } : {}) })

test('R1-3: a peer known from before that connects again is alive but unheard until its next heartbeat', () => {
  const { m, clock } = membership()
  assert.equal(m.heard(hb('p', 1), 'p'), true)
  assert.deepEqual(m.unsettled(), { unheard: [], claiming: [] }, 'heard: settled')
  clock.now += 5000 // silent past the timeout: not alive
  assert.equal(m.alive().has('p'), false)
  m.connected('p') // it is back (restart or heal): alive at once, its state unknown
  assert.equal(m.alive().has('p'), true)
  assert.deepEqual(m.unsettled().unheard, ['p'])
  clock.now += 50
  m.heard(hb('p', 2), 'p')
  assert.deepEqual(m.unsettled(), { unheard: [], claiming: [] }, 'its heartbeat arrived: settled')
})

test('R1-3/S-1: a peer whose heartbeat claims the master office is waited for until it stops claiming', () => {
  const { m, clock, changes } = membership()
  m.heard(hb('old', 1, true), 'old')
  assert.deepEqual(m.unsettled(), { unheard: [], claiming: ['old'] })
  const before = changes()
  clock.now += 200
  m.heard(hb('old', 2, false), 'old')
  assert.deepEqual(m.unsettled(), { unheard: [], claiming: [] })
  assert.ok(changes() > before, 'leaving the office is a change (the new master passes again at once)')
  clock.now += 5000
  assert.deepEqual(m.unsettled(), { unheard: [], claiming: [] }, 'a peer no longer alive is not waited for')
})

test('R1-3: a heartbeat whose master flag is not a boolean is dropped as malformed', () => {
  const { m } = membership()
  assert.equal(m.heard({ ...hb('p', 1), master: 'yes' }, 'p'), false)
  assert.equal(m.alive().has('p'), false)
})

test('R1-1 issue 12: a small cluster knows when its first alive peer would pass the timeout unheard (the mesh sets a pass for that instant: every node beats on the same grid, so a peer\'s last beat came just after a round\'s checks)', () => {
  const { m, clock } = membership()
  assert.equal(m.nextExpiry(), undefined, 'no peer')
  m.heard(hb('a', 1), 'a')
  clock.now += 150
  m.heard(hb('b', 1), 'b')
  assert.equal(m.nextExpiry(), 1000 + 800, 'a, heard first, is the first to pass the timeout')
  clock.now += 100
  m.heard(hb('a', 2), 'a')
  assert.equal(m.nextExpiry(), 1150 + 800, 'now b')
  clock.now = 1150 + 800
  assert.equal(m.alive().has('b'), true, 'at the instant itself still alive')
  assert.equal(m.nextExpiry(), 1150 + 800)
  clock.now += 1
  assert.equal(m.alive().has('b'), false, 'a millisecond later not (the mesh sets its pass 1 ms after)')
  assert.equal(m.nextExpiry(), 1250 + 800, 'b is no longer alive: a is next')
})

test('R1-3/D-3: just started, a node does not stand for master while a node it knows is unheard (or, knowing none, while it joins and hears no one), for two heartbeat timeouts at most; a node heard and then gone holds nothing', () => {
  const { m, clock } = membership()
  const known = (...ids: string[]) => () => ['me', ...ids]
  assert.equal(m.settling(known('a', 'b'), false), true, 'a restart: a and b known, not heard yet')
  m.heard(hb('a', 1), 'a')
  assert.equal(m.settling(known('a', 'b'), false), true, 'b still unheard')
  m.heard(hb('b', 1), 'b')
  assert.equal(m.settling(known('a', 'b'), false), false, 'both heard: it stands (the election decides)')
  m.disconnected('a')
  assert.equal(m.alive().has('a'), false)
  assert.equal(m.settling(known('a', 'b'), false), false, 'a heard and then gone (its connection closed: the master SIGKILLed just after the cluster formed): its going is news, it holds nothing')
  assert.equal(m.settling(known('a', 'c'), false), true, 'a node known and unheard (c) holds it')
  clock.now += 800
  assert.equal(m.settling(known('a', 'c'), false), true, 'for two heartbeat timeouts')
  clock.now += 800
  assert.equal(m.settling(known('a', 'c'), false), false, 'two timeouts after its network started it stands, heard or not (a node known may be gone for good)')
  // A master heard ends the wait at once: a known node gone for good holds it up only while the cluster has no master.
  const led = membership()
  led.m.networkStarted()
  assert.equal(led.m.settling(known('a', 'gone'), false), true)
  led.m.heard(hb('a', 1, true), 'a')
  assert.equal(led.m.settling(known('a', 'gone'), false), false, 'a heard, holding the office')
  // A fresh node: none known yet.
  const fresh = membership()
  assert.equal(fresh.m.settling(known(), false), false, 'alone, with no one to join: it stands at once (a single node)')
  assert.equal(fresh.m.settling(known(), true), true, 'joining (peers to dial), no one heard: it waits')
  fresh.m.heard(hb('x', 1), 'x')
  assert.equal(fresh.m.settling(known(), true), false, 'it heard a peer: it stands (the election decides)')
})

test('R1-3/D-3: a peer\'s heartbeat that says it is leaving holds it down at once; its later beats keep it down; its heartbeat after a restart brings it back', () => {
  const { m, clock, changes } = membership()
  m.heard(hb('p', 1), 'p')
  assert.equal(m.alive().has('p'), true)
  const before = changes()
  clock.now += 10
  assert.equal(m.heard({ ...hb('p', 2), leaving: true }, 'p'), true)
  assert.equal(m.alive().has('p'), false, 'down at once (no work is placed on it while it stops)')
  assert.ok(changes() > before, 'a change: the master passes again at once')
  clock.now += 100
  m.heard({ ...hb('p', 3), leaving: true }, 'p')
  assert.equal(m.alive().has('p'), false, 'its beats while it stops keep it down')
  clock.now += 2000
  m.heard(hb('p', 4), 'p')
  assert.equal(m.alive().has('p'), true, 'back after its restart')
  assert.equal(m.heard({ ...hb('p', 5), leaving: 'yes' } as unknown as Heartbeat, 'p'), false, 'a leaving flag other than true is malformed')
})
