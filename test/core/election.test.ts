// The election (pure): who is master among the alive nodes, the term it claims, and who is
// alive or lost in one node's view (src/election).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Candidate } from '../../src/election/master.js'
import { electMaster, nextTerm } from '../../src/election/master.js'
import type { MembershipView } from '../../src/election/membership.js'
import { aliveSet, isAlive, silence } from '../../src/election/membership.js'

const TIMEOUT = 800

test('R1-2/R1-3/R1-4: electMaster: the alive node with the highest priority is master', () => {
  assert.equal(electMaster([{ id: 'a', priority: 1 }, { id: 'b', priority: 5 }, { id: 'c', priority: 3 }]), 'b')
  assert.equal(electMaster([{ id: 'z', priority: 10 }, { id: 'a', priority: 9 }]), 'z', 'priority wins over a lower ID')
  assert.equal(electMaster([{ id: 'a', priority: -5 }, { id: 'b', priority: -2 }]), 'b', 'negative priorities too')
  assert.equal(electMaster([{ id: 'solo', priority: -100 }]), 'solo', 'a single node is its own master')
})

test('R1-2/R1-3/R1-4: electMaster: a tie in priority goes to the lower node ID', () => {
  assert.equal(electMaster([{ id: 'n2', priority: 1 }, { id: 'n1', priority: 1 }, { id: 'n3', priority: 1 }]), 'n1')
  assert.equal(electMaster([{ id: 'b', priority: 7 }, { id: 'a', priority: 0 }, { id: 'c', priority: 7 }]), 'b', 'only among the highest priority')
  // IDs compare as strings (code units), the same on every node.
  assert.equal(electMaster([{ id: 'node-10', priority: 0 }, { id: 'node-9', priority: 0 }]), 'node-10')
  assert.equal(electMaster([{ id: 'b', priority: 0 }, { id: 'B', priority: 0 }]), 'B')
})

test('R1-2/R1-3/R1-4: electMaster: no candidates, no master (null)', () => {
  assert.equal(electMaster([]), null)
})

test('R1-2/R1-3/R1-4: nextTerm: one above the highest term known; 1 when none is known', () => {
  assert.equal(nextTerm({}), 1)
  assert.equal(nextTerm({ a: 3 }), 4)
  assert.equal(nextTerm({ a: 2, b: 7, c: 5 }), 8)
  assert.equal(nextTerm({ a: 0 }), 1)
})

test('R1-2/R1-3/R1-4: electMaster: the same master whatever the order of the candidates, and it is the best by (priority, lower ID)', () => {
  const candidates = fc.uniqueArray(
    fc.record({ id: fc.string({ minLength: 1, maxLength: 6 }), priority: fc.integer({ min: -3, max: 3 }) }),
    { selector: c => c.id, minLength: 1, maxLength: 12 })
  fc.assert(fc.property(candidates, fc.array(fc.nat(), { minLength: 12, maxLength: 12 }), (cs: Candidate[], keys) => {
    const shuffled = cs.map((c, i) => ({ c, k: keys[i] })).sort((x, y) => x.k - y.k).map(x => x.c)
    const master = electMaster(cs)
    assert.equal(electMaster(shuffled), master)
    assert.equal(electMaster([...cs].reverse()), master)
    // The model: the highest priority, then the lowest ID.
    const top = Math.max(...cs.map(c => c.priority))
    const best = cs.filter(c => c.priority === top).map(c => c.id).sort()[0]
    assert.equal(master, best)
  }), { seed: 42, numRuns: 500 })
})

test('membership: isAlive: a peer heard within the timeout is alive; at exactly the timeout still, 1 ms later not; an unknown peer is not', () => {
  const p = { lastSeen: 10_000, priority: 0 }
  assert.equal(isAlive(p, 10_000, TIMEOUT), true)
  assert.equal(isAlive(p, 10_000 + TIMEOUT - 1, TIMEOUT), true)
  assert.equal(isAlive(p, 10_000 + TIMEOUT, TIMEOUT), true, 'the boundary is inclusive')
  assert.equal(isAlive(p, 10_000 + TIMEOUT + 1, TIMEOUT), false)
  assert.equal(isAlive(undefined, 10_000, TIMEOUT), false)
})

test('membership: isAlive: a down hint at or after the last heartbeat makes a peer not alive at once; a later heartbeat revives it', () => {
  const now = 10_100
  assert.equal(isAlive({ lastSeen: 10_000, downAt: 10_050, priority: 0 }, now, TIMEOUT), false, 'closed after the last heartbeat')
  assert.equal(isAlive({ lastSeen: 10_000, downAt: 10_000, priority: 0 }, now, TIMEOUT), false, 'closed in the same ms')
  assert.equal(isAlive({ lastSeen: 10_060, downAt: 10_050, priority: 0 }, now, TIMEOUT), true, 'a heartbeat after the close revives it')
  assert.equal(isAlive({ lastSeen: 10_060, downAt: 10_050, priority: 0 }, 10_060 + TIMEOUT + 1, TIMEOUT), false, 'and the timeout still applies')
})

test('membership: aliveSet: self and every peer alive in the view, no one else', () => {
  const view: MembershipView = {
    fresh: { lastSeen: 1000, priority: 0 },
    edge: { lastSeen: 1000 - TIMEOUT, priority: 0 },
    stale: { lastSeen: 1000 - TIMEOUT - 1, priority: 0 },
    closed: { lastSeen: 990, downAt: 995, priority: 0 },
    back: { lastSeen: 999, downAt: 995, priority: 0 }
  }
  assert.deepEqual([...aliveSet(view, 'me', 1000, TIMEOUT)].sort(), ['back', 'edge', 'fresh', 'me'])
  assert.deepEqual([...aliveSet({}, 'me', 1000, TIMEOUT)], ['me'], 'alone: self')
  // Self is alive even if the view holds a stale record of it.
  assert.ok(aliveSet({ me: { lastSeen: 0, downAt: 1, priority: 0 } }, 'me', 1000, TIMEOUT).has('me'))
})

test('R1-1: silence: the known nodes not alive and how long each has been silent; never self; a down hint makes a node silent, a refused connection makes it gone (infinite)', () => {
  const now = 100_000
  const view: MembershipView = {
    fresh: { lastSeen: now - 10, priority: 0 },
    edge: { lastSeen: now - TIMEOUT, priority: 0 },
    quiet: { lastSeen: now - TIMEOUT - 1, priority: 0 },
    closed: { lastSeen: now - 10, downAt: now - 5, priority: 0 },
    dead: { lastSeen: now - 10, downAt: now - 5, goneAt: now - 4, priority: 0 },
    back: { lastSeen: now - 3, goneAt: now - 4, priority: 0 },
    me: { lastSeen: 0, priority: 0 }
  }
  const known = ['fresh', 'edge', 'quiet', 'closed', 'dead', 'back', 'me', 'never']
  const s = silence(view, known, 'me', now, TIMEOUT, 0)
  assert.deepEqual([...s.keys()].sort(), ['closed', 'dead', 'never', 'quiet'])
  assert.equal(s.get('quiet'), TIMEOUT + 1)
  assert.equal(s.get('closed'), 10, 'a closed connection: disconnected, silent since its last heartbeat')
  assert.equal(s.get('dead'), Infinity, 'its agent is gone for certain')
  assert.ok(!s.has('back'), 'heard from again after it was found gone: alive')
  assert.ok(!s.has('me'), 'self is never silent')
  assert.ok(!silence(view, ['fresh'], 'me', now, TIMEOUT, 0).has('quiet'), 'only known nodes are considered')
})

test('R1-1: silence: `since` (when this node started) gives every node a first chance to be heard', () => {
  const since = 50_000
  const view: MembershipView = { old: { lastSeen: 1_000, priority: 0 } }
  const known = ['old', 'never', 'me']
  assert.deepEqual([...silence(view, known, 'me', since + 10, TIMEOUT, since).entries()].sort(), [['never', 10], ['old', 10]], 'just after start: silent only since the start')
  // A heartbeat after the start counts from the heartbeat.
  view.old = { lastSeen: since + 500, priority: 0 }
  assert.deepEqual([...silence(view, known, 'me', since + 500 + TIMEOUT + 1, TIMEOUT, since).entries()].sort(), [['never', 500 + TIMEOUT + 1], ['old', TIMEOUT + 1]])
})

test('membership: a silent node is never alive, and self is in aliveSet and never silent (property)', () => {
  const peer = fc.record({ lastSeen: fc.integer({ min: 0, max: 5000 }), downAt: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: undefined }), priority: fc.integer({ min: -2, max: 2 }) })
  const ids = ['a', 'b', 'c', 'd', 'me']
  fc.assert(fc.property(
    fc.dictionary(fc.constantFrom(...ids), peer),
    fc.subarray(ids), fc.integer({ min: 0, max: 8000 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 5000 }),
    (raw, known, now, timeout, since) => {
      const view: MembershipView = {}
      for (const [id, p] of Object.entries(raw)) view[id] = p.downAt === undefined ? { lastSeen: p.lastSeen, priority: p.priority } : p
      const alive = aliveSet(view, 'me', now, timeout)
      const lost = silence(view, known, 'me', now, timeout, since)
      assert.ok(alive.has('me'))
      assert.ok(!lost.has('me'))
      for (const id of lost.keys()) {
        assert.ok(known.includes(id), `${id} is a known node`)
        assert.ok(!alive.has(id), `${id} is lost and alive`)
      }
    }), { seed: 7, numRuns: 500 })
})
