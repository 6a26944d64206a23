// What changed in a state since it was last asked: the parts (`field!key`) of its largest maps
// — the joblists and what belongs to them (jobs, attempts, cancels, updates, acks, stops,
// aliases, webhook deliveries), the submit requests and their accepts, mail records, purged
// IDs, and an entry a node (its record, its term, how far its events were applied) — that
// were written, added or deleted. The snapshot writer
// (store/snapshot-parts.ts) looks at those parts only, not at every part of every joblist held,
// so a snapshot costs what changed. Every write to those maps marks its part: the reducer's,
// a purge's, the archive's. Only a state someone tracks pays: the marks are no-ops on another.
import type { ClusterState } from './types.js'

/** The maps whose parts are marked when written (the rest of the state is looked at whole). */
export const MARKED_MAPS: ReadonlySet<string> = new Set(['joblists', 'jobs', 'attempts', 'cancels', 'updates', 'acks', 'requests', 'accepts',
  // (Since Dec 4: these grow with the joblists held too, or for good (purged), and every
  // snapshot serialized each entry of them: a webhook on every joblist made a delivery an entry.)
  'stops', 'aliases', 'deliveries', 'mails', 'mailItems', 'purged', 'purgedIds', 'purgedRequests',
  // (And these grow with the cluster: an entry a node or origin, 4.3 ms a snapshot at 1,000 nodes.)
  'nodes', 'applied', 'terms',
  // (A schedule's record, and each of its runs, skips and failed runs: a part of its own in the
  // snapshot, store/schedule-parts.ts.)
  'schedules', 'runs', 'skips', 'failed'])

export interface Changes {
  /**
   * The keys marked since the last time, by map (field): written, added or deleted. (By map and
   * key, not as `field!key` texts: a mark made no string, and every event marks a few parts.)
   */
  parts: Map<string, Set<string>>
}

const tracked = new WeakMap<ClusterState, Changes>()

/** Start recording the changes of `state` (from now on). */
export function trackChanges (state: ClusterState): void {
  tracked.set(state, { parts: new Map() })
}

/** The changes recorded since the last call (or since tracking began), and start afresh; undefined if untracked. */
export function takeChanges (state: ClusterState): Changes | undefined {
  const c = tracked.get(state)
  if (c === undefined) return undefined
  tracked.set(state, { parts: new Map() })
  return c
}

/** True if part `key` of map `field` is marked. */
export const isMarked = (c: Changes, field: string, key: string): boolean => c.parts.get(field)?.has(key) === true

/** How many parts are marked. */
export function markedCount (c: Changes): number {
  let n = 0
  for (const keys of c.parts.values()) n += keys.size
  return n
}

function mark (c: Changes, field: string, key: string): void {
  let keys = c.parts.get(field)
  if (keys === undefined) c.parts.set(field, keys = new Set())
  keys.add(key)
}

/** Part `key` of map `field` was written, added or deleted. */
export function touchPart (state: ClusterState, field: string, key: string): void {
  const c = tracked.get(state)
  if (c !== undefined) mark(c, field, key)
}

/** The derived parts of a joblist were recomputed: its record and every job of it. */
export function touchJoblistView (state: ClusterState, id: string): void {
  const c = tracked.get(state)
  if (c === undefined) return
  mark(c, 'joblists', id)
  for (const stage of state.joblists[id]?.stages ?? []) {
    for (const jobId of stage.jobIds) {
      mark(c, 'jobs', jobId)
      for (const p of state.jobs[jobId]?.physical ?? []) mark(c, 'jobs', p)
    }
  }
}
