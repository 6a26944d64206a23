// The store's schema on open (G-6): which layout a LevelDB store has, and the upgrades that
// bring an older one to STORE_SCHEMA. The version is the `schema` key of the `meta` sublevel.
//
//   no key, no data        a new store: it gets STORE_SCHEMA
//   no key, data           written before stores had a version: the layout of schema 1
//   older than STORE_SCHEMA  upgraded step by step (UPGRADES), the key written after each step
//   newer than STORE_SCHEMA  refused: this code cannot read it, nor may it write into it
//
// A layout change adds one step to UPGRADES and bumps STORE_SCHEMA (event-store.ts), and
// makes a fixture of the old layout for its test (scripts/make-store-fixture.mjs).
import type { Level } from 'level'
import { VERSION } from '../version.js'
import type { CisEvent } from '../events/types.js'
import { subjectKey } from './subject-index.js'
import { eventSubjects } from '../state/history.js'

/** The key, in the `meta` sublevel, that holds the schema version (a decimal integer). */
export const SCHEMA_KEY = 'schema'

/** The schema of a store written before stores recorded one. */
export const UNVERSIONED_SCHEMA = 1

export interface UpgradeStep {
  from: number
  to: number
  /** What the step changes, for the log. */
  what: string
  /**
   * Rewrite the store from schema `from` to `to`. The key is written only after it returns, so
   * a step the agent did not finish (a crash, a full disk) runs again on the next open: make
   * it idempotent, or write its changes in one batch.
   */
  run: (db: Level<string, string>) => Promise<void>
}

/** How many index entries one batch of an upgrade writes. */
const UPGRADE_BATCH = 10_000

/**
 * Every upgrade, oldest first.
 *   1 → 2: the `subjects` sublevel, an index of the events about each joblist (G-3: history
 *          reads what it shows, not every event); built from the stored events, in batches
 *          (idempotent: a key written twice is the same key).
 *   2 → 3: the `archive` and `archive-index` sublevels (ended joblists out of memory); an
 *          older store has nothing archived, so the step only records the new schema.
 *   3 → 4: the journal of own events (own-journal.ts); nothing to move.
 */
export const UPGRADES: readonly UpgradeStep[] = [
  {
    from: 1,
    to: 2,
    what: 'index the events by the joblist they are about (for cis history)',
    run: async db => {
      const events = db.sublevel<string, string>('events', { valueEncoding: 'utf8' })
      const subjects = db.sublevel<string, string>('subjects', { valueEncoding: 'utf8' })
      let ops: Array<{ type: 'put', key: string, value: string }> = []
      for await (const value of events.values()) {
        const e = JSON.parse(value) as CisEvent
        for (const s of eventSubjects(e)) ops.push({ type: 'put', key: subjectKey(s, e.origin, e.seq), value: '' })
        if (ops.length >= UPGRADE_BATCH) { await subjects.batch(ops); ops = [] }
      }
      if (ops.length > 0) await subjects.batch(ops)
    }
  },
  {
    from: 2,
    to: 3,
    what: 'make room for an archive of ended joblists (nothing is archived yet: nothing to move)',
    run: async () => {}
  },
  {
    from: 3,
    to: 4,
    what: 'keep a journal of own events beside LevelDB (an older store has none: nothing to move)',
    run: async () => {}
  }
]

export interface SchemaOptions {
  /** Where the store is, for messages. */
  path: string
  /** The schema this code writes (STORE_SCHEMA; tests give others). */
  current: number
  steps?: readonly UpgradeStep[]
  /** Told what was done to the store (an upgrade, a version recorded). */
  log?: (message: string) => void
}

/** The store's schema is one this code cannot use (or its upgrade failed); the message says what to do. */
export class StoreSchemaError extends Error {
  override name = 'StoreSchemaError'
}

/** Read (and record, or upgrade to `current`) the schema of an open store; its version. */
export async function openSchema (db: Level<string, string>, o: SchemaOptions): Promise<number> {
  const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
  const raw = await meta.get(SCHEMA_KEY)
  let version: number
  if (raw === undefined) {
    if (await isEmpty(db)) {
      await meta.put(SCHEMA_KEY, String(o.current))
      return o.current
    }
    version = UNVERSIONED_SCHEMA
    await meta.put(SCHEMA_KEY, String(version))
    o.log?.(`the store at ${o.path} was written before stores recorded a schema: recorded schema ${version}`)
  } else {
    version = Number(raw)
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new StoreSchemaError(`the store at ${o.path} has no valid schema version (${JSON.stringify(raw.slice(0, 40))}): it is damaged. Restore a backup ('cis admin restore FILE --data DIR'), or start with an empty --data directory (peers send the cluster's events back).`)
    }
  }
  if (version > o.current) {
    throw new StoreSchemaError(`the store at ${o.path} was written by a newer cisystem (store schema ${version}); this one (${VERSION}) knows schema ${o.current} at most. Run that newer version, or restore a backup made for schema ${o.current} into an empty --data directory ('cis admin restore FILE --data DIR').`)
  }
  const steps = o.steps ?? UPGRADES
  while (version < o.current) {
    const step = steps.find(s => s.from === version)
    if (step === undefined || step.to <= step.from || step.to > o.current) {
      throw new StoreSchemaError(`cannot upgrade the store at ${o.path} from schema ${version} to ${o.current}: this cisystem (${VERSION}) has no upgrade from schema ${version} (a bug). Run the version that wrote it, or restore a backup into an empty --data directory ('cis admin restore FILE --data DIR').`)
    }
    o.log?.(`upgrading the store at ${o.path} from schema ${step.from} to ${step.to}: ${step.what}`)
    try {
      await step.run(db)
      await meta.put(SCHEMA_KEY, String(step.to))
    } catch (err) {
      throw new StoreSchemaError(`the upgrade of the store at ${o.path} from schema ${step.from} to ${step.to} failed: ${(err as Error).message}. Fix that (e.g. free disk space) and start the agent again: the upgrade starts over from schema ${step.from}.`)
    }
    version = step.to
  }
  return version
}

async function isEmpty (db: Level<string, string>): Promise<boolean> {
  for await (const _key of db.keys({ limit: 1 })) return false
  return true
}
