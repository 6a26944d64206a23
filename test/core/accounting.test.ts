// G-2: accounting records are derived from the state (one per ended attempt), indexed by
// owner, node and end time; a query returns what brute force over every record returns, and
// reads only the records that ended in its range or later (not the whole history); a job
// counts in a range if it ran in it; the summary per day splits a job across midnight.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { AccountingIndex, PENDING_MAX, joblistRecords, summarize } from '../../src/state/accounting.js'
import type { AccountingQuery, AccountingRecord } from '../../src/state/accounting.js'
import { parseTimeRef } from '../../src/spec/time-ref.js'
import { Harness, job, joblist } from '../helpers/harness.js'

function run (owners: string[], perOwner: number, failEvery = 0): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  h.node('B', { slot: ['s0'] })
  let n = 0
  for (let i = 0; i < perOwner; i++) {
    for (const owner of owners) {
      h.emit('A', 'submit', { spec: joblist(`${owner}-${i}`, [['s', [job('x'), job('y')]]], { tags: i % 2 === 0 ? ['even'] : [] }), owner })
      h.settle()
      h.runAll(failEvery > 0 && ++n % failEvery === 0 ? 'failed' : 'succeeded')
      h.settle()
      h.now += 1000
    }
  }
  return h
}

const brute = (all: AccountingRecord[], q: AccountingQuery): string[] => all
  .filter(r => r.endedAt >= q.since && (r.startedAt ?? r.endedAt) <= q.until &&
    (q.owner === undefined || r.owner === q.owner) && (q.node === undefined || r.node === q.node) &&
    (q.joblistId === undefined || r.joblistId === q.joblistId) && (q.tag === undefined || r.tags.includes(q.tag)))
  .map(r => r.key).sort()

test('G-2: one record per ended attempt, with joblist, job, owner, tags, node, resources, times, wall, exit and attempt', () => {
  const h = run(['alice'], 1)
  const jl = Object.values(h.state.joblists)[0]
  const recs = joblistRecords(h.state, jl)
  assert.equal(recs.length, 2)
  const r = recs[0]
  assert.equal(r.joblistId, jl.id)
  assert.equal(r.joblistName, 'alice-0')
  assert.equal(r.jobName, 'x')
  assert.equal(r.owner, 'alice')
  assert.deepEqual(r.tags, ['even'])
  assert.ok(['A', 'B'].includes(r.node))
  assert.equal(r.state, 'succeeded')
  assert.equal(r.exitCode, 0)
  assert.equal(r.attempt, 1)
  assert.ok(r.startedAt !== undefined && r.endedAt >= r.startedAt)
  assert.equal(r.wallS, (r.endedAt - (r.startedAt as number)) / 1000)
  assert.equal(Object.values(r.resources).flat().length, 1, 'the slot instance it held')
  assert.equal(r.duplicate, false)
})

test('G-2: the index answers every query like brute force over all records (property)', () => {
  const h = run(['alice', 'bob', 'carol'], 12, 5)
  const idx = new AccountingIndex()
  idx.rebuild(h.state)
  const all = Object.values(h.state.joblists).flatMap(jl => joblistRecords(h.state, jl))
  assert.equal(idx.size, all.length)
  const times = all.map(r => r.endedAt)
  const lo = Math.min(...times) - 2000
  const hi = Math.max(...times) + 2000
  fc.assert(fc.property(
    fc.integer({ min: lo, max: hi }), fc.integer({ min: 0, max: hi - lo }),
    fc.option(fc.constantFrom('alice', 'bob', 'carol', 'nobody'), { nil: undefined }),
    fc.option(fc.constantFrom('A', 'B'), { nil: undefined }),
    fc.option(fc.constantFrom('even'), { nil: undefined }),
    fc.option(fc.constantFrom(...Object.keys(h.state.joblists)), { nil: undefined }),
    (since, span, owner, node, tag, joblistId) => {
      const q: AccountingQuery = { since, until: since + span, ...(owner !== undefined ? { owner } : {}), ...(node !== undefined ? { node } : {}), ...(tag !== undefined ? { tag } : {}), ...(joblistId !== undefined ? { joblistId } : {}) }
      assert.deepEqual(idx.query(q).map(r => r.key).sort(), brute(all, q))
    }), { numRuns: 300 })
})

test('G-2: a query by owner or time range reads what it returns, not the whole history', () => {
  const h = run(['alice', 'bob'], 40)
  const idx = new AccountingIndex()
  idx.rebuild(h.state)
  const all = Object.values(h.state.joblists).flatMap(jl => joblistRecords(h.state, jl))
  const last = Math.max(...all.map(r => r.endedAt))
  // The most recent records (until = the end of history): exactly those are read.
  const recent = idx.query({ since: last - 3000, until: last })
  assert.ok(recent.length > 0 && recent.length < all.length / 10)
  assert.equal(idx.lastScanned, recent.length, 'no record outside the answer was read')
  const bobs = idx.query({ owner: 'bob', since: 0, until: last })
  assert.equal(bobs.length, all.length / 2)
  assert.equal(idx.lastScanned, bobs.length, "a query by owner reads only that owner's records")
})

test('G-2: the index follows changes: a joblist whose attempts end later gets its records; a retried attempt adds one', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('retry', [['s', [job('x', { retries: 1 })]]]), 'A')
  h.settle()
  const id = h.joblistId(req)
  const idx = new AccountingIndex()
  idx.rebuild(h.state)
  assert.equal(idx.size, 0, 'nothing ended yet')
  h.start(`${id}.1`)
  h.finish(`${id}.1`, 'failed')
  h.settle()
  idx.update(h.state, id)
  assert.deepEqual(idx.query({ since: 0, until: h.now }).map(r => [r.attempt, r.state]), [[1, 'failed']])
  h.start(`${id}.1`)
  h.finish(`${id}.1`)
  h.settle()
  idx.update(h.state, id)
  assert.deepEqual(idx.query({ since: 0, until: h.now }).map(r => [r.attempt, r.state]), [[1, 'failed'], [2, 'succeeded']])
})

test('G-2: the index derives what changed when a query needs it (touch, catchUp): the same answers as deriving at every change; past PENDING_MAX changes it indexes the state afresh', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'] })
  const eager = new AccountingIndex()
  const lazy = new AccountingIndex()
  lazy.touchAll()
  const keys = (idx: AccountingIndex): string[] => idx.query({ since: 0, until: h.now + 1000 }).map(r => `${r.key} ${r.state}`)
  const ids: string[] = []
  for (let i = 0; i < 6; i++) {
    const req = h.submit(joblist(`j${i}`, [['s', [job('x', { retries: 1 })]]]), 'A')
    h.settle()
    const id = h.joblistId(req)
    ids.push(id)
    h.start(`${id}.1`)
    h.finish(`${id}.1`, i % 2 === 0 ? 'failed' : 'succeeded')
    h.settle()
    eager.update(h.state, id)
    lazy.touch([id])
    h.now += 1000
  }
  assert.equal(lazy.size, 0, 'nothing derived before a query')
  lazy.catchUp(h.state)
  assert.deepEqual(keys(lazy), keys(eager))
  assert.equal(keys(lazy).filter(k => k.endsWith('failed')).length, 3)
  // A retry ends later; one joblist leaves memory (archived out): touched, seen at the next query.
  h.start(`${ids[0]}.1`)
  h.finish(`${ids[0]}.1`)
  h.settle()
  const gone = ids[5]
  const { [gone]: _, ...rest } = h.state.joblists
  h.state.joblists = rest
  eager.update(h.state, ids[0])
  eager.update(h.state, gone)
  lazy.touch([ids[0], gone])
  assert.notDeepEqual(keys(lazy), keys(eager), 'not caught up yet')
  lazy.catchUp(h.state)
  assert.deepEqual(keys(lazy), keys(eager))
  assert.ok(!keys(lazy).some(k => k.startsWith(`${gone}.`)), 'the archived joblist has no records in memory')
  // More than PENDING_MAX touched: what was indexed is let go at once, and the next query
  // indexes the state afresh: a joblist gone from the state untold is gone from the answers too
  // (which deriving only the touched ones would not do).
  const untold = ids[4]
  const { [untold]: __, ...fewer } = h.state.joblists
  h.state.joblists = fewer
  eager.update(h.state, untold)
  lazy.touch(Array.from({ length: PENDING_MAX + 1 }, (_, i) => `x-${i}`))
  assert.equal(lazy.size, 0, 'let go at once')
  lazy.catchUp(h.state)
  assert.deepEqual(keys(lazy), keys(eager))
  assert.ok(!keys(lazy).some(k => k.startsWith(`${untold}.`)))
  assert.equal(lazy.size, eager.size)
})

test('G-2: the summary per owner and per day; a job that spans midnight counts in both days with the wall time of each', () => {
  const midnight = Date.parse('2026-11-30T00:00:00Z')
  const rec = (key: string, owner: string, startedAt: number, endedAt: number, state: AccountingRecord['state'] = 'succeeded'): AccountingRecord => ({
    key, joblistId: 'j', joblistName: 'n', jobId: key, jobName: 'x', owner, tags: [], node: 'A', resources: {}, attempt: 1, state, exitCode: 0, signal: null,
    submittedAt: startedAt, startedAt, endedAt, wallS: (endedAt - startedAt) / 1000, cpuUserS: 1, cpuSysS: 0.5, duplicate: false
  })
  const recs = [rec('a', 'alice', midnight - 3600_000, midnight + 1800_000), rec('b', 'bob', midnight + 60_000, midnight + 120_000, 'failed')]
  const range = { since: midnight - 86_400_000, until: midnight + 86_400_000 }
  const byOwner = summarize(recs, 'owner', range)
  assert.deepEqual(byOwner.map(g => [g.group, g.jobs, g.failed, g.wallS, g.cpuUserS]), [['alice', 1, 0, 5400, 1], ['bob', 1, 1, 60, 1], ['total', 2, 1, 5460, 2]])
  const byDay = summarize(recs, 'day', range)
  assert.deepEqual(byDay.map(g => [g.group, g.jobs, g.wallS]), [['2026-11-29', 1, 3600], ['2026-11-30', 2, 1860], ['total', 2, 5460]])
})

test('G-2: times on the command line: ISO dates and times (UTC), now, and spans before now; anything else says what is accepted', () => {
  const now = Date.parse('2026-11-30T12:00:00Z')
  assert.equal(parseTimeRef('2026-11-30', now), Date.parse('2026-11-30T00:00:00Z'))
  assert.equal(parseTimeRef('2026-11-30T10:00:00Z', now), Date.parse('2026-11-30T10:00:00Z'))
  assert.equal(parseTimeRef('2026-11-30T10:00', now), Date.parse('2026-11-30T10:00:00Z'))
  assert.equal(parseTimeRef('2026-11-30T10:00:00+02:00', now), Date.parse('2026-11-30T08:00:00Z'))
  assert.equal(parseTimeRef('7d', now), now - 7 * 86_400_000)
  assert.equal(parseTimeRef('90m', now), now - 90 * 60_000)
  assert.equal(parseTimeRef('now', now), now)
  for (const bad of ['yesterday', '7 days', '2026-13-45', '']) assert.match(String(parseTimeRef(bad, now)), /is not a time: give an ISO date/)
})
