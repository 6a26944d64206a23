// G-6: the LevelDB store records its schema version; a store from before versions gets one,
// an older one is upgraded step by step, a newer one is refused with what to do. And the
// fixture an earlier cisystem wrote (test/fixtures/store-v1) still opens, with its joblists.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import type { CisEvent } from '../../src/events/types.js'
import { apply } from '../../src/state/reducer.js'
import { emptyState } from '../../src/state/types.js'
import { SNAPSHOT_VERSION, STORE_SCHEMA } from '../../src/store/event-store.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { SCHEMA_KEY, StoreSchemaError, UPGRADES } from '../../src/store/upgrade.js'
import { eventSubjects } from '../../src/state/history.js'
import type { UpgradeStep } from '../../src/store/upgrade.js'
import { ROOT, cleanup, tempDir } from '../helpers/agent.js'
import { storeEvent } from './conformance.js'

/** The raw `meta` key of a closed store (undefined: none), and a way to set or delete it. */
async function rawMeta (path: string, key: string, value?: string | null): Promise<string | undefined> {
  const db = new Level<string, string>(path, { valueEncoding: 'utf8' })
  try {
    const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
    if (value === null) await meta.del(key)
    else if (value !== undefined) await meta.put(key, value)
    return await meta.get(key)
  } finally { await db.close() }
}

async function withDir (body: (path: string) => Promise<void>): Promise<void> {
  const dir = tempDir('cis-schema-')
  try { await body(join(dir, 'store')) } finally { cleanup(dir) }
}

async function all (store: LevelEventStore, origin: string): Promise<CisEvent[]> {
  const out: CisEvent[] = []
  for await (const e of store.readOrigin(origin, 0)) out.push(e)
  return out
}

test('G-6: a new store records the current schema at once', async () => {
  await withDir(async path => {
    const store = new LevelEventStore(path)
    await store.open()
    assert.equal(await store.schemaVersion(), STORE_SCHEMA)
    await store.close()
    assert.equal(await rawMeta(path, SCHEMA_KEY), String(STORE_SCHEMA))
  })
})

test('G-6: a store with data but no schema key (written before versions) is schema 1: the key is written, it is logged, the events are kept', async () => {
  await withDir(async path => {
    let store = new LevelEventStore(path)
    await store.open()
    const events = [storeEvent('a', 1), storeEvent('a', 2)]
    await store.write(events)
    await store.close()
    assert.equal(await rawMeta(path, SCHEMA_KEY, null), undefined, 'the key is gone, as in an old store')
    const logged: string[] = []
    // Opened by code that knows schema 1 at most (the upgrades past it have their own tests).
    store = new LevelEventStore(path, { log: m => logged.push(m), schema: { current: 1, steps: [] } })
    await store.open()
    try {
      assert.equal(await store.schemaVersion(), 1)
      assert.deepEqual(await all(store, 'a'), events)
    } finally { await store.close() }
    assert.equal(await rawMeta(path, SCHEMA_KEY), '1')
    assert.equal(logged.length, 1, logged.join('\n'))
    assert.match(logged[0], /before stores recorded a schema: recorded schema 1/)
  })
})

test('G-6: a store of a newer schema is refused, naming both versions and what to do; it is left as it was and closed', async () => {
  await withDir(async path => {
    const store = new LevelEventStore(path)
    await store.open()
    await store.write([storeEvent('a', 1)])
    await store.close()
    await rawMeta(path, SCHEMA_KEY, String(STORE_SCHEMA + 1))
    const newer = new LevelEventStore(path)
    await assert.rejects(newer.open(), (err: Error) => {
      assert.ok(err instanceof StoreSchemaError, err.message)
      assert.ok(err.message.includes(`written by a newer cisystem (store schema ${STORE_SCHEMA + 1})`), err.message)
      assert.ok(err.message.includes(`knows schema ${STORE_SCHEMA} at most`), err.message)
      assert.match(err.message, /Run that newer version, or restore a backup made for schema \d+ .*cis admin restore/)
      return true
    })
    // (rawMeta opens the store: the refused open released its lock.)
    assert.equal(await rawMeta(path, SCHEMA_KEY), String(STORE_SCHEMA + 1), 'the newer store was not written')
  })
})

test('G-6: a damaged schema key is refused, saying to restore a backup', async () => {
  await withDir(async path => {
    const store = new LevelEventStore(path)
    await store.open()
    await store.close()
    await rawMeta(path, SCHEMA_KEY, 'two')
    await assert.rejects(new LevelEventStore(path).open(), /no valid schema version \("two"\): it is damaged\. Restore a backup/)
  })
})

/** Upgrade steps for a pretend schema 3: 1→2 renames the origins key, 2→3 adds a marker. */
function pretendSteps (ran: string[], failAt?: number): UpgradeStep[] {
  const meta = (db: Level<string, string>): ReturnType<typeof db.sublevel<string, string>> => db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
  return [
    // Listed out of order on purpose: the chain follows `from`, not the list's order.
    {
      from: 2,
      to: 3,
      what: 'add a marker',
      run: async db => {
        ran.push(`2->3 saw schema ${await meta(db).get(SCHEMA_KEY) ?? 'none'}`)
        if (failAt === 3) throw new Error('disk full')
        await meta(db).put('marker', 'yes')
      }
    },
    {
      from: 1,
      to: 2,
      what: 'copy origins to origins2',
      run: async db => {
        ran.push(`1->2 saw schema ${await meta(db).get(SCHEMA_KEY) ?? 'none'}`)
        const origins = await meta(db).get('origins')
        if (origins !== undefined) await meta(db).put('origins2', origins)
      }
    }
  ]
}

/** A store made by a cisystem of schema 1. */
const schemaOne = (path: string): LevelEventStore => new LevelEventStore(path, { schema: { current: 1, steps: [] } })

test('G-6: an older store is upgraded by the chain of steps, in order, the key written after each; a failed step runs again on the next open', async () => {
  await withDir(async path => {
    const store = schemaOne(path)
    await store.open()
    await store.write([storeEvent('a', 1), storeEvent('b', 1)])
    await store.close()
    assert.equal(await rawMeta(path, SCHEMA_KEY), '1')

    // 1 → 2 works, 2 → 3 fails: the store stays at 2, refused for now.
    const ran: string[] = []
    const failing = new LevelEventStore(path, { schema: { current: 3, steps: pretendSteps(ran, 3) } })
    await assert.rejects(failing.open(), /the upgrade of the store at .* from schema 2 to 3 failed: disk full\. .*start the agent again/)
    assert.deepEqual(ran, ['1->2 saw schema 1', '2->3 saw schema 2'])
    assert.equal(await rawMeta(path, SCHEMA_KEY), '2', 'the finished step is recorded')
    assert.equal(await rawMeta(path, 'marker'), undefined)

    ran.length = 0
    const logged: string[] = []
    const upgraded = new LevelEventStore(path, { schema: { current: 3, steps: pretendSteps(ran) }, log: m => logged.push(m) })
    await upgraded.open()
    try {
      assert.deepEqual(ran, ['2->3 saw schema 2'], 'only the step not done yet runs')
      assert.equal(await upgraded.schemaVersion(), 3)
      assert.deepEqual([...await upgraded.origins()].sort(), ['a', 'b'])
      assert.deepEqual(logged.map(m => m.replace(/ at \S+ /, ' at PATH ')), ['upgrading the store at PATH from schema 2 to 3: add a marker'])
    } finally { await upgraded.close() }
    assert.equal(await rawMeta(path, SCHEMA_KEY), '3')
    assert.equal(await rawMeta(path, 'marker'), 'yes')
    assert.equal(await rawMeta(path, 'origins2'), JSON.stringify(['a', 'b']))
  })
})

test('G-6: a gap in the chain (no step from the store\'s schema) is refused, naming the versions', async () => {
  await withDir(async path => {
    const store = schemaOne(path)
    await store.open()
    await store.close()
    const only23 = pretendSteps([]).filter(s => s.from === 2)
    await assert.rejects(new LevelEventStore(path, { schema: { current: 3, steps: only23 } }).open(), (err: Error) => {
      assert.ok(err instanceof StoreSchemaError)
      assert.match(err.message, /cannot upgrade the store at .* from schema 1 to 3: .* has no upgrade from schema 1/)
      return true
    })
    assert.equal(await rawMeta(path, SCHEMA_KEY), '1', 'nothing was changed')
  })
})

test('G-6: every upgrade step of this code goes up one schema at a time, from 1 to STORE_SCHEMA', () => {
  const froms = UPGRADES.map(s => s.from).sort((a, b) => a - b)
  assert.deepEqual(froms, Array.from({ length: STORE_SCHEMA - 1 }, (_, i) => i + 1))
  for (const s of UPGRADES) assert.equal(s.to, s.from + 1, `step ${s.from}->${s.to}`)
})

test('G-6: the store an earlier cisystem wrote (test/fixtures/store-v1, copied) opens: its joblists replay, the schema key is written', async () => {
  const fixture = join(ROOT, 'test', 'fixtures', 'store-v1')
  const expected = JSON.parse(readFileSync(join(fixture, 'fixture.json'), 'utf8')) as { joblists: Array<{ id: string, name: string, state: string }>, origins: Record<string, number> }
  await withDir(async path => {
    // A copy: opening takes LevelDB's lock and writes, and a checkout may be read-only.
    cpSync(join(fixture, 'store'), path, { recursive: true })
    assert.equal(await rawMeta(path, SCHEMA_KEY), undefined, 'the fixture predates the schema key')
    const store = new LevelEventStore(path)
    await store.open()
    try {
      assert.equal(await store.schemaVersion(), STORE_SCHEMA, 'recorded as 1, then upgraded to the current schema')
      const state = emptyState()
      for (const origin of await store.origins()) for await (const e of store.readOrigin(origin, 0)) apply(state, e)
      assert.deepEqual(state.applied, expected.origins, 'every event is there')
      for (const jl of expected.joblists) assert.equal(state.joblists[jl.id]?.state, jl.state, `${jl.name} (${jl.id})`)
      // The 1 → 2 upgrade indexed the events by joblist (G-3): a joblist's history reads through it.
      for (const jl of expected.joblists) {
        const about: CisEvent[] = []
        for await (const e of store.readSubject(jl.id)) about.push(e)
        const types = about.map(e => e.type)
        assert.ok(types.includes('accept') && types.includes('finished'), `${jl.id}: ${types.join(',')}`)
        assert.ok(about.every(e => eventSubjects(e).includes(jl.id)))
      }
      // The fixture's snapshot has shape 2: read while that is current, ignored once the shape
      // changed (the events replay, as checked above).
      const snap = await store.loadSnapshot()
      if ((SNAPSHOT_VERSION as number) === 2) assert.notEqual(snap, undefined, 'its snapshot is still read')
      else assert.equal(snap, undefined, 'a snapshot of an older shape is ignored')
    } finally { await store.close() }
    assert.equal(await rawMeta(path, SCHEMA_KEY), String(STORE_SCHEMA))
  })
})
