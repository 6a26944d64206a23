// S-6 / issue 12: a schedule keeps its latest MAX_SKIP_RECORDS skip records (a schedule whose
// runs overlap its instants writes a skip most instants: its record grew for good). The records
// kept are a function of the skips applied, in any order; the cursor counts every skip; a
// snapshot of version 7 (every skip kept) is read with its skips cut, and the next snapshot
// deletes the parts of those cut.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { UnsignedEvent } from '../../src/events/types.js'
import { stateHash } from '../../src/state/hash.js'
import { reduce } from '../../src/state/reducer.js'
import { MAX_SKIP_RECORDS } from '../../src/state/schedules.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { StoredSnapshot } from '../../src/store/event-store.js'
import { SNAPSHOT_VERSION } from '../../src/store/event-store.js'
import { SnapshotWriter, snapshotState, stateParts } from '../../src/store/snapshot-parts.js'
import { seededRandom } from '../../src/util/seeded-random.js'

const MIN = 60_000
const EXTRA = 37

/** One origin's skips of a minutely schedule (one instant each, overlap), then another origin's (a master after a failover). */
function skips (n: number): UnsignedEvent[] {
  const out: UnsignedEvent[] = []
  for (let i = 0; i < n; i++) {
    const origin = i < n / 2 ? 'M1' : 'M2'
    const seq = i < n / 2 ? i + 1 : i - Math.floor(n / 2) + 1
    const t = 1_700_000_000_000 + i * MIN
    out.push({ origin, seq, ts: t + 5, lc: 0, type: 'skip', body: { name: 'every-minute', from: t, to: t, count: 1, reason: 'overlap' } } as UnsignedEvent)
  }
  return out
}

function shuffled<T> (list: T[], seed: number): T[] {
  const rnd = seededRandom(seed)
  const a = [...list]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [a[i], a[j]] = [a[j], a[i]] }
  return a
}

/** Events of one origin in seq order (as the reducer requires), the origins interleaved at random. */
function interleaved (events: UnsignedEvent[], seed: number): UnsignedEvent[] {
  const by = new Map<string, UnsignedEvent[]>()
  for (const e of events) (by.get(e.origin) ?? by.set(e.origin, []).get(e.origin) as UnsignedEvent[]).push(e)
  const order = shuffled(events.map(e => e.origin), seed)
  return order.map(o => (by.get(o) as UnsignedEvent[]).shift() as UnsignedEvent)
}

test('S-6 / issue 12: a schedule keeps its latest skip records, the same in any order of arrival; its cursor counts every skip', () => {
  const events = skips(MAX_SKIP_RECORDS + EXTRA)
  const inOrder = reduce(events)
  const rec = inOrder.schedules['every-minute']
  assert.equal(rec.skips.length, MAX_SKIP_RECORDS)
  assert.deepEqual(rec.skips.map(s => s.from), events.slice(EXTRA).map(e => (e.body as { from: number }).from), 'the latest by position')
  assert.equal(rec.lastInstant, (events[events.length - 1].body as { to: number }).to)
  const hash = stateHash(inOrder)
  for (const seed of [1, 2, 3]) {
    const other = reduce(interleaved(events, seed))
    assert.equal(stateHash(other), hash, `order ${seed}`)
    assert.deepEqual(other.schedules['every-minute'].skips, rec.skips)
  }
})

test('S-6 / issue 12: a snapshot of version 7 holding every skip is read with its skips cut; the next snapshot deletes the parts of those cut', async () => {
  const events = skips(MAX_SKIP_RECORDS + EXTRA)
  const want = reduce(events)
  // As version 7 wrote it: a part for every skip.
  const all = reduce(events.slice(0, EXTRA))
  const later = reduce(events.slice(EXTRA))
  const parts = new Map([...stateParts(want)])
  for (const [k, v] of stateParts(all)) if (k.startsWith('skips!')) parts.set(k, v)
  for (const [k, v] of stateParts(later)) if (k.startsWith('skips!')) parts.set(k, v)
  assert.equal([...parts.keys()].filter(k => k.startsWith('skips!')).length, MAX_SKIP_RECORDS + EXTRA)
  const store = new MemoryEventStore()
  await store.write([], { version: 7, reset: true, put: [...parts], del: [] })
  const stored = await store.loadSnapshot() as StoredSnapshot
  assert.equal(stored.version, 7, 'read')
  const loaded = snapshotState(stored)
  assert.equal(loaded.schedules['every-minute'].skips.length, MAX_SKIP_RECORDS)
  assert.equal(stateHash(loaded), stateHash(want))
  const writer = new SnapshotWriter({ check: true })
  writer.seed(stored)
  const w = writer.next(loaded)
  assert.equal(w.version, SNAPSHOT_VERSION)
  assert.equal(w.del.filter(k => k.startsWith('skips!')).length, EXTRA, 'the parts of the skips cut go')
  await store.write([], w)
  const now = await store.loadSnapshot() as StoredSnapshot
  assert.equal(now.parts.filter(([k]) => k.startsWith('skips!')).length, MAX_SKIP_RECORDS)
  assert.equal(stateHash(snapshotState(now)), stateHash(want))
})
