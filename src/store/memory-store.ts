// An event store in memory: for tests of the node without a disk, and the core's tests.
import type { CisEvent } from '../events/types.js'
import type { EventStore, Snapshot } from './event-store.js'
import { SNAPSHOT_VERSION, STORE_SCHEMA } from './event-store.js'

export class MemoryEventStore implements EventStore {
  readonly byOrigin = new Map<string, CisEvent[]>()
  snapshot: Snapshot | undefined
  async open (): Promise<void> {}
  async close (): Promise<void> {}
  async write (events: CisEvent[], snapshot?: Snapshot): Promise<void> {
    for (const e of events) {
      const list = this.byOrigin.get(e.origin) ?? []
      list[e.seq - 1] = e
      this.byOrigin.set(e.origin, list)
    }
    if (snapshot !== undefined) this.snapshot = structuredClone(snapshot)
  }

  async * readOrigin (origin: string, after: number): AsyncIterable<CisEvent> {
    for (const e of (this.byOrigin.get(origin) ?? []).slice(Math.max(0, after))) if (e !== undefined) yield e
  }

  async origins (): Promise<string[]> { return [...this.byOrigin.keys()] }
  async getEvent (origin: string, seq: number): Promise<CisEvent | undefined> { return this.byOrigin.get(origin)?.[seq - 1] }
  /** Nothing outlives it: a memory store always has today's layout. */
  async schemaVersion (): Promise<number> { return STORE_SCHEMA }
  async loadSnapshot (): Promise<Snapshot | undefined> { return this.snapshot?.version === SNAPSHOT_VERSION ? structuredClone(this.snapshot) : undefined }
}
