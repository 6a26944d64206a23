// G-6: a purge removes ended joblists from the state on every node alike. The purge event
// names them; records keyed by them go; what the rest of the state counted from them stays.
// The state is the same whatever order the purge and the other events arrive in (a node that
// was away gets the purge before or after the events it missed), and an event about a
// purged joblist that comes later adds nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stateHash } from '../../src/state/hash.js'
import { reduce } from '../../src/state/reducer.js'
import { purgeCandidates } from '../../src/state/purge.js'
import { AccountingIndex } from '../../src/state/accounting.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** A small cluster's events: joblists ended and running, with stops, changes, acks, webhook deliveries and a schedule's runs. */
function workload (): { h: Harness, ended: string[], open: string[] } {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  h.emit('C', 'schedule', { spec: { ...joblist('nightly', [['s', [job('x')]]]), schedule: { cron: '0 2 * * *', timezone: 'UTC', onFailure: 'continue', overlap: 'skip', catchUp: 'one', maxCatchUp: 10 } } as never, owner: 'ops' })
  const ended: string[] = []
  for (let i = 0; i < 6; i++) {
    const spec = joblist(`old-${i}`, [['s', [job('x', { retries: 1 })]]], i % 2 === 0 ? { notify: [{ webhook: 'https://h.example/x', on: ['failed', 'succeeded'] }] } : {})
    let req: string
    if (i === 3) {
      // A run of the schedule.
      const e = h.emit('C', 'submit', { spec: joblist('nightly', [['s', [job('x')]]]), owner: 'ops', schedule: { name: 'nightly', instant: 1_700_000_000_000 + i } })
      req = `${e.origin}:${e.seq}`
    } else req = h.submit(spec, 'A')
    h.settle()
    const id = h.joblistId(req)
    if (i === 1) h.emit('U', 'update', { joblistId: id, priority: 4 })
    if (i === 2) h.emit('U', 'stop', { joblistId: id })
    h.runAll(i % 3 === 0 ? 'failed' : 'succeeded')
    h.settle()
    h.runAll()
    h.settle()
    if (i % 2 === 0) h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: true, term: 1 })
    if (h.state.joblists[id]?.state === 'failed') h.emit('U', 'ack', { joblistId: id })
    ended.push(id)
  }
  const open: string[] = []
  const req = h.submit(joblist('still-running', [['s', [job('y')]]]), 'A')
  h.settle()
  open.push(h.joblistId(req))
  h.start(`${open[0]}.1`)
  return { h, ended, open }
}

/** A random order of the events that keeps each origin's own order (what replication guarantees). */
function interleave (events: UnsignedEvent[], pick: (n: number) => number): UnsignedEvent[] {
  const queues = new Map<string, UnsignedEvent[]>()
  for (const e of events) queues.set(e.origin, [...(queues.get(e.origin) ?? []), e])
  const qs = [...queues.values()]
  const out: UnsignedEvent[] = []
  while (qs.some(q => q.length > 0)) {
    const live = qs.filter(q => q.length > 0)
    out.push(live[pick(live.length)].shift() as UnsignedEvent)
  }
  return out
}

function purgeEvent (h: Harness): UnsignedEvent<'purge'> {
  const c = purgeCandidates(h.state, Infinity)
  return { origin: 'P', seq: 1, ts: h.now + 1000, lc: 0, type: 'purge', body: { before: h.now, ...c } }
}

test('G-6: a purge removes the ended joblists and every record of them; open work and the counters stay', () => {
  const { h, ended, open } = workload()
  const p = purgeEvent(h)
  assert.deepEqual([...p.body.ids].sort(), [...ended].sort(), 'the candidates: every ended joblist, not the running one')
  const before = reduce(h.events)
  const after = reduce([...h.events, p])
  for (const id of ended) {
    assert.equal(after.joblists[id], undefined)
    assert.ok(!Object.keys(after.jobs).some(k => k.startsWith(`${id}.`)), `jobs of ${id}`)
    assert.ok(!Object.keys(after.attempts).some(k => k.startsWith(`${id}.`)), `attempts of ${id}`)
    assert.ok(!Object.keys(after.deliveries).some(k => k.startsWith(`${id}.`)), `deliveries of ${id}`)
    assert.equal(after.acks[id], undefined)
    assert.equal(after.updates[id], undefined)
  }
  assert.equal(Object.keys(after.requests).length, open.length, 'only the open joblist\'s request')
  assert.ok(Object.values(after.stops).every(s => !ended.includes(s.joblistId)))
  assert.deepEqual(after.schedules.nightly.runs, [], 'the schedule\'s purged run is gone from its record')
  assert.equal(after.schedules.nightly.lastInstant, before.schedules.nightly.lastInstant, 'its last instant stays: no instant runs again')
  assert.deepEqual(after.acceptCount, before.acceptCount, 'the masters\' ID counters stay')
  assert.deepEqual(after.terms, before.terms)
  assert.equal(after.joblists[open[0]].state, before.joblists[open[0]].state, 'open work is untouched')
  // Accounting (G-2) is derived from the state: the purged joblists have no records left.
  const idx = new AccountingIndex()
  idx.rebuild(after)
  assert.ok(idx.query({ since: 0, until: Infinity }).every(r => !ended.includes(r.joblistId)))
  const idxBefore = new AccountingIndex()
  idxBefore.rebuild(before)
  assert.ok(idxBefore.query({ since: 0, until: Infinity }).some(r => ended.includes(r.joblistId)), 'they had records before')
})

test('G-6: the purge and the other events give the same state in any order of arrival (property)', () => {
  const { h } = workload()
  const p = purgeEvent(h)
  const expected = stateHash(reduce([...h.events, p]))
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), seed => {
    let s = seed
    const pick = (n: number): number => { s = (s * 1103515245 + 12345) % 2147483648; return s % n }
    assert.equal(stateHash(reduce(interleave([...h.events, p], pick))), expected)
  }), { numRuns: 200 })
})

test('G-6: an event about a purged joblist that comes after the purge adds nothing (a node that was away)', () => {
  const { h, ended } = workload()
  const p = purgeEvent(h)
  const after = reduce([...h.events, p])
  const hash = stateHash(after)
  const late: UnsignedEvent[] = [
    { origin: 'Z', seq: 1, ts: h.now + 2000, lc: 0, type: 'finished', body: { jobId: `${ended[0]}.1`, attempt: 9, state: 'succeeded', exitCode: 0, signal: null } },
    { origin: 'Z', seq: 2, ts: h.now + 2001, lc: 0, type: 'delivery', body: { id: `${ended[1]}.succeeded.0`, attempt: 2, ok: true, term: 1 } },
    { origin: 'Z', seq: 3, ts: h.now + 2002, lc: 0, type: 'ack', body: { joblistId: ended[2] } }
  ]
  const withLate = reduce([...h.events, p, ...late])
  assert.equal(withLate.joblists[ended[0]], undefined)
  assert.equal(withLate.attempts[`${ended[0]}.1`], undefined)
  assert.equal(withLate.deliveries[`${ended[1]}.succeeded.0`], undefined)
  assert.equal(withLate.acks[ended[2]], undefined)
  // Only the version vector (and the local clock) moved.
  assert.equal(stateHash({ ...withLate, applied: after.applied }), hash)
})

test('G-6: a joblist brought back whole from its bundle after the purge that named it (a log replayed origin by origin) is taken out again; open work stays', async () => {
  const { extract, restore } = await import('../../src/state/archive.js')
  const { apply } = await import('../../src/state/reducer.js')
  const { dropPurgedLeftovers } = await import('../../src/state/purge.js')
  const { h, ended, open } = workload()
  const p = purgeEvent(h)
  const expected = stateHash(reduce([...h.events, p]))
  // A node that had the ended joblists archived (out of memory), applied the purge, and then
  // brought their bundles back for events replayed after it: they are whole again.
  const s = reduce(h.events)
  const bundles = extract(s, ended).map(x => x.bundle)
  apply(s, p)
  for (const b of bundles) restore(s, b)
  assert.ok(ended.every(id => s.joblists[id] !== undefined), 'brought back')
  assert.notEqual(stateHash(s), expected)
  const left = dropPurgedLeftovers(s)
  assert.deepEqual(left.ids.filter(id => ended.includes(id)).sort(), [...ended].sort())
  assert.ok(ended.every(id => s.joblists[id] === undefined && Object.keys(s.jobs).every(k => !k.startsWith(`${id}.`))), 'the joblists and their jobs are gone')
  assert.ok(open.every(id => s.joblists[id] !== undefined), 'open work stays')
  assert.equal(stateHash(s), expected, 'the state of a node that applied the purge to them')
  // Nothing left: nothing changes.
  assert.deepEqual(dropPurgedLeftovers(s), { ids: [], requests: [] })
})

/**
 * A request accepted twice (two masters across a failover), and a purge written by a node that
 * knew only one of the accepts: `second` is the other master's accept (its position before the
 * first's when `wins`), its assign, and another node's run of that job.
 */
function acceptedTwice (wins: boolean): { events: UnsignedEvent[], purge: UnsignedEvent<'purge'>, request: string, seen: string, unseen: string } {
  const h = new Harness('M1')
  h.node('A', { slot: ['s0'] })
  h.node('B', { slot: ['s0'] })
  const request = h.submit(joblist('twice', [['s', [job('x')]]]), 'A')
  h.settle(['A'])
  const seen = h.joblistId(request)
  const acceptAt = h.state.joblists[seen].position[0]
  h.runAll()
  h.settle(['A'])
  assert.equal(h.state.joblists[seen].state, 'succeeded')
  const purge = purgeEvent(h)
  assert.deepEqual(purge.body.ids, [seen], 'the purger knew one accept')
  const unseen = 'k-7'
  // K's accept: at the first's instant, K before M1 (wins) or after it (loses).
  const at = wins ? acceptAt : acceptAt + 1
  const second: UnsignedEvent[] = [
    { origin: 'K', seq: 1, ts: at, lc: 0, type: 'accept', body: { request, id: unseen, term: 2, onLost: 'retry', maxLost: 2 } },
    { origin: 'K', seq: 2, ts: at + 1, lc: 0, type: 'assign', body: { jobId: `${unseen}.1`, attempt: 1, node: 'B', resources: { slot: ['s0'] }, term: 2 } },
    { origin: 'B', seq: 2, ts: at + 2, lc: 0, type: 'started', body: { jobId: `${unseen}.1`, attempt: 1, pid: 5 } },
    { origin: 'B', seq: 3, ts: at + 3, lc: 0, type: 'finished', body: { jobId: `${unseen}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null } }
  ]
  return { events: [...h.events, ...second], purge, request, seen, unseen }
}

for (const wins of [true, false]) {
  test(`G-6: a request accepted twice, purged by a node that knew one accept, leaves no record of either joblist, in any order of arrival (the other accept ${wins ? 'won' : 'lost'}; property)`, () => {
    const { events, purge, request, seen, unseen } = acceptedTwice(wins)
    const all = [...events, purge]
    const expected = reduce(all)
    // The accept the purger did not see: its joblist goes with the request, wherever it came.
    assert.equal(expected.requests[request], undefined)
    for (const id of [seen, unseen]) {
      assert.equal(expected.joblists[id], undefined, `joblist ${id}`)
      assert.ok(!Object.keys(expected.attempts).some(k => k.startsWith(`${id}.`)), `attempts of ${id}`)
      assert.ok(!Object.keys(expected.jobs).some(k => k.startsWith(`${id}.`)), `jobs of ${id}`)
    }
    const hash = stateHash(expected)
    // The purge first, last, and anywhere between (each origin's own order kept).
    assert.equal(stateHash(reduce([purge, ...events])), hash, 'the purge before everything')
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), seed => {
      let s = seed
      const pick = (n: number): number => { s = (s * 1103515245 + 12345) % 2147483648; return s % n }
      assert.equal(stateHash(reduce(interleave(all, pick))), hash)
    }), { numRuns: 200 })
  })
}
