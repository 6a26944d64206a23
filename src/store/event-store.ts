// The event store: every origin's events (this node's own and replicas), a snapshot of the
// derived state. One interface; backends: LevelDB (level-store.ts), in memory
// (memory-store.ts), and a fault-injecting wrapper for tests (faulty-store.ts).
import type { CisEvent } from '../events/types.js'
import type { ClusterState } from '../state/types.js'

export interface Snapshot { state: ClusterState, version: number }

export interface EventStore {
  open: () => Promise<void>
  close: () => Promise<void>
  /** Write events (and optionally a snapshot) atomically. */
  write: (events: CisEvent[], snapshot?: Snapshot) => Promise<void>
  /** Events of one origin with seq > after, in seq order. */
  readOrigin: (origin: string, after: number) => AsyncIterable<CisEvent>
  origins: () => Promise<string[]>
  getEvent: (origin: string, seq: number) => Promise<CisEvent | undefined>
  loadSnapshot: () => Promise<Snapshot | undefined>
}

/**
 * Bumped when the snapshot's shape changes: an older snapshot is ignored (events are replayed).
 * 3: attempts keep their finished fact's usage (G-2), which older code dropped from peers' events.
 */
export const SNAPSHOT_VERSION = 3
