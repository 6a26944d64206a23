// The master role is established and revoked as a unit (DESIGN: "the master role"): each time
// a node becomes master it catches up with its peers first, whatever happened in an earlier term.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { EventType, UnsignedEvent } from '../../src/events/types.js'
import { stateHash } from '../../src/state/hash.js'
import { carryAssigns, reduce } from '../../src/state/reducer.js'
import { CATCH_UP_LIMIT_MS, MasterRole } from '../../src/node/master-role.js'
import type { MasterRoleOptions } from '../../src/node/master-role.js'
import { emptyState } from '../../src/state/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** A MasterRole for node `me` with a test's own view of the world (the rest as an agent's defaults). */
function masterRole (o: Pick<MasterRoleOptions, 'now' | 'state' | 'alive' | 'behind' | 'append'> & Partial<MasterRoleOptions>): MasterRole {
  return new MasterRole({
    self: 'me',
    code: 'me00',
    log: pino({ level: 'silent' }),
    scheduler: { onLost: 'retry', maxLost: 3, policy: 'fifo', agingPerMinute: 1, lostAfterMs: 60_000, fairShare: { halfLifeMs: 7 * 86_400_000, shares: {} } },
    silent: () => new Map(),
    ...o
  })
}

function role (): { role: MasterRole, appended: EventType[], clock: { now: number, behind: boolean, unheard: string[], claiming: string[] } } {
  const clock = { now: 0, behind: false, unheard: [] as string[], claiming: [] as string[] }
  const appended: EventType[] = []
  const state = emptyState()
  const r = masterRole({
    now: () => clock.now,
    state: () => state,
    alive: () => new Set(['me', 'peer']),
    behind: () => clock.behind,
    unsettled: () => ({ unheard: clock.unheard, claiming: clock.claiming }),
    append: async (type) => { appended.push(type); return undefined as never }
  })
  return { role: r, appended, clock }
}

test('R1-3: a master that lost the role while behind and wins it back waits to catch up again (establish/revoke cycle)', () => {
  const { role: r, appended, clock } = role()
  clock.behind = true
  r.follow('me', id => id)
  assert.equal(r.established, true)
  r.pass()
  assert.deepEqual(appended, [], 'behind a peer: no decision yet')
  clock.now = 500
  r.follow('peer', id => id) // a higher-priority peer is back: revoked while still behind
  assert.equal(r.established, false)
  r.pass()
  assert.deepEqual(appended, [], 'not master: nothing')

  clock.now = 10_000 // long after the first catch-up started
  r.follow('me', id => id)
  r.pass()
  assert.deepEqual(appended, [], 'master again and behind: the catch-up wait starts over (an old barrier must not let it decide at once)')
  clock.now = 10_000 + CATCH_UP_LIMIT_MS - 1
  r.pass()
  assert.deepEqual(appended, [], 'still within the wait')
  clock.now = 10_000 + CATCH_UP_LIMIT_MS
  r.pass()
  assert.deepEqual(appended, ['master'], 'after the bounded wait it claims its term and decides')
})

test('R1-3: a master that is caught up decides at once; its term comes first', () => {
  const { role: r, appended } = role()
  r.pass()
  assert.deepEqual(appended, [], 'not established: no duties')
  r.follow('me', id => id)
  r.pass()
  assert.deepEqual(appended, ['master'])
})

test('R1-3: catching up ends the wait early', () => {
  const { role: r, appended, clock } = role()
  clock.behind = true
  r.follow('me', id => id)
  r.pass()
  clock.now = 100
  clock.behind = false
  r.pass()
  assert.deepEqual(appended, ['master'])
})

test('R1-3/S-1: a new master waits for an outgoing master to leave the office before it decides (one master at a time launches an instant)', () => {
  const { role: r, appended, clock } = role()
  clock.claiming = ['peer'] // its last heartbeat still says it holds the office
  r.follow('me', id => id)
  r.pass()
  assert.deepEqual(appended, [], 'the old master still claims the office: no decision yet')
  clock.now = 300
  clock.claiming = [] // its next heartbeat: it stepped down
  r.pass()
  assert.deepEqual(appended, ['master'], 'once it left, the new master decides')
})

test('R1-3: a new master waits to hear a peer that just came (restart or heal) before it decides, bounded', () => {
  const { role: r, appended, clock } = role()
  clock.unheard = ['peer'] // connected, but its heartbeat (and version vector) not yet heard
  r.follow('me', id => id)
  r.pass()
  assert.deepEqual(appended, [], 'a peer whose state is unknown: no decision yet')
  clock.now = CATCH_UP_LIMIT_MS - 1
  r.pass()
  assert.deepEqual(appended, [], 'still within the bounded wait')
  clock.now = CATCH_UP_LIMIT_MS
  r.pass()
  assert.deepEqual(appended, ['master'], 'a peer that is never heard does not block the cluster: it decides after the bound')
})

/** A master role over a Harness's state whose append applies each event at once (as the node's log does), or later. */
function applyingRole (applyAtOnce: boolean): { role: MasterRole, appended: EventType[], h: Harness, later: Array<() => void> } {
  const h = new Harness('me')
  h.node('me', { slot: ['s0'] })
  h.emit('me', 'master', { term: 1 })
  const appended: EventType[] = []
  const later: Array<() => void> = []
  const r = masterRole({
    now: () => h.now,
    state: () => h.state,
    alive: () => new Set(['me']),
    behind: () => false,
    append: async (type, body, place) => {
      appended.push(type)
      // As the node's log does: apply, then (the master's own accept) place and carry.
      const now = (): void => {
        const e = h.emit('me', type, body)
        if (place !== undefined && e.type === 'accept') carryAssigns(h.state, e as UnsignedEvent<'accept'>, place)
      }
      if (applyAtOnce) now()
      else later.push(now)
      return undefined as never
    }
  })
  r.follow('me', id => id)
  return { role: r, appended, h, later }
}

test('R3-1 issue 12: a joblist accepted in a pass is placed in the same pass, its assign carried in its accept (one event)', () => {
  const { role: r, appended, h } = applyingRole(true)
  const req = h.submit(joblist('one', [['s', [job('a')]]]), 'me')
  r.pass()
  assert.deepEqual(appended, ['accept'])
  const accept = h.events.find(e => e.type === 'accept') as UnsignedEvent<'accept'>
  const id = h.joblistId(req)
  assert.deepEqual(accept.body.assign, [{ jobId: `${id}.1`, attempt: 1, node: 'me', resources: { slot: ['s0'] } }])
  const a = h.state.attempts[`${id}.1`][1]
  assert.equal(a.state, 'assigned')
  assert.equal(a.term, 1, 'the carried assign has the accept\'s term')
  r.pass()
  assert.deepEqual(appended, ['accept'], 'the next pass has nothing left to decide')
  // A peer applying the event as it is stored reaches the same state.
  assert.equal(stateHash(reduce(h.events)), stateHash(h.state))
})

test('R3-1 issue 12: joblists accepted together: the last accept carries its own assigns, the others\' go as assign events; no room, no assign', () => {
  const { role: r, appended, h } = applyingRole(true)
  h.node('me', { slot: ['s0', 's1'] })
  const r1 = h.submit(joblist('one', [['s', [job('a')]]]), 'me')
  const r2 = h.submit(joblist('two', [['s', [job('b')]]]), 'me')
  const r3 = h.submit(joblist('three', [['s', [job('c')]]]), 'me')
  r.pass()
  assert.deepEqual(appended, ['accept', 'accept', 'accept', 'assign', 'assign'])
  const accepts = h.events.filter(e => e.type === 'accept') as Array<UnsignedEvent<'accept'>>
  assert.equal(accepts[0].body.assign, undefined)
  assert.equal(accepts[1].body.assign, undefined)
  assert.equal(accepts[2].body.assign, undefined, 'the third waits: two slots, queue order')
  const assigned = h.events.filter(e => e.type === 'assign').map(e => (e as UnsignedEvent<'assign'>).body.jobId)
  assert.deepEqual(assigned, [`${h.joblistId(r1)}.1`, `${h.joblistId(r2)}.1`])
  assert.equal(h.state.attempts[`${h.joblistId(r3)}.1`], undefined)
})

test('R3-1: when its accept is not applied yet, the pass does not decide it again: it places once applied', () => {
  const { role: r, appended, h, later } = applyingRole(false)
  const req = h.submit(joblist('one', [['s', [job('a')]]]), 'me')
  r.pass()
  assert.deepEqual(appended, ['accept'], 'one accept, not two')
  for (const f of later.splice(0)) f()
  assert.equal(h.state.attempts[`${h.joblistId(req)}.1`][1].node, 'me', 'placed as the accept is applied')
  r.pass()
  assert.deepEqual(appended, ['accept'])
})

test('R1-3 issue 12: a new master behind a peer pulls from it at once, once a wait', () => {
  const clock = { now: 0, behind: true }
  let pulls = 0
  const state = emptyState()
  const r = masterRole({ now: () => clock.now, state: () => state, alive: () => new Set(['me', 'peer']), behind: () => clock.behind, catchUp: () => { pulls++ }, append: async () => undefined as never })
  r.follow('me', id => id)
  r.pass()
  assert.equal(pulls, 1, 'the wait starts behind a peer: one pull round at once')
  clock.now = 100
  r.pass()
  r.pass()
  assert.equal(pulls, 1, 'still waiting: no more pull rounds (the heartbeat rules and the pulls under way go on)')
  clock.behind = false
  r.pass()
  clock.behind = true
  clock.now = 200
  r.pass()
  assert.equal(pulls, 2, 'caught up, then behind again: a new wait, a new pull round')
})

test('R4-1, R1-3 (issue 12): the master\'s own submit carries its accept only when a pass could decide it now (established, caught up, its term the highest, no request waiting before it); the accept and what is placed with it are a pass\'s', () => {
  const h = new Harness('me')
  h.node('me', { slot: ['s0'] }, 100)
  h.node('peer', {}, 0)
  h.emit('me', 'master', { term: 2 })
  const clock = { now: 5000, behind: false }
  const r = masterRole({ now: () => clock.now, state: () => h.state, alive: () => new Set(['me', 'peer']), behind: () => clock.behind, unsettled: () => ({ unheard: [], claiming: [] }), append: async () => undefined as never })
  const body = { spec: joblist('own', [['s', [job('a')]]]), owner: 'o' }
  assert.equal(r.ownSubmit.decide(h.state, body), undefined, 'not (yet) the master: declined')
  r.follow('me', id => id)
  clock.behind = true
  assert.equal(r.ownSubmit.decide(h.state, body), undefined, 'behind a peer: declined')
  clock.behind = false
  const accept = r.ownSubmit.decide(h.state, body)
  assert.deepEqual(accept, { id: 'me00-1', term: 2, onLost: 'retry', maxLost: 3 }, 'the next ID of its counter, its term, the policy')
  // Written as the event log writes it: applied, then placed with.
  const e = h.emit('me', 'submit', { ...body, accept })
  carryAssigns(h.state, e, r.ownSubmit.place)
  assert.deepEqual(e.body.accept?.assign, [{ jobId: 'me00-1.1', attempt: 1, node: 'me', resources: { slot: ['s0'] } }], 'its job placed with it, carried in the event')
  assert.equal(h.state.requests[`me:${e.seq}`].joblistId, 'me00-1')
  // A request of a peer waits for a pass: the master's own goes after it, alone.
  h.submit(joblist('theirs', [['s', [job('b')]]]), 'peer')
  assert.equal(r.ownSubmit.decide(h.state, body), undefined, 'a request waits for a pass: declined')
  h.step(['me', 'peer'])
  assert.equal(r.ownSubmit.decide(h.state, body)?.id, 'me00-3', 'once it is accepted (me00-2), the next')
  // Another master's higher term: not this node's to decide.
  h.emit('peer', 'master', { term: 3 })
  assert.equal(r.ownSubmit.decide(h.state, body), undefined, 'a higher term known: declined')
  r.revoke()
  assert.equal(r.ownSubmit.decide(h.state, body), undefined, 'revoked: declined')
})
