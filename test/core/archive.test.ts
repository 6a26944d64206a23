// G-4 (memory that does not grow with history): ended joblists move out of the state into
// bundles (state/archive.ts) and come back before an event about them is applied. Whatever is
// archived when, the state plus the archived digest has the hash of the state of all events,
// and bringing every bundle back gives exactly that state.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { addDigest, archivable, extract, overlay, parseDigest, restore, subDigest } from '../../src/state/archive.js'
import type { Bundle } from '../../src/state/archive.js'
import { stateHash } from '../../src/state/hash.js'
import { apply, reduce } from '../../src/state/reducer.js'
import { purgeCandidates } from '../../src/state/purge.js'
import { eventSubjects, joblistOf } from '../../src/state/subjects.js'
import { joblistView } from '../../src/state/views.js'
import { canonicalJson } from '../../src/util/canonical.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { addPastUsage, fairShareUsage, joblistUsage } from '../../src/scheduler/fairshare.js'
import type { PastUsage } from '../../src/scheduler/fairshare.js'

const RULES = { afterMs: 0, unackedMs: 0, limit: 1000 }

function workload (n: number, seed: number): UnsignedEvent[] {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  let r = seed
  const next = (): number => { r = (r * 1103515245 + 12345) % 2147483648; return r / 2147483648 }
  for (let i = 0; i < n; i++) {
    const req = h.submit(joblist(`w${i % 3}`, [['a', [job('x', { retries: 1 }), job('y')]], ['b', [job('z')]]], next() < 0.3 ? { notify: [{ webhook: 'https://h.example/x', on: ['failed', 'succeeded'] }, { email: 'ops@example.org', digest: 'now', on: ['failed', 'succeeded'] }] } : {}), 'A')
    h.settle()
    const id = h.state.requests[req]?.joblistId
    if (id !== undefined && next() < 0.3) h.emit('U', 'update', { joblistId: id, priority: Math.floor(next() * 10) })
    h.runAll(next() < 0.3 ? 'failed' : 'succeeded')
    h.settle()
    h.runAll()
    h.settle()
    if (id !== undefined && next() < 0.3) h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: next() < 0.5, term: 1 })
    // A message listing items of this joblist and of the one before (an item's standing is archived with its joblist).
    if (id !== undefined && next() < 0.4) h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${id}.succeeded.1`, `${id}.failed.1`, `m-${i}.succeeded.1`], ok: next() < 0.5, ...(next() < 0.5 ? { error: 'refused' } : {}), term: 1 })
    if (id !== undefined && next() < 0.3) h.emit('U', 'ack', { joblistId: id })
  }
  h.runAll()
  h.settle()
  // A purge of half of them, from another node.
  const c = purgeCandidates(h.state, Infinity)
  const half = Math.floor(c.requests.length / 2)
  if (half > 0) {
    const reqs = c.requests.slice(0, half)
    const ids = reqs.map(k => h.state.requests[k]?.joblistId).filter((x): x is string => x !== undefined)
    h.emit('P', 'purge', { before: Date.now(), ids, requests: reqs })
  }
  return h.events
}

/** What a node does: archive what may go at chosen points; bring back what an event names before applying it. */
function archiving (events: UnsignedEvent[], points: Set<number>): { state: ReturnType<typeof reduce>, digest: bigint, archive: Map<string, Bundle>, checked: number } {
  const state = reduce([])
  const archive = new Map<string, Bundle>()
  const bySubject = new Map<string, string>()
  let digest = 0n
  let checked = 0
  events.forEach((e, i) => {
    for (const s of eventSubjects(e)) {
      const id = bySubject.get(s)
      const b = id === undefined ? undefined : archive.get(id)
      if (b === undefined) continue
      restore(state, b)
      digest = subDigest(digest, parseDigest(b.digest))
      archive.delete(b.id)
      for (const k of [...b.ids, b.request]) bySubject.delete(k)
    }
    apply(state, e)
    if (points.has(i)) {
      const before = stateHash(state, digest)
      const ids = archivable(state, Number.MAX_SAFE_INTEGER, RULES)
      for (const x of extract(state, ids)) {
        archive.set(x.bundle.id, JSON.parse(JSON.stringify(x.bundle)) as Bundle)
        digest = addDigest(digest, x.digest)
        for (const k of [...x.bundle.ids, x.bundle.request]) bySubject.set(k, x.bundle.id)
        assert.equal(state.joblists[x.bundle.id], undefined, 'an archived joblist leaves memory')
        for (const field of ['jobs', 'attempts', 'deliveries', 'mailItems'] as const) {
          assert.ok(!Object.keys(state[field]).some(k => joblistOf(k) === x.bundle.id), `its ${field} leave memory with it`)
        }
      }
      assert.equal(stateHash(state, digest), before, `archiving after event ${i} does not change the hash`)
      checked += ids.length
    }
  })
  return { state, digest, archive, checked }
}

test('G-4: archiving ended joblists and bringing them back for later events gives the state of all events, whatever the points (property)', () => {
  let archived = 0
  fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 1, maxLength: 6 }), (seed, cuts) => {
    const events = workload(8, seed)
    const all = reduce(events)
    const { state, digest, archive, checked } = archiving(events, new Set(cuts.map(c => c % events.length)))
    archived += checked
    assert.equal(stateHash(state, digest), stateHash(all), 'memory plus the archive digest: the hash of all events')
    for (const b of archive.values()) restore(state, b)
    assert.equal(canonicalJson({ ...state, clock: null }), canonicalJson({ ...all, clock: null }), 'every bundle back: the very state of all events')
  }), { numRuns: 40 })
  assert.ok(archived > 0, 'the property archived something')
})

test('G-4: a late event about an archived joblist (a second report of an attempt) is applied to the joblist brought back', () => {
  const events = workload(4, 7)
  const late = events.findLastIndex(e => e.type === 'finished') // (of a joblist the purge kept)
  // The first report arrives again from another node after everything was archived.
  const e = events[late] as UnsignedEvent<'finished'>
  const extra = { ...e, origin: 'Z', seq: 1, ts: e.ts + 5, body: { ...e.body, exitCode: 9 } }
  const { state, digest } = archiving([...events, extra], new Set([events.length - 1]))
  assert.equal(stateHash(state, digest), stateHash(reduce([...events, extra])))
})

test('G-4: the view of an archived joblist (overlay) is its view before it was archived', () => {
  const events = workload(3, 11)
  const state = reduce(events)
  const ids = archivable(state, Number.MAX_SAFE_INTEGER, RULES)
  assert.ok(ids.length > 0)
  const views = new Map(ids.map(id => [id, canonicalJson(joblistView(state, state.joblists[id]))]))
  const bundles = extract(state, ids)
  for (const x of bundles) {
    const b = JSON.parse(JSON.stringify(x.bundle)) as Bundle
    const seen = overlay(state, b)
    assert.equal(canonicalJson(joblistView(seen, seen.joblists[b.id])), views.get(b.id))
  }
})

test('G-4: archivable: not running, not unacknowledged failures within their window, not too recent', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const r1 = h.submit(joblist('ok', [['a', [job('x')]]]), 'A')
  const r2 = h.submit(joblist('bad', [['a', [job('x')]]]), 'A')
  h.settle()
  h.start(h.joblistId(r1) + '.1')
  assert.deepEqual(archivable(h.state, Number.MAX_SAFE_INTEGER, RULES), [], 'nothing ended yet')
  h.runAll('succeeded')
  h.settle()
  h.runAll('failed')
  h.settle()
  const ok = h.joblistId(r1)
  const bad = h.joblistId(r2)
  assert.equal(h.state.joblists[bad].state, 'failed')
  const ended = Math.max(h.state.joblists[ok].endedAt ?? 0, h.state.joblists[bad].endedAt ?? 0)
  assert.deepEqual(archivable(h.state, ended + 10, { ...RULES, afterMs: 60_000 }), [], 'ended too recently')
  assert.deepEqual(archivable(h.state, ended + 120_000, { ...RULES, afterMs: 60_000, unackedMs: 3600_000 }), [ok], 'the unacknowledged failure stays listed')
  assert.deepEqual(archivable(h.state, ended + 120_000, { ...RULES, afterMs: 60_000, unackedMs: 3600_000, keep: jl => jl.id === ok }), [], 'the node keeps what it still needs')
})

test('P-4, G-4: fair-share usage counts archived joblists through the usage kept per owner, as if they were in memory', () => {
  const events = workload(6, 5)
  const state = reduce(events)
  const H = 3600_000
  const t0 = Math.max(...Object.values(state.joblists).map(j => j.endedAt ?? 0)) + 1000
  const before = fairShareUsage(state, t0 + 600_000, { halfLifeMs: H, shares: {} })
  const ids = archivable(state, Number.MAX_SAFE_INTEGER, RULES)
  const past: Record<string, PastUsage> = {}
  for (const id of ids) addPastUsage(past, state.joblists[id].owner, joblistUsage(state, state.joblists[id], t0, H), t0, H)
  extract(state, ids)
  const after = fairShareUsage(state, t0 + 600_000, { halfLifeMs: H, shares: {}, past })
  assert.ok(before.some(u => u.resourceSeconds > 0), 'the workload used something')
  assert.deepEqual(after.map(u => u.owner), before.map(u => u.owner))
  after.forEach((u, i) => assert.ok(Math.abs(u.resourceSeconds - before[i].resourceSeconds) <= 1e-9 * Math.max(1, before[i].resourceSeconds), `${u.owner}: ${u.resourceSeconds} vs ${before[i].resourceSeconds}`))
  const without = fairShareUsage(state, t0 + 600_000, { halfLifeMs: H, shares: {} })
  assert.ok(without.every(u => u.resourceSeconds === 0), 'without it, archived work would be forgotten')
})

test('G-4, issue 12: keepEnded bounds the ended joblists in memory: beyond it the earliest ended go before their time, the other rules still hold', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2', 's3', 's4', 's5'] })
  const reqs: string[] = []
  // Six one-job joblists ended one after the other (each ends one tick after the one before).
  for (let i = 0; i < 6; i++) {
    reqs.push(h.submit(joblist(`b${i}`, [['a', [job('x')]]]), 'A'))
    h.settle()
    h.runAll(i === 1 ? 'failed' : 'succeeded')
    h.settle()
  }
  const ids = reqs.map(r => h.joblistId(r))
  for (const id of ids) assert.ok(h.state.joblists[id].endedAt !== undefined, `${id} ended`)
  const last = Math.max(...ids.map(id => h.state.joblists[id].endedAt ?? 0))
  const young = { afterMs: 3600_000, unackedMs: 0, limit: 1000 }
  // All ended within the hour: without a bound none may go; with one, the earliest ended go until `keepEnded` stay.
  assert.deepEqual(archivable(h.state, last + 1, young), [], 'no bound: too recent')
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 0 }), [], '0: no bound')
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 4 }), ids.slice(0, 2), 'the two ended first go, four stay')
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 6 }), [], 'at the bound, none')
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 4, limit: 1 }), ids.slice(0, 1), 'at most `limit` a pass')
  // A joblist the rules keep (an unacknowledged failure within its window; one the node needs) counts and stays: the next ended go instead.
  assert.deepEqual(archivable(h.state, last + 1, { ...young, unackedMs: 3600_000, keepEnded: 4 }), [ids[0], ids[2]], 'the unacknowledged failure stays, counted')
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 4, keep: jl => jl.id === ids[0] }), [ids[1], ids[2]], 'what the node keeps stays, counted')
  // Those old enough go by their age first, and count toward the bound.
  const firstEnd = h.state.joblists[ids[0]].endedAt ?? 0
  const byAge = archivable(h.state, firstEnd + 3600_000, { ...young, keepEnded: 4 })
  assert.deepEqual(byAge, ids.slice(0, 2), 'the first by its age, then one more by the bound')
  // Once archived (taken out), the bound is met.
  extract(h.state, ids.slice(0, 2))
  assert.deepEqual(archivable(h.state, last + 1, { ...young, keepEnded: 4 }), [], 'four left: none more')
})
