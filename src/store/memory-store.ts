// An event store in memory: for tests of the node without a disk, and the core's tests.
import type { CisEvent } from '../events/types.js'
import type { EventStore, SnapshotWrite, StoredSnapshot } from './event-store.js'
import { READABLE_SNAPSHOT_VERSIONS, STORE_SCHEMA } from './event-store.js'
import { eventSubjects } from '../state/history.js'

export class MemoryEventStore implements EventStore {
  readonly byOrigin = new Map<string, CisEvent[]>()
  /** The snapshot's parts and version (absent: none written). */
  snapshot: { version: number, parts: Map<string, string> } | undefined
  readonly archive = new Map<string, string>()
  readonly archiveIndex = new Map<string, string>()
  async open (): Promise<void> {}
  async close (): Promise<void> {}
  async write (events: CisEvent[], snapshot?: SnapshotWrite): Promise<void> {
    for (const e of events) {
      const list = this.byOrigin.get(e.origin) ?? []
      list[e.seq - 1] = e
      this.byOrigin.set(e.origin, list)
    }
    if (snapshot !== undefined) {
      const parts = snapshot.reset || this.snapshot === undefined ? new Map<string, string>() : this.snapshot.parts
      if (snapshot.reset) { this.archive.clear(); this.archiveIndex.clear() }
      for (const k of snapshot.del) parts.delete(k)
      for (const [k, v] of snapshot.put) parts.set(k, v)
      for (const d of snapshot.archive?.del ?? []) {
        this.archive.delete(d.id)
        for (const k of d.index) this.archiveIndex.delete(k)
      }
      for (const p of snapshot.archive?.put ?? []) {
        this.archive.set(p.id, p.bundle)
        for (const [k, v] of p.index) this.archiveIndex.set(k, v)
      }
      this.snapshot = { version: snapshot.version, parts }
    }
  }

  private readonly done: string[] = []
  async reclaim (events: CisEvent[], done?: string): Promise<void> {
    for (const e of events) {
      const list = this.byOrigin.get(e.origin)
      if (list !== undefined) delete list[e.seq - 1]
    }
    if (done !== undefined) this.done.push(done)
  }

  async reclaimed (): Promise<string[]> { return [...this.done] }

  async * readOrigin (origin: string, after: number): AsyncIterable<CisEvent> {
    for (const e of (this.byOrigin.get(origin) ?? []).slice(Math.max(0, after))) if (e !== undefined) yield e
  }

  async origins (): Promise<string[]> { return [...this.byOrigin.keys()] }
  async getEvent (origin: string, seq: number): Promise<CisEvent | undefined> { return this.byOrigin.get(origin)?.[seq - 1] }
  /** Nothing outlives it: a memory store always has today's layout. */
  async schemaVersion (): Promise<number> { return STORE_SCHEMA }
  async * readSubject (subject: string): AsyncIterable<CisEvent> {
    const found: CisEvent[] = []
    for (const list of this.byOrigin.values()) for (const e of list.filter(x => x !== undefined)) if (e !== undefined && eventSubjects(e).includes(subject)) found.push(e)
    yield * found.sort((a, b) => (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : a.seq - b.seq))
  }
  async readArchive (id: string): Promise<string | undefined> { return this.archive.get(id) }
  async * readArchiveIndex (range: { gte: string, lt: string, reverse?: boolean, limit?: number }): AsyncIterable<[string, string]> {
    const keys = [...this.archiveIndex.keys()].filter(k => k >= range.gte && k < range.lt).sort()
    if (range.reverse === true) keys.reverse()
    for (const k of keys.slice(0, range.limit ?? keys.length)) yield [k, this.archiveIndex.get(k) as string]
  }

  async loadSnapshot (): Promise<StoredSnapshot | undefined> {
    return this.snapshot !== undefined && READABLE_SNAPSHOT_VERSIONS.has(this.snapshot.version) ? { version: this.snapshot.version, parts: [...this.snapshot.parts].sort((a, b) => a[0] < b[0] ? -1 : 1) } : undefined
  }
}
