// The event store: every origin's events (this node's own and replicas), a snapshot of the
// derived state. One interface; backends: LevelDB (level-store.ts), in memory
// (memory-store.ts), and a fault-injecting wrapper for tests (faulty-store.ts).
import type { CisEvent } from '../events/types.js'

/**
 * A snapshot write (G-4): the parts of the derived state that changed since the last snapshot
 * (snapshot-parts.ts: one per entry of each map), and the keys of parts that are gone. With
 * `reset`, every stored part goes first (no snapshot, or one of another version, was stored).
 */
export interface SnapshotWrite {
  version: number
  reset: boolean
  put: Array<[string, string]>
  del: string[]
  /**
   * Joblists moved out of memory into the archive, or back (archive.ts): written in the same
   * batch as the snapshot that no longer holds (or holds again) their parts. With `reset`
   * the whole archive goes first, as the parts do.
   */
  archive?: ArchiveWrite
}

/**
 * Changes to the archive (G-4, memory that does not grow with history): whole joblists
 * (`bundles`: ID -> JSON) and index entries (`index`: key -> value; archive.ts names them).
 */
export interface ArchiveWrite {
  put: Array<{ id: string, bundle: string, index: Array<[string, string]> }>
  del: Array<{ id: string, index: string[] }>
}

/** The stored snapshot: its version and every part, [key, JSON]. */
export interface StoredSnapshot { version: number, parts: Array<[string, string]> }

/** A journal of this node's own events (own-journal.ts): a batch appended to it is durable at once. */
export interface OwnEventsJournal {
  /** Append one batch of own events (seq order), synchronously; throws what the disk says. */
  append: (events: readonly CisEvent[]) => void
}

export interface EventStore {
  open: () => Promise<void>
  close: () => Promise<void>
  /** Write events (and optionally a snapshot's changes) atomically. */
  write: (events: CisEvent[], snapshot?: SnapshotWrite) => Promise<void>
  /**
   * Present (after open) if the store keeps a journal of own events: the event log appends each
   * batch of them to it and publishes the batch at once, and writes it with peers' events later
   * (event-log.ts). Absent: own events are durable when their write() resolves.
   */
  journal?: OwnEventsJournal
  /** Events of one origin with seq > after, in seq order. */
  readOrigin: (origin: string, after: number) => AsyncIterable<CisEvent>
  origins: () => Promise<string[]>
  getEvent: (origin: string, seq: number) => Promise<CisEvent | undefined>
  /** The events about a request key or joblist ID (eventSubjects), in (origin, seq) order: G-3, through an index. */
  readSubject: (subject: string) => AsyncIterable<CisEvent>
  /** The stored snapshot, if there is one of a version this code reads (READABLE_SNAPSHOT_VERSIONS). */
  loadSnapshot: () => Promise<StoredSnapshot | undefined>
  /** An archived joblist's bundle (JSON), if archived. */
  readArchive: (id: string) => Promise<string | undefined>
  /** Archive index entries with keys in [gte, lt), in key order (reverse: descending), at most `limit`. */
  readArchiveIndex: (range: { gte: string, lt: string, reverse?: boolean, limit?: number }) => AsyncIterable<[string, string]>
  /**
   * Take events out of the log (a purge's cut, state/cuts.ts), with their subject index
   * entries; `done`: the key of the purge whose cut is now applied here, recorded in the same
   * write (reclaimed()).
   */
  reclaim: (events: CisEvent[], done?: string) => Promise<void>
  /** The keys of the purges whose cuts this log has applied. */
  reclaimed: () => Promise<string[]>
  /** The schema (on-disk layout) version of this store, after open: STORE_SCHEMA once opened (G-6). */
  schemaVersion: () => Promise<number>
}

/**
 * The store's schema: the version of its on-disk layout (G-6), recorded in the store. A store
 * of an older schema is upgraded on open (upgrade.ts: one step per version); a store of a newer
 * one is refused. Bump it with every change of the layout, and add the step that upgrades to it.
 *   1: sublevels `events` (key origin!seq, zero-padded) and `meta` (`origins`, `snapshot`, `schema`)
 *   2: and `subjects` (key subject!origin!seq: the events about each joblist, G-3) and `snapshot`
 *      (the snapshot in parts, G-4; a snapshot of schema 1 is ignored by its version)
 *   3: and `archive` (ended joblists out of memory, by ID) and `archive-index` (archive.ts);
 *      an older store has nothing archived (no step to run), but an older agent must not open
 *      a store whose joblists it would not see
 *   4: and the journal of own events (own-journal.ts: files `cis-journal-0` and `-1` in the store's
 *      directory); an older agent must not open a store whose journal holds events it has not
 *      written into LevelDB (it would reuse their seqs)
 */
export const STORE_SCHEMA = 4

/**
 * Bumped when the snapshot's shape changes: an older snapshot is ignored (events are replayed).
 * 3: attempts keep their finished fact's usage (G-2), which older code dropped from peers' events.
 * 4: stored in parts, written as changes (G-4); a snapshot of version <= 3 was one JSON value.
 * 5: with an archive (ended joblists out of memory): the part `~archived` holds the archived
 *    parts' digest; schedules keep their failed runs (`failures`).
 */
export const SNAPSHOT_VERSION = 9

/**
 * 6: without the queue (derived from the joblists as the snapshot is assembled), and each run of
 * a schedule a part of its own (`runs!KEY`), the schedule's part without them (snapshot-parts.ts).
 * A snapshot of version 5 is still read (its queue part passed over, its schedules whole), and
 * the next snapshot after it looks at every part (writes the runs' parts, deletes the queue's);
 * an agent of version 5 ignores a snapshot of version 6 (it replays the events).
 * 7: an email item's standing a part of its own (`mailItems!ID`, archived with its joblist) and an
 * address's messages cut to the last that got through and the failures after it. A snapshot of
 * version 5 or 6 is still read: its standings derived from its messages, which are then cut
 * (snapshot-parts.ts assembleState); an agent of version 6 ignores one of version 7.
 * 8: a schedule keeps its latest MAX_SKIP_RECORDS skip records (state/schedules.ts). A snapshot
 * of version 5-7 is still read: its skips cut as they are loaded (schedule-parts.ts), and the
 * next snapshot after it looks at every part (deletes the parts of the skips cut); an agent of
 * version 7 ignores one of version 8.
 * 9: the purged set as bitsets (`purgedIds!CODE#BLOCK`, `purgedRequests!ORIGIN#BLOCK`:
 * state/purged.ts) instead of a part a purged ID or request key. A snapshot of version 5-8 is
 * still read: its purged keys moved to their blocks as it is assembled, and the next snapshot
 * after it looks at every part (deletes the keys' parts, writes the blocks); an agent of
 * version 8 ignores one of version 9.
 */
export const READABLE_SNAPSHOT_VERSIONS: ReadonlySet<number> = new Set([5, 6, 7, 8, SNAPSHOT_VERSION])

/**
 * Every origin's events from seq 1 up to `upTo[origin]`, origins in sorted order: what a
 * backup holds (G-6). Read lazily, so a large store is never in memory at once.
 */
export async function * eventsUpTo (store: EventStore, upTo: Record<string, number>): AsyncGenerator<CisEvent> {
  for (const origin of Object.keys(upTo).sort()) {
    const last = upTo[origin]
    if (last < 1) continue
    for await (const e of store.readOrigin(origin, 0)) {
      if (e.seq > last) break
      yield e
    }
  }
}
