// G-6: a purge's cut takes the purged joblists' events out of every node's log (src/state/cuts.ts).
// A node that never had those events takes a skip instead: its state must be the very state of
// a node that applied them, in any order of arrival; the cut is recorded the same whatever
// order purges come in; a skip is taken only where cuts cover every seq of it; and a peer's
// malformed cut is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { addCut, covering, cutOf, ownerOf, purgeable, splitCut } from '../../src/state/cuts.js'
import type { CutRange } from '../../src/state/cuts.js'
import { apply, reduce, skipTo } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import { emptyState } from '../../src/state/types.js'
import { purgeCandidates } from '../../src/state/purge.js'
import { purgedSetOf } from '../../src/state/purged.js'
import { checkEvent } from '../../src/events/check.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** A history of ended joblists only (the master's last accept is among them), from two submitting nodes. */
function history (): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  for (let i = 0; i < 5; i++) {
    const req = h.submit(joblist(`old-${i}`, [['s', [job('x', { retries: 1 })]]]), i % 2 === 0 ? 'A' : 'C')
    h.settle()
    const id = h.joblistId(req)
    if (i === 1) h.emit('U', 'update', { joblistId: id, priority: 4 })
    if (i === 2) h.emit('U', 'stop', { joblistId: id })
    h.runAll(i % 2 === 0 ? 'failed' : 'succeeded')
    h.settle()
    h.runAll()
    h.settle()
    if (i === 3) h.emit('U', 'ack', { joblistId: id })
  }
  return h
}

/** The purge of every ended joblist (origin P): the event naming them, then the cut's event. */
function purge (h: Harness, withCounters = true): { events: UnsignedEvent[], cut: ReturnType<typeof cutOf> } {
  const c = purgeCandidates(h.state, Infinity)
  const named: UnsignedEvent<'purge'> = { origin: 'P', seq: 1, ts: h.now + 1000, lc: 0, type: 'purge', body: { before: h.now, ...c } }
  const purged = purgedSetOf([...c.ids, ...c.requests])
  const cut = cutOf(h.events.filter(e => purgeable(e, purged)))
  const counters = reduce(h.events).acceptCount
  const cutEvent: UnsignedEvent<'purge'> = { origin: 'P', seq: 2, ts: h.now + 1001, lc: 0, type: 'purge', body: { before: h.now, ids: [], requests: [], cut, ...(withCounters ? { counters } : {}) } }
  return { events: [named, cutEvent], cut }
}

type Item = { e: UnsignedEvent } | { origin: string, skip: number }
const originOf = (x: Item): string => 'e' in x ? x.e.origin : x.origin

/** What a node that never had the cut's events receives: per origin, the others and skips in seq order. */
function skipping (events: UnsignedEvent[], cut: ReturnType<typeof cutOf>): Item[] {
  const inCut = (e: UnsignedEvent): boolean => (cut[e.origin] ?? []).some(([f, t]) => e.seq >= f && e.seq <= t)
  return events.map(e => inCut(e) ? { origin: e.origin, skip: e.seq } : { e })
}

function interleave (items: Item[], pick: (n: number) => number): Item[] {
  const queues = new Map<string, Item[]>()
  for (const x of items) queues.set(originOf(x), [...(queues.get(originOf(x)) ?? []), x])
  const qs = [...queues.values()]
  const out: Item[] = []
  while (qs.some(q => q.length > 0)) {
    const live = qs.filter(q => q.length > 0)
    out.push(live[pick(live.length)].shift() as Item)
  }
  return out
}

function replay (items: Item[]): string {
  const s = emptyState()
  for (const x of items) {
    if ('e' in x) apply(s, x.e)
    else skipTo(s, x.origin, x.skip)
  }
  return stateHash(s)
}

const lcg = (seed: number): (n: number) => number => {
  let s = seed
  return n => { s = (s * 1103515245 + 12345) % 2147483648; return s % n }
}

test('G-6: a node that skips the cut\'s events ends with the state of one that applied them, in any order of arrival (property)', () => {
  const h = history()
  const { events: p, cut } = purge(h)
  const all = [...h.events, ...p]
  const expected = stateHash(reduce(all))
  const cutCount = Object.values(cut).flat().reduce((n, [f, t]) => n + t - f + 1, 0)
  assert.ok(cutCount > 20, `the cut takes most events (${cutCount})`)
  assert.ok(h.events.some(e => e.type === 'accept' && (cut[e.origin] ?? []).some(([f, t]) => e.seq >= f && e.seq <= t)), 'accepts among them')
  assert.ok(h.events.some(e => e.type === 'node' && !(cut[e.origin] ?? []).some(([f, t]) => e.seq >= f && e.seq <= t)), 'node events are not in it')
  fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), seed => {
    assert.equal(replay(interleave(skipping(all, cut), lcg(seed))), expected, 'skipping node')
    assert.equal(replay(interleave(all.map(e => ({ e })), lcg(seed + 1))), expected, 'node with every event')
  }), { numRuns: 200 })
})

test('G-6: without the purge\'s counters a node that skipped the accepts would hand out used joblist IDs (the counters matter)', () => {
  const h = history()
  const { events: p, cut } = purge(h, false)
  const all = [...h.events, ...p]
  const full = reduce(all)
  const s = emptyState()
  for (const x of skipping(all, cut)) 'e' in x ? apply(s, x.e) : skipTo(s, x.origin, x.skip)
  assert.notDeepEqual(s.acceptCount, full.acceptCount)
  const { events: withCounters } = purge(h, true)
  const s2 = emptyState()
  for (const x of skipping([...h.events, ...withCounters], cut)) 'e' in x ? apply(s2, x.e) : skipTo(s2, x.origin, x.skip)
  assert.deepEqual(s2.acceptCount, full.acceptCount)
})

test('G-6: an accept counts the master\'s ID counter it shows, the same in any order', () => {
  const s = emptyState()
  const acc = (seq: number, id: string): UnsignedEvent => ({ origin: 'M', seq, ts: seq, lc: 0, type: 'accept', body: { request: `C:${seq}`, id, term: 1, onLost: 'retry', maxLost: 3 } })
  apply(s, acc(1, 'mm-1'))
  apply(s, acc(2, 'mm-7'))
  apply(s, acc(3, 'mm-3'))
  assert.equal(s.acceptCount.M, 7)
  apply(s, acc(4, 'odd-id-x'))
  assert.equal(s.acceptCount.M, 8, 'an ID of another form counts one more')
})

test('G-6: cuts: seqs merge into ranges, split into pieces, record the same in any order, cover only what they name', () => {
  assert.deepEqual(cutOf([{ origin: 'b', seq: 3 }, { origin: 'a', seq: 2 }, { origin: 'b', seq: 1 }, { origin: 'b', seq: 2 }, { origin: 'b', seq: 7 }, { origin: 'b', seq: 3 }]), { a: [[2, 2]], b: [[1, 3], [7, 7]] })
  const cut = { a: [[1, 2], [4, 4], [9, 12]] as Array<[number, number]>, b: [[5, 5]] as Array<[number, number]> }
  const pieces = splitCut(cut, 2)
  assert.deepEqual(pieces, [{ a: [[1, 2], [4, 4]] }, { a: [[9, 12]], b: [[5, 5]] }])
  // Two purges of the same joblists, one knowing fewer events: nested ranges.
  const p1 = { o: [[1, 100]] as Array<[number, number]> }
  const p2 = { o: [[5, 6], [7, 8], [120, 130]] as Array<[number, number]> }
  const x: Record<string, CutRange[]> = {}
  const y: Record<string, CutRange[]> = {}
  addCut(x, 'P:1', p1); addCut(x, 'Q:1', p2)
  addCut(y, 'Q:1', p2); addCut(y, 'P:1', p1)
  assert.deepEqual(x, y, 'the same list in either order')
  assert.deepEqual(covering(x, 'o', 50, 60), ['P:1'])
  assert.deepEqual(covering(x, 'o', 7, 8)?.length, 1)
  assert.deepEqual(covering(x, 'o', 125, 130), ['Q:1'])
  assert.equal(covering(x, 'o', 99, 101), undefined, '101 is in no cut')
  assert.equal(covering(x, 'o', 119, 121), undefined)
  assert.equal(covering(x, 'other', 1, 1), undefined)
  const adj: Record<string, CutRange[]> = {}
  addCut(adj, 'P:1', { o: [[1, 4]] }); addCut(adj, 'P:2', { o: [[5, 9]] })
  assert.deepEqual(covering(adj, 'o', 3, 7)?.sort(), ['P:1', 'P:2'], 'adjacent ranges of two purges together')
  // Only events of one joblist are taken: never a purge, a mail, or the cluster's own events.
  const purged = purgedSetOf(['ab-1', 'C:1'])
  const ev = (type: string, body: unknown, seq = 1): UnsignedEvent => ({ origin: 'C', seq, ts: 1, lc: 0, type, body } as unknown as UnsignedEvent)
  assert.equal(purgeable(ev('submit', {}), purged), true)
  assert.equal(purgeable(ev('submit', {}, 2), purged), false)
  assert.equal(purgeable(ev('finished', { jobId: 'ab-1.1' }), purged), true)
  assert.equal(purgeable(ev('stop', { joblistId: 'ab-1' }, 9), purged), true, 'a stop belongs to its joblist')
  assert.equal(purgeable(ev('purge', { ids: ['ab-1'], requests: [] }), purged), false)
  assert.equal(purgeable(ev('mail', { ids: ['ab-1.failed.0'] }), purged), false)
  assert.equal(ownerOf(ev('node', {})), undefined)
})

test('G-6: a peer\'s purge with a malformed cut is refused; a purge that is only a cut is fine', () => {
  const base = { origin: 'o', seq: 1, ts: 1, lc: 0, type: 'purge', sig: 'x' }
  const body = (cut: unknown, extra: Record<string, unknown> = {}): unknown => ({ ...base, body: { before: 1, ids: [], requests: [], cut, ...extra } })
  assert.equal(checkEvent(body({ a: [[1, 3], [5, 9]] }, { counters: { a: 4 } })), null)
  for (const bad of [{ a: [[3, 1]] }, { a: [[0, 1]] }, { a: [[1, 3], [2, 5]] }, { a: [[5, 6], [1, 2]] }, { a: [] }, { a: [[1]] }, { a: 'x' }, [[1, 2]]]) {
    assert.match(checkEvent(body(bad)) ?? '', /bad purge cut/, JSON.stringify(bad))
  }
  assert.match(checkEvent(body({ a: Array.from({ length: 20_001 }, (_, i) => [2 * i + 1, 2 * i + 1]) })) ?? '', /bad purge cut/, 'too many ranges')
  assert.match(checkEvent(body({ a: [[1, 2]] }, { counters: { a: -1 } })) ?? '', /bad purge counters/)
  assert.match(checkEvent({ ...base, body: { before: 1, ids: [], requests: [] } }) ?? '', /names nothing/)
})
