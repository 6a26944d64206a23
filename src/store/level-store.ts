// The LevelDB event store (the default backend, G-1): sublevels `events` (key origin!seq),
// `subjects` (the events about each joblist, G-3: subject-index.ts), `snapshot` (the parts
// of the state snapshot, G-4: snapshot-parts.ts), `archive` and `archive-index` (ended
// joblists out of memory: state/archive.ts) and `meta` (known
// origins, the snapshot's version, the schema version: G-6, upgrade.ts).
import { Level } from 'level'
import type { CisEvent } from '../events/types.js'
import type { EventStore, SnapshotWrite, StoredSnapshot } from './event-store.js'
import { READABLE_SNAPSHOT_VERSIONS, STORE_SCHEMA } from './event-store.js'
import { StoreSchemaError, openSchema } from './upgrade.js'
import { parseSubjectKey, subjectKey } from './subject-index.js'
import { eventSubjects } from '../state/history.js'
import type { UpgradeStep } from './upgrade.js'
import { OwnJournal, journalPaths, missingFrom } from './own-journal.js'

export interface LevelStoreOptions {
  /** Told what opening did to the store (a schema recorded, an upgrade). */
  log?: (message: string) => void
  /** Tests only: another current schema and other upgrades than STORE_SCHEMA and UPGRADES. */
  schema?: { current: number, steps: readonly UpgradeStep[] }
  /**
   * Keep a journal of the node's own events (own-journal.ts: `journal`), as the agent does. A
   * store opened without it still writes into LevelDB what a journal left there holds and
   * LevelDB does not (a crash between the two).
   */
  journal?: boolean
}

/** An operation of a write batch, its key with its sublevel's prefix. */
type Op = { type: 'put', key: string, value: string } | { type: 'del', key: string }

const pad = (n: number): string => n.toString().padStart(12, '0')
const eventKey = (origin: string, seq: number): string => `${origin}!${pad(seq)}`

export class LevelEventStore implements EventStore {
  private readonly db: Level<string, string>
  private readonly events
  private readonly meta
  private readonly parts
  private readonly subjects
  private readonly archive
  private readonly archiveIndex
  /**
   * Each sublevel's prefix: a batch's operations name their keys whole, on the root database
   * (the same keys as the sublevel's own; a sublevel per operation cost abstract-level about a
   * third more of the main thread's time for each).
   */
  private readonly p: Record<'events' | 'meta' | 'parts' | 'subjects' | 'archive' | 'archiveIndex', string>
  private readonly knownOrigins = new Set<string>()
  private schema = 0
  /** With the `journal` option, once open: own events made durable ahead of their write (EventStore.journal). */
  journal?: OwnJournal

  constructor (readonly path: string, private readonly o: LevelStoreOptions = {}) {
    this.db = new Level<string, string>(path, { valueEncoding: 'utf8' })
    this.events = this.db.sublevel<string, string>('events', { valueEncoding: 'utf8' })
    this.meta = this.db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
    this.parts = this.db.sublevel<string, string>('snapshot', { valueEncoding: 'utf8' })
    this.subjects = this.db.sublevel<string, string>('subjects', { valueEncoding: 'utf8' })
    this.archive = this.db.sublevel<string, string>('archive', { valueEncoding: 'utf8' })
    this.archiveIndex = this.db.sublevel<string, string>('archive-index', { valueEncoding: 'utf8' })
    this.p = { events: this.events.prefix, meta: this.meta.prefix, parts: this.parts.prefix, subjects: this.subjects.prefix, archive: this.archive.prefix, archiveIndex: this.archiveIndex.prefix }
  }

  async open (): Promise<void> {
    try {
      await this.db.open()
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message
      throw new Error(`cannot open the store at ${this.path}: ${cause}. Is another agent using this data directory? If the store is corrupt, restore a backup or start with an empty --data directory.`)
    }
    try {
      this.schema = await openSchema(this.db, { path: this.path, current: this.o.schema?.current ?? STORE_SCHEMA, ...(this.o.schema !== undefined ? { steps: this.o.schema.steps } : {}), ...(this.o.log !== undefined ? { log: this.o.log } : {}) })
    } catch (err) {
      // Nothing of this store may be read or written: close it, so the lock goes with it.
      await this.db.close()
      throw err instanceof StoreSchemaError ? err : new Error(`cannot open the store at ${this.path}: ${(err as Error).message}. If the store is corrupt, restore a backup or start with an empty --data directory.`)
    }
    const origins = await this.meta.get('origins')
    if (origins !== undefined) for (const o of JSON.parse(origins) as string[]) this.knownOrigins.add(o)
    try {
      await this.recoverJournal()
      if (this.o.journal === true) this.journal = new OwnJournal(journalPaths(this.path))
    } catch (err) {
      await this.db.close()
      throw new Error(`cannot open the store at ${this.path}: its journal of own events: ${(err as Error).message}. Is the disk full, or the directory not writable?`)
    }
  }

  /** Write into LevelDB the journal's events it does not hold (the agent stopped between the two writes: own-journal.ts). */
  private async recoverJournal (): Promise<void> {
    const paths = journalPaths(this.path)
    const { events, damaged } = OwnJournal.read(paths)
    const missing: CisEvent[] = []
    for (const origin of new Set(events.map(e => e?.origin))) {
      if (typeof origin === 'string') missing.push(...missingFrom(events, origin, await this.topSeq(origin)))
    }
    if (missing.length > 0) {
      await this.write(missing)
      this.o.log?.(`wrote ${missing.length} own events from the journal into the store at ${this.path} (the agent stopped before it had written them)`)
    }
    if (damaged) this.o.log?.(`the journal of own events in ${this.path} ends in a torn or damaged line (the machine stopped while writing it?): read up to it`)
  }

  /** The highest seq of `origin` stored (0: none). */
  private async topSeq (origin: string): Promise<number> {
    for await (const key of this.events.keys({ gt: `${origin}!`, lt: `${origin}!~`, reverse: true, limit: 1 })) return Number(key.slice(origin.length + 1))
    return 0
  }

  async close (): Promise<void> {
    this.journal?.close()
    await this.db.close()
  }

  /**
   * One atomic write: the events, their subject entries, and the snapshot's and archive's
   * changes. Each operation goes into LevelDB's batch as it is made (a chained batch copies it
   * into native memory at once), so the event's JSON and every key are garbage before the write
   * is under way: held in an array until the write ended, they lived through the young
   * generation's collections of that time and were copied into the old one (a sixth of what an
   * observer's collections copied, issue 12).
   */
  async write (events: CisEvent[], snapshot?: SnapshotWrite): Promise<void> {
    // The reset's keys are read before the batch is made (no batch is left open across a read).
    const reset = snapshot?.reset === true ? await this.storedKeys() : undefined
    const batch = this.db.batch()
    let ops = 0
    const put = (key: string, value: string): void => { batch.put(key, value); ops++ }
    const del = (key: string): void => { batch.del(key); ops++ }
    const added = new Set<string>()
    try {
      for (const e of events) {
        put(this.p.events + eventKey(e.origin, e.seq), JSON.stringify(e))
        for (const s of eventSubjects(e)) put(this.p.subjects + subjectKey(s, e.origin, e.seq), '')
        if (!this.knownOrigins.has(e.origin)) added.add(e.origin)
      }
      if (added.size > 0) put(this.p.meta + 'origins', JSON.stringify([...this.knownOrigins, ...added]))
      if (snapshot !== undefined) {
        // A reset drops every stored part (and a whole-state snapshot of version <= 3) in the same batch.
        if (reset !== undefined) {
          for (const key of reset) del(key)
          del(this.p.meta + 'snapshot')
        }
        for (const key of snapshot.del) del(this.p.parts + key)
        for (const [key, value] of snapshot.put) put(this.p.parts + key, value)
        for (const d of snapshot.archive?.del ?? []) {
          del(this.p.archive + d.id)
          for (const key of d.index) del(this.p.archiveIndex + key)
        }
        for (const p of snapshot.archive?.put ?? []) {
          put(this.p.archive + p.id, p.bundle)
          for (const [key, value] of p.index) put(this.p.archiveIndex + key, value)
        }
        put(this.p.meta + 'snapshot-version', String(snapshot.version))
      }
    } catch (err) {
      await batch.close()
      throw err
    }
    if (ops > 0) await batch.write()
    else await batch.close()
    // Known only once written: a failed write leaves no trace, in memory or on disk.
    for (const o of added) this.knownOrigins.add(o)
    this.journal?.stored(events)
  }

  /** Every stored key of the snapshot's parts and the archive (with their sublevels' prefixes): what a reset deletes. */
  private async storedKeys (): Promise<string[]> {
    const keys: string[] = []
    for await (const key of this.parts.keys()) keys.push(this.p.parts + key)
    for await (const key of this.archive.keys()) keys.push(this.p.archive + key)
    for await (const key of this.archiveIndex.keys()) keys.push(this.p.archiveIndex + key)
    return keys
  }

  async reclaim (events: CisEvent[], done?: string): Promise<void> {
    const ops: Op[] = []
    for (const e of events) {
      ops.push({ type: 'del', key: this.p.events + eventKey(e.origin, e.seq) })
      for (const s of eventSubjects(e)) ops.push({ type: 'del', key: this.p.subjects + subjectKey(s, e.origin, e.seq) })
    }
    if (done !== undefined) ops.push({ type: 'put', key: this.p.meta + 'reclaimed', value: JSON.stringify([...await this.reclaimed(), done]) })
    if (ops.length > 0) await this.db.batch(ops)
  }

  async reclaimed (): Promise<string[]> {
    const v = await this.meta.get('reclaimed')
    return v === undefined ? [] : JSON.parse(v) as string[]
  }

  async * readOrigin (origin: string, after: number): AsyncIterable<CisEvent> {
    for await (const value of this.events.values({ gt: eventKey(origin, after), lt: `${origin}!~` })) {
      yield JSON.parse(value) as CisEvent
    }
  }

  async origins (): Promise<string[]> {
    return [...this.knownOrigins]
  }

  async getEvent (origin: string, seq: number): Promise<CisEvent | undefined> {
    const v = await this.events.get(eventKey(origin, seq))
    return v === undefined ? undefined : JSON.parse(v) as CisEvent
  }

  async * readSubject (subject: string): AsyncIterable<CisEvent> {
    for await (const key of this.subjects.keys({ gt: `${subject}!`, lt: `${subject}!~` })) {
      const { origin, seq } = parseSubjectKey(key)
      const e = await this.getEvent(origin, seq)
      if (e !== undefined) yield e
    }
  }

  async readArchive (id: string): Promise<string | undefined> {
    return await this.archive.get(id)
  }

  async * readArchiveIndex (range: { gte: string, lt: string, reverse?: boolean, limit?: number }): AsyncIterable<[string, string]> {
    yield * this.archiveIndex.iterator({ gte: range.gte, lt: range.lt, reverse: range.reverse === true, limit: range.limit ?? -1 })
  }

  async schemaVersion (): Promise<number> {
    return this.schema
  }

  async loadSnapshot (): Promise<StoredSnapshot | undefined> {
    const version = Number(await this.meta.get('snapshot-version'))
    if (!READABLE_SNAPSHOT_VERSIONS.has(version)) return undefined
    const parts: Array<[string, string]> = []
    for await (const [key, value] of this.parts.iterator()) parts.push([key, value])
    return { version, parts }
  }
}
