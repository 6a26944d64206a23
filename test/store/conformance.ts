// The event store's contract (G-1), as tests any backend can be run against: give a factory,
// get the same tests. A backend that can be closed and opened again on the same data also
// gets the restart test (D-3).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CisEvent, EventType } from '../../src/events/types.js'
import type { EventStore, StoredSnapshot } from '../../src/store/event-store.js'
import { SnapshotWriter, fullSnapshot, snapshotState } from '../../src/store/snapshot-parts.js'
import { SNAPSHOT_VERSION, STORE_SCHEMA } from '../../src/store/event-store.js'
import { apply } from '../../src/state/reducer.js'
import type { ClusterState } from '../../src/state/types.js'
import { emptyState } from '../../src/state/types.js'

const seqKeys = (events: CisEvent[]): string[] => events.map(e => `${e.origin}:${e.seq}`)

/** The state a loaded snapshot holds (failing if there is none). */
function stateOf (s: StoredSnapshot | undefined): ClusterState {
  assert.ok(s !== undefined, 'a snapshot is stored')
  return snapshotState(s)
}

export interface StoreUnderTest {
  store: EventStore
  /** Close nothing: the test closes `store` first. Open a new store on the same data. */
  reopen?: () => Promise<EventStore>
  /** Remove what the store left behind (files). Called after the store is closed. */
  cleanup: () => Promise<void> | void
}

export interface StoreFactory {
  name: string
  /** A fresh, opened, empty store. */
  make: () => Promise<StoreUnderTest>
}

/** An event shaped like a real one (not signed: the store does not check signatures). */
export function storeEvent (origin: string, seq: number, type: EventType = 'stop'): CisEvent {
  const body = type === 'stop' ? { joblistId: `jl-${origin}-${seq}` } : { term: seq }
  return { origin, seq, ts: 1_700_000_000_000 + seq, lc: seq % 3, type, body, sig: `sig-${origin}-${seq}` } as CisEvent
}

/** A real ClusterState, not the empty one: a node, a submit request, a stop. */
export function sampleState (): ClusterState {
  const s = emptyState()
  const events: CisEvent[] = [
    { origin: 'node-a', seq: 1, ts: 1000, lc: 0, type: 'node', body: { name: 'a', priority: 3, profiles: ['gpu'], resources: { slot: ['s0', 's1'] }, api: 'http://127.0.0.1:1', addresses: [], version: 't' }, sig: '' },
    { origin: 'node-a', seq: 2, ts: 1001, lc: 0, type: 'submit', body: { owner: 'me', spec: { name: 'jl', priority: 0, tags: ['t'], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 }, env: { A: 'b' }, retries: 0, replace: {}, files: [] }] }] } }, sig: '' },
    { origin: 'node-b', seq: 1, ts: 1002, lc: 4, type: 'stop', body: { joblistId: 'nope' }, sig: '' }
  ]
  for (const e of events) apply(s, e)
  return s
}

async function collect (it: AsyncIterable<CisEvent>): Promise<CisEvent[]> {
  const out: CisEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

const seqs = (events: CisEvent[]): number[] => events.map(e => e.seq)
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Register the conformance tests for one backend. */
export function storeConformance (f: StoreFactory): void {
  const title = (id: string, what: string): string => `${id} [${f.name}]: ${what}`

  /** Run `body` on a fresh store; always close it and clean up. */
  async function withStore (body: (s: StoreUnderTest) => Promise<void>): Promise<void> {
    const s = await f.make()
    try {
      await body(s)
    } finally {
      try { await s.store.close() } finally { await s.cleanup() }
    }
  }

  test(title('G-1', 'events written are read back per origin, in seq order (across writes, beyond seq 9)'), async () => {
    await withStore(async ({ store }) => {
      // Two origins, interleaved, over several writes; seq 10+ catches a sort by text.
      const a = range(1, 12).map(n => storeEvent('node-a', n))
      const b = range(1, 11).map(n => storeEvent('node-b', n, 'master'))
      await store.write([a[0], b[0], a[1]])
      await store.write([b[1], b[2], a[2], a[3], a[4]])
      await store.write([...a.slice(5), ...b.slice(3)])
      await store.write([a[5]]) // written twice: still once
      assert.deepEqual(await collect(store.readOrigin('node-a', 0)), a)
      assert.deepEqual(await collect(store.readOrigin('node-b', 0)), b)
      assert.deepEqual(await collect(store.readOrigin('node-c', 0)), [], 'an origin never written has no events')
    })
  })

  test(title('G-1', 'readOrigin(origin, after) gives only the events with seq > after'), async () => {
    await withStore(async ({ store }) => {
      // Origins where one's name is a prefix of the other's must not mix.
      await store.write(range(1, 12).map(n => storeEvent('n1', n)))
      await store.write(range(1, 3).map(n => storeEvent('n10', n)))
      for (let after = 0; after <= 13; after++) {
        assert.deepEqual(seqs(await collect(store.readOrigin('n1', after))), range(after + 1, 12), `after ${after}`)
      }
      assert.deepEqual(seqs(await collect(store.readOrigin('n10', 1))), [2, 3])
      assert.ok((await collect(store.readOrigin('n1', 0))).every(e => e.origin === 'n1'))
    })
  })

  test(title('G-1', 'origins() lists every origin written, once'), async () => {
    await withStore(async ({ store }) => {
      assert.deepEqual(await store.origins(), [], 'an empty store has no origins')
      await store.write([storeEvent('x', 1), storeEvent('y', 1)])
      await store.write([storeEvent('x', 2), storeEvent('z', 1)])
      await store.write([], fullSnapshot(sampleState()))
      const origins = await store.origins()
      assert.deepEqual([...origins].sort(), ['x', 'y', 'z'])
    })
  })

  test(title('G-1', 'getEvent gives the event written at (origin, seq), undefined where there is none'), async () => {
    await withStore(async ({ store }) => {
      const events = [storeEvent('p', 1), storeEvent('p', 2, 'master'), storeEvent('q', 1)]
      await store.write(events)
      assert.deepEqual(await store.getEvent('p', 2), events[1])
      assert.deepEqual(await store.getEvent('q', 1), events[2])
      assert.equal(await store.getEvent('p', 3), undefined, 'a seq beyond the last')
      assert.equal(await store.getEvent('p', 0), undefined, 'seq 0')
      assert.equal(await store.getEvent('r', 1), undefined, 'an unknown origin')
    })
  })

  test(title('G-3', 'readSubject gives the events about a joblist (or request), in (origin, seq) order, and no others'), async () => {
    await withStore(async ({ store }) => {
      const e = (origin: string, seq: number, type: EventType, body: unknown): CisEvent => ({ origin, seq, ts: 1000 + seq, lc: 0, type, body, sig: '' } as CisEvent)
      const events = [
        e('m', 1, 'accept', { request: 'c:1', id: 'ab12-1', term: 1, onLost: 'retry', maxLost: 3 }),
        e('m', 2, 'assign', { jobId: 'ab12-1.1', attempt: 1, node: 'n', resources: {}, term: 1 }),
        e('m', 3, 'accept', { request: 'c:2', id: 'ab12-12', term: 1, onLost: 'retry', maxLost: 3 }),
        e('n', 1, 'finished', { jobId: 'ab12-1.1', attempt: 1, state: 'succeeded', exitCode: 0, signal: null }),
        e('n', 2, 'node', { name: 'n', priority: 0, profiles: [], resources: {}, api: '', addresses: [], version: 't' })
      ]
      await store.write(events.slice(0, 2))
      await store.write(events.slice(2))
      assert.deepEqual(seqKeys(await collect(store.readSubject('ab12-1'))), ['m:1', 'm:2', 'n:1'], 'not ab12-12 (a longer ID with the same start)')
      assert.deepEqual(seqKeys(await collect(store.readSubject('c:2'))), ['m:3'])
      assert.deepEqual(await collect(store.readSubject('zz99-1')), [])
    })
  })

  test(title('G-6', 'reclaim takes events out of the log with their subject entries, records the purge done, leaves the rest'), async () => {
    await withStore(async ({ store }) => {
      const events = range(1, 6).map(n => storeEvent('a', n))
      await store.write(events)
      assert.deepEqual(await store.reclaimed(), [])
      await store.reclaim([events[1], events[2]])
      await store.reclaim([events[3]], 'p:7')
      assert.deepEqual(seqs(await collect(store.readOrigin('a', 0))), [1, 5, 6], 'a gap where they were')
      assert.equal(await store.getEvent('a', 3), undefined)
      assert.deepEqual(await collect(store.readSubject('jl-a-3')), [], 'their subject entries go too')
      assert.deepEqual(seqKeys(await collect(store.readSubject('jl-a-5'))), ['a:5'])
      await store.reclaim([], 'p:9')
      assert.deepEqual(await store.reclaimed(), ['p:7', 'p:9'])
      // Events after the gap are written and read as always.
      await store.write([storeEvent('a', 7)])
      assert.deepEqual(seqs(await collect(store.readOrigin('a', 2))), [5, 6, 7])
    })
  })

  test(title('G-1', 'a snapshot round-trips (deep equal); a later one replaces it; none at first'), async () => {
    await withStore(async ({ store }) => {
      assert.equal(await store.loadSnapshot(), undefined, 'no snapshot in an empty store')
      const first = sampleState()
      await store.write([], fullSnapshot(first))
      assert.deepEqual(stateOf(await store.loadSnapshot()), first)
      const second = sampleState()
      second.applied['node-c'] = 7
      await store.write([], fullSnapshot(second))
      assert.deepEqual(stateOf(await store.loadSnapshot()), second)
      // What was written is a copy: changing the caller's object later changes nothing stored.
      second.applied['node-c'] = 8
      assert.equal(stateOf(await store.loadSnapshot()).applied['node-c'], 7)
    })
  })

  test(title('G-4', 'a snapshot written as changes (parts put and deleted) gives the state it was made from; a reset drops what was stored'), async () => {
    await withStore(async ({ store }) => {
      const state = sampleState()
      const w = new SnapshotWriter()
      const first = w.next(state)
      assert.equal(first.reset, true, 'nothing known of what is stored: the first write replaces it all')
      await store.write([], first)
      w.committed(first)
      // Change one entry, add one, remove one: only those parts are written.
      state.applied['node-a'] = 99
      state.terms['node-z'] = 4
      const gone = Object.keys(state.applied).find(k => k !== 'node-a') as string
      delete state.applied[gone]
      const change = w.next(state)
      assert.equal(change.reset, false)
      assert.deepEqual(change.put.map(([k]) => k).sort(), ['applied!node-a', 'terms!node-z'])
      assert.deepEqual(change.del, [`applied!${gone}`])
      await store.write([], change)
      w.committed(change)
      assert.deepEqual(stateOf(await store.loadSnapshot()), state)
      assert.deepEqual(w.next(state).put, [], 'nothing changed: nothing to write')
      // A new writer (a restart that found no usable snapshot) resets: stale parts go.
      const fresh = sampleState()
      await store.write([], new SnapshotWriter().next(fresh))
      assert.deepEqual(stateOf(await store.loadSnapshot()), fresh)
      // A writer seeded from what is stored writes changes again.
      const seeded = new SnapshotWriter()
      seeded.seed(await store.loadSnapshot() as StoredSnapshot)
      assert.equal(seeded.next(fresh).reset, false)
      assert.deepEqual(seeded.next(fresh).put, [])
    })
  })

  test(title('G-1', 'a snapshot of another version is ignored (loadSnapshot gives undefined)'), async () => {
    await withStore(async ({ store }) => {
      await store.write([], { ...fullSnapshot(sampleState()), version: SNAPSHOT_VERSION + 1 })
      assert.equal(await store.loadSnapshot(), undefined)
    })
  })

  test(title('G-1', 'a snapshot of version 5 (whose queue was a part) is read, its queue derived from the joblists'), async () => {
    await withStore(async ({ store }) => {
      const state = sampleState()
      const v5 = fullSnapshot(state)
      await store.write([], { ...v5, version: 5, put: [...v5.put, ['queue', '["not-a-joblist"]']] })
      const stored = await store.loadSnapshot()
      assert.equal(stored?.version, 5)
      assert.deepEqual(stateOf(stored), state)
    })
  })

  test(title('G-1', 'events and a snapshot written in one write are both there'), async () => {
    await withStore(async ({ store }) => {
      const events = [storeEvent('node-a', 1), storeEvent('node-a', 2), storeEvent('node-b', 1)]
      const state = sampleState()
      await store.write(events, fullSnapshot(state))
      assert.deepEqual(await collect(store.readOrigin('node-a', 0)), events.slice(0, 2))
      assert.deepEqual(await collect(store.readOrigin('node-b', 0)), events.slice(2))
      assert.deepEqual(stateOf(await store.loadSnapshot()), state)
    })
  })

  test(title('G-1', 'an empty write succeeds and changes nothing'), async () => {
    await withStore(async ({ store }) => {
      await store.write([])
      assert.deepEqual(await store.origins(), [])
      assert.equal(await store.loadSnapshot(), undefined)
      const events = [storeEvent('a', 1), storeEvent('a', 2)]
      await store.write(events)
      await store.write([], undefined)
      assert.deepEqual(await collect(store.readOrigin('a', 0)), events)
      assert.deepEqual(await store.origins(), ['a'])
      assert.equal(await store.loadSnapshot(), undefined)
    })
  })

  test(title('G-6', 'an opened store has the current schema version (STORE_SCHEMA), before and after writes'), async () => {
    await withStore(async ({ store }) => {
      assert.equal(await store.schemaVersion(), STORE_SCHEMA, 'a new, empty store')
      await store.write([storeEvent('a', 1)], fullSnapshot(sampleState()))
      assert.equal(await store.schemaVersion(), STORE_SCHEMA, 'after a write')
      assert.deepEqual(await store.origins(), ['a'], 'the schema is no origin')
    })
  })

  test(title('G-6', 'a reopened store keeps its schema version and its events'), async (t) => {
    const s = await f.make()
    let store = s.store
    try {
      if (s.reopen === undefined) { t.skip(`${f.name} keeps nothing across a reopen`); return }
      await store.write([storeEvent('a', 1), storeEvent('a', 2)])
      await store.close()
      store = await s.reopen()
      assert.equal(await store.schemaVersion(), STORE_SCHEMA)
      assert.deepEqual(seqs(await collect(store.readOrigin('a', 0))), [1, 2])
    } finally {
      try { await store.close() } finally { await s.cleanup() }
    }
  })

  test(title('D-3', 'after close and reopen, every event, origin and the snapshot are still there'), async (t) => {
    const s = await f.make()
    let store = s.store
    try {
      if (s.reopen === undefined) { t.skip(`${f.name} keeps nothing across a reopen`); return }
      const a = range(1, 15).map(n => storeEvent('node-a', n))
      const b = range(1, 4).map(n => storeEvent('node-b', n, 'master'))
      const state = sampleState()
      await store.write(a.slice(0, 10))
      await store.write([...b, ...a.slice(10)], fullSnapshot(state))
      await store.close()
      store = await s.reopen()
      assert.deepEqual([...await store.origins()].sort(), ['node-a', 'node-b'])
      assert.deepEqual(await collect(store.readOrigin('node-a', 0)), a)
      assert.deepEqual(await collect(store.readOrigin('node-b', 2)), b.slice(2))
      assert.deepEqual(await store.getEvent('node-a', 12), a[11])
      assert.deepEqual(stateOf(await store.loadSnapshot()), state)
      // And it takes more writes after the restart, for an origin it knew and a new one.
      await store.write([storeEvent('node-a', 16), storeEvent('node-c', 1)])
      await store.close()
      store = await s.reopen()
      assert.deepEqual([...await store.origins()].sort(), ['node-a', 'node-b', 'node-c'])
      assert.deepEqual(seqs(await collect(store.readOrigin('node-a', 14))), [15, 16])
    } finally {
      try { await store.close() } finally { await s.cleanup() }
    }
  })
}
