// G-6 / issue 12: the purged set (src/state/purged.ts) that a node keeps for good, so that an
// event about a purged joblist that comes later adds nothing. Kept as bits (joblist IDs by their
// master's code, request keys by origin): it must hold exactly the keys added (a near miss is
// not purged), be the same state whatever order they were added in, cost a fraction of a byte a
// key, and a snapshot of version 8 (a part for every key) must be read into it, the next
// snapshot deleting those parts.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stateHash } from '../../src/state/hash.js'
import { purgeRecords } from '../../src/state/purge.js'
import { BLOCK_SPAN, addPurged, anyPurged, isPurged, purgedCount, purgedSetOf } from '../../src/state/purged.js'
import { emptyState } from '../../src/state/types.js'
import type { ClusterState } from '../../src/state/types.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { StoredSnapshot } from '../../src/store/event-store.js'
import { SNAPSHOT_VERSION } from '../../src/store/event-store.js'
import { SnapshotWriter, snapshotState, stateParts } from '../../src/store/snapshot-parts.js'
import { seededRandom } from '../../src/util/seeded-random.js'

const ORIGIN = '12D3KooWQmPx7cGuX1hJYx2C9vXfY3ryeZ8mXbLqC4s5pV6vT2kA'

test('G-6: the purged set holds exactly the keys added, near misses are not purged', () => {
  const added = [
    'kx3f-1', 'kx3f-959', `kx3f-${BLOCK_SPAN}`, 'kx3f-12345', 'ab-0', 'a-b-7',
    `${ORIGIN}:1`, `${ORIGIN}:${BLOCK_SPAN + 1}`, 'n-1:5', 'x:y:3',
    // Of other forms, kept whole: not a counter in canonical decimal, or none at all.
    'ab-01', 'weird', 'x:y', 'ab-1234567890123456', 'ab-', ':7', '-7'
  ]
  const set = purgedSetOf(added)
  for (const k of added) assert.equal(isPurged(set, k), true, `${k} is purged`)
  const misses = [
    'kx3f-2', 'kx3f-958', `kx3f-${BLOCK_SPAN + 1}`, 'kx3f-0', 'kx3g-1', 'kx3-1', 'ab-1', 'a-b-8', 'b-7',
    `${ORIGIN}:2`, `${ORIGIN}:0`, `${ORIGIN}x:1`, 'n-1:6', 'n:5', 'y:3', 'x:y:03',
    'ab-001', 'weird2', 'x:z', 'ab-123456789012345', 'kx3f-1.1', 'kx3f'
  ]
  for (const k of misses) assert.equal(isPurged(set, k), false, `${k} is not purged`)
  assert.equal(purgedCount(set), added.length)
  assert.equal(anyPurged(set), true)
  assert.equal(anyPurged(purgedSetOf([])), false)
  assert.deepEqual(Object.keys(set.purged).sort(), ['-7', ':7', 'ab-', 'ab-01', 'ab-1234567890123456', 'weird', 'x:y'], 'only keys of other forms are kept whole')
})

test('G-6: the purged set is the keys added and nothing else, for any keys (property)', () => {
  const key = fc.oneof(
    fc.tuple(fc.constantFrom('kx3f', 'ab', 'q-r'), fc.integer({ min: 0, max: 4 * BLOCK_SPAN })).map(([c, n]) => `${c}-${n}`),
    fc.tuple(fc.constantFrom(ORIGIN, 'M1', 'n-2'), fc.integer({ min: 0, max: 4 * BLOCK_SPAN })).map(([o, s]) => `${o}:${s}`),
    fc.string({ maxLength: 6 })
  )
  fc.assert(fc.property(fc.uniqueArray(key, { maxLength: 60 }), fc.uniqueArray(key, { maxLength: 60 }), (added, probes) => {
    const set = purgedSetOf(added)
    const want = new Set(added)
    for (const k of [...added, ...probes]) assert.equal(isPurged(set, k), want.has(k), k)
    assert.equal(purgedCount(set), want.size)
  }), { numRuns: 300 })
})

function shuffled<T> (list: T[], seed: number): T[] {
  const rnd = seededRandom(seed)
  const a = [...list]
  for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [a[i], a[j]] = [a[j], a[i]] }
  return a
}

test('G-6: the same keys in any order give the same purged set and state hash', () => {
  const keys: string[] = []
  for (let i = 1; i <= 3000; i += 3) keys.push(`kx3f-${i}`, `${ORIGIN}:${4 * i}`)
  keys.push('odd-01', 'M1:7')
  const states = [1, 2, 3].map(seed => {
    const s = emptyState()
    for (const k of shuffled(keys, seed)) addPurged(s, k)
    return s
  })
  for (const s of states.slice(1)) {
    assert.deepEqual({ ids: s.purgedIds, requests: s.purgedRequests, other: s.purged }, { ids: states[0].purgedIds, requests: states[0].purgedRequests, other: states[0].purged })
    assert.equal(stateHash(s), stateHash(states[0]))
  }
  // Adding a key already there changes nothing.
  const again = emptyState()
  for (const k of [...keys, ...keys.slice(0, 50)]) addPurged(again, k)
  assert.equal(stateHash(again), stateHash(states[0]))
})

test('G-6 / issue 12: 100,000 purged joblists cost a few hundred snapshot parts and under 4 bytes each, not a part a key', () => {
  const s = emptyState()
  const ids: string[] = []
  const requests: string[] = []
  // One master's IDs in a row; requests from two origins, each writing other events between its submits.
  for (let i = 1; i <= 100_000; i++) {
    ids.push(`kx3f-${i}`)
    requests.push(`${i % 2 === 0 ? ORIGIN : 'M1'}:${4 * Math.ceil(i / 2)}`)
  }
  purgeRecords(s, ids, requests)
  const parts = [...stateParts(s)].filter(([k]) => k.startsWith('purged'))
  const bytes = parts.reduce((n, [k, v]) => n + k.length + v.length, 0)
  assert.equal(purgedCount(s), 200_000)
  assert.ok(parts.length <= Math.ceil(100_000 / BLOCK_SPAN) + 2 * Math.ceil(200_000 / BLOCK_SPAN) + 3, `${parts.length} parts`)
  assert.ok(bytes / 100_000 < 4, `${(bytes / 100_000).toFixed(2)} bytes a purged joblist`)
  for (const k of [ids[0], ids[99_999], requests[0], requests[99_999]]) assert.equal(isPurged(s, k), true)
  assert.equal(isPurged(s, 'kx3f-100001'), false)
  assert.equal(isPurged(s, `${ORIGIN}:2`), false, 'a seq between two submits')
})

/** A state holding these purged keys, and the parts a snapshot of version 8 held for it (a part a key). */
function version8 (keys: string[]): { want: ClusterState, parts: Array<[string, string]> } {
  const want = emptyState()
  purgeRecords(want, keys.filter(k => !k.includes(':')), keys.filter(k => k.includes(':')))
  const parts: Array<[string, string]> = [...stateParts(want)].filter(([k]) => !k.startsWith('purged'))
  for (const k of keys) parts.push([`purged!${k}`, 'true'])
  return { want, parts }
}

test('G-6: a snapshot of version 8 (a part a purged key) is read into the bits; the next snapshot deletes those parts and writes the blocks', async () => {
  const keys = ['kx3f-1', 'kx3f-2', 'kx3f-4000', `${ORIGIN}:9`, `${ORIGIN}:13`, 'odd-01']
  const { want, parts } = version8(keys)
  const store = new MemoryEventStore()
  await store.write([], { version: 8, reset: true, put: parts, del: [] })
  const stored = await store.loadSnapshot() as StoredSnapshot
  assert.equal(stored.version, 8, 'read')
  const loaded = snapshotState(stored)
  for (const k of keys) assert.equal(isPurged(loaded, k), true, k)
  assert.equal(isPurged(loaded, 'kx3f-3'), false)
  assert.deepEqual(Object.keys(loaded.purged), ['odd-01'], 'only the key of another form stays whole')
  assert.equal(stateHash(loaded), stateHash(want))
  const writer = new SnapshotWriter({ check: true })
  writer.seed(stored)
  const w = writer.next(loaded)
  assert.equal(w.version, SNAPSHOT_VERSION)
  assert.deepEqual(w.del.sort(), keys.filter(k => k !== 'odd-01').map(k => `purged!${k}`).sort(), 'the parts of the keys now in blocks go')
  assert.deepEqual(w.put.map(([k]) => k).sort(), ['purgedIds!kx3f#0', 'purgedIds!kx3f#4', `purgedRequests!${ORIGIN}#0`])
  await store.write([], w)
  const now = await store.loadSnapshot() as StoredSnapshot
  assert.equal(now.version, SNAPSHOT_VERSION)
  assert.equal(now.parts.filter(([k]) => k.startsWith('purged')).length, 4)
  assert.equal(stateHash(snapshotState(now)), stateHash(want))
})
