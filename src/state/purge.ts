// Purge (G-6): ended joblists leave the state. A `purge` event names the joblists (and their
// requests and alias IDs); every record keyed by them goes: the joblist, its jobs and
// attempts, its request and accepts, its cancels, stops, changes, acknowledgement and webhook
// deliveries, and its runs in schedule records. What the rest of the state counted from them
// stays as it is (the masters' ID counters, terms, the version vector). The names are kept in
// the purged set (purged.ts): an event about a purged joblist that comes later (from a node
// that was away) is applied as any event, then what it added is removed again, so the purge
// and that event give the same state in either order. Pure.
import type { ClusterState, JoblistRecord } from './types.js'
import { FINAL_JOBLIST_STATES } from './types.js'
import { joblistOf } from './subjects.js'
import { findLastFailed } from './schedules.js'
import { touchPart } from './changes.js'
import { QueueList } from './queue-list.js'
import { addPurged, anyPurged, isPurged } from './purged.js'

/**
 * The joblists a purge of `before` names, from this state: ended before then (with their
 * requests and alias IDs); not those `keep` says to keep (a purge by retention keeps a joblist
 * that may still owe a notification: node.ts).
 */
export function purgeCandidates (state: ClusterState, before: number, keep?: (jl: JoblistRecord) => boolean): { ids: string[], requests: string[] } {
  const ids: string[] = []
  const requests: string[] = []
  for (const jl of Object.values(state.joblists)) {
    if (!FINAL_JOBLIST_STATES.has(jl.state) || (jl.endedAt ?? Infinity) >= before) continue
    if (keep?.(jl) === true) continue
    ids.push(jl.id)
    requests.push(jl.request)
    for (const a of state.accepts[jl.request] ?? []) if (a.id !== jl.id) ids.push(a.id)
  }
  return { ids: ids.sort(), requests: requests.sort() }
}

/** Remove every record of these joblists and requests, and remember them as purged; the joblist IDs whose view changed. */
export function purgeRecords (state: ClusterState, ids: Iterable<string>, requests: Iterable<string>): string[] {
  const gone = new Set(ids)
  const reqs = new Set(requests)
  // Every ID a purged request was accepted under goes with it, also one its writer never saw
  // (a request accepted by two masters across a failover): a node that has that accept drops
  // its joblist now, one that gets the accept later drops it then (its request is purged), and
  // either way the ID is in the purged set, so later events about it add nothing.
  for (const r of reqs) {
    const id = state.requests[r]?.joblistId
    if (id !== undefined) gone.add(id)
    for (const a of state.accepts[r] ?? []) gone.add(a.id)
  }
  for (const id of [...gone, ...reqs]) addPurged(state, id)
  const changed: string[] = []
  for (const id of gone) {
    if (state.joblists[id] !== undefined) changed.push(id)
    for (const field of ['joblists', 'cancels', 'updates', 'acks', 'aliases']) touchPart(state, field, id)
    delete state.joblists[id]
    delete state.cancels[id]
    delete state.updates[id]
    delete state.acks[id]
    delete state.aliases[id]
  }
  if (gone.size > 0) {
    const ofGone = (key: string): boolean => gone.has(joblistOf(key))
    for (const k of Object.keys(state.jobs)) if (ofGone(k)) { touchPart(state, 'jobs', k); delete state.jobs[k] }
    for (const k of Object.keys(state.attempts)) if (ofGone(k)) { touchPart(state, 'attempts', k); delete state.attempts[k] }
    for (const k of Object.keys(state.deliveries ?? {})) if (ofGone(k)) { touchPart(state, 'deliveries', k); delete state.deliveries[k] }
    for (const k of Object.keys(state.mailItems ?? {})) if (ofGone(k)) { touchPart(state, 'mailItems', k); delete state.mailItems[k] }
    for (const [k, s] of Object.entries(state.stops)) if (gone.has(s.joblistId)) { touchPart(state, 'stops', k); delete state.stops[k] }
    for (const [alias, id] of Object.entries(state.aliases)) if (gone.has(id)) { touchPart(state, 'aliases', alias); delete state.aliases[alias] }
    // (Ended joblists are not queued: mostly nothing to take out, and the queue stays as it is.)
    let queued = false
    for (const id of state.queue) if (gone.has(id)) { queued = true; break }
    if (queued) state.queue = QueueList.from(state.queue.filter(id => !gone.has(id)))
  }
  if (reqs.size > 0) {
    for (const r of reqs) {
      touchPart(state, 'requests', r)
      touchPart(state, 'accepts', r)
      touchPart(state, 'stops', r)
      delete state.requests[r]
      delete state.accepts[r]
      delete state.stops[r]
    }
    state.unaccepted = state.unaccepted.filter(k => !reqs.has(k))
    for (const rec of Object.values(state.schedules)) {
      const keep = (k: string): boolean => !reqs.has(k)
      if (!rec.runs.some(k => reqs.has(k)) && !rec.active.some(k => reqs.has(k))) continue
      touchPart(state, 'schedules', rec.name)
      // (A run recorded without an order is stored with its place among the runs: if one goes, those places move.)
      const placed = rec.runs.some(k => reqs.has(k) && rec.order?.[k] === undefined)
      for (const k of rec.runs) if (reqs.has(k) || (placed && rec.order?.[k] === undefined)) touchPart(state, 'runs', k)
      rec.runs = rec.runs.filter(keep)
      for (const r of reqs) delete rec.order?.[r]
      rec.active = rec.active.filter(keep)
      for (const [instant, keys] of Object.entries(rec.byInstant)) {
        const left = keys.filter(keep)
        if (left.length > 0) rec.byInstant[instant] = left
        else delete rec.byInstant[instant]
      }
      // The schedule's last failure, found again among the runs that stay.
      if (rec.failed !== undefined) {
        for (const r of reqs) if (rec.failed[r] !== undefined) { touchPart(state, 'failed', r); delete rec.failed[r] }
        if (Object.keys(rec.failed).length === 0) delete rec.failed
      }
      if (rec.lastFailed !== undefined && reqs.has(rec.lastFailed.key)) findLastFailed(state, rec)
    }
  }
  return changed
}

/**
 * What is left in the state of joblists and requests that are purged, taken out (their IDs and
 * request keys; none: nothing changes). Each event about a purged joblist takes out what it added
 * (reducer.ts), but a joblist archived out of memory and brought back from its bundle comes back
 * whole, without an event to judge it: a node replaying its log after a crash (node/event-log.ts
 * load) may bring back one that a later-replayed purge had named. No record of a purged joblist
 * may stay. Pure.
 */
export function dropPurgedLeftovers (state: ClusterState): { ids: string[], requests: string[] } {
  if (!anyPurged(state)) return { ids: [], requests: [] }
  const ids = Object.keys(state.joblists).filter(id => isPurged(state, id) || isPurged(state, state.joblists[id].request))
  const requests = new Set(Object.keys(state.requests).filter(k => isPurged(state, k)))
  for (const id of ids) { const r = state.joblists[id].request; if (isPurged(state, r)) requests.add(r) }
  if (ids.length === 0 && requests.size === 0) return { ids: [], requests: [] }
  // (With them their jobs, attempts and every record keyed by them, and the joblists of those
  // requests, as the purge took them.)
  const changed = purgeRecords(state, ids, [...requests])
  return { ids: [...new Set([...ids, ...changed])].sort(), requests: [...requests].sort() }
}
