// G-1: every event store backend passes the same conformance tests (test/store/conformance.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import type { CisEvent } from '../../src/events/types.js'
import type { EventStore } from '../../src/store/event-store.js'
import { FaultyStore } from '../../src/store/faulty-store.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { cleanup, tempDir } from '../helpers/agent.js'
import { storeConformance, storeEvent } from './conformance.js'
import type { StoreUnderTest } from './conformance.js'

async function opened<S extends EventStore> (store: S): Promise<S> {
  await store.open()
  return store
}

/** A LevelDB store in a temp dir; `wrap` puts a wrapper around each store opened on it. */
async function levelStore (wrap: (s: EventStore) => EventStore = s => s): Promise<StoreUnderTest> {
  const dir = tempDir('cis-store-')
  const path = join(dir, 'store')
  return {
    store: await opened(wrap(new LevelEventStore(path))),
    reopen: async () => await opened(wrap(new LevelEventStore(path))),
    cleanup: () => cleanup(dir)
  }
}


storeConformance({ name: 'LevelDB', make: async () => await levelStore() })

storeConformance({
  name: 'memory',
  make: async () => ({ store: await opened(new MemoryEventStore()), cleanup: () => {} })
})

storeConformance({ name: 'faulty(LevelDB), no faults', make: async () => await levelStore(s => new FaultyStore(s)) })

storeConformance({
  name: 'faulty(memory), no faults',
  make: async () => ({ store: await opened(new FaultyStore(new MemoryEventStore())), cleanup: () => {} })
})

test('D-3 [LevelDB]: a write that fails leaves nothing behind, not even its new origin, so a later write of that origin is found after a restart', async () => {
  const s = await levelStore()
  let store = s.store
  try {
    await store.write([storeEvent('a', 1)])
    // A write that fails (an event that cannot be serialised) and holds a new origin.
    const bad = { ...storeEvent('c', 2), body: { joblistId: 1n } } as unknown as CisEvent
    await assert.rejects(store.write([storeEvent('b', 1), bad]))
    assert.deepEqual(await store.getEvent('b', 1), undefined, 'the failed write wrote no event')
    assert.deepEqual([...await store.origins()].sort(), ['a'], 'origins() is as before the failed write')
    await store.write([storeEvent('b', 1)])
    await store.close()
    store = await s.reopen?.() as EventStore
    assert.deepEqual([...await store.origins()].sort(), ['a', 'b'], 'after a restart origins() lists b, whose event is stored')
  } finally {
    try { await store.close() } finally { await s.cleanup() }
  }
})
