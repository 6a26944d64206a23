// History and time travel (G-3), from the events: which events are about a joblist (its
// request, the IDs it was accepted under, its jobs and their attempts, its notifications), each
// described in one line; and the state as it was at a time, by applying the events up to it.
// Pure: the node reads the events from its store and passes them in.
export { eventSubjects } from './subjects.js'
import type { CisEvent, EventBodies, EventType, UnsignedEvent } from '../events/types.js'
import { acceptOf, carriedAssigns } from '../events/types.js'
import { apply } from './reducer.js'
import { eventSubjects } from './subjects.js'
import type { ClusterState } from './types.js'
import { emptyState } from './types.js'

export interface HistoryEntry {
  /** When the event was written (its hybrid clock's ms). */
  at: number
  /** The node that wrote it (its name, or its ID if unknown). */
  node: string
  origin: string
  seq: number
  type: EventType
  /** What happened, in one line. */
  text: string
}

/** Events sorted by their hybrid clock, then origin and seq: the order history is told in. */
export const byClock = (a: UnsignedEvent, b: UnsignedEvent): number =>
  a.ts - b.ts || a.lc - b.lc || (a.origin < b.origin ? -1 : a.origin > b.origin ? 1 : 0) || a.seq - b.seq

const res = (r: Record<string, string[]>): string => Object.entries(r).map(([t, ids]) => `${t} ${ids.join(',')}`).join('; ')

/** One line for an event about a joblist. `name` gives node names for IDs. */
export function describe (e: UnsignedEvent, name: (nodeId: string) => string): string {
  const b = e.body as EventBodies[keyof EventBodies] & Record<string, unknown>
  switch (e.type) {
    case 'submit': {
      const s = b as EventBodies['submit']
      return `submitted by ${s.owner}${s.schedule !== undefined ? ` (run of schedule ${s.schedule.name} for ${new Date(s.schedule.instant).toISOString()})` : ''}`
    }
    case 'accept': return `accepted as ${String(b.id)} (master term ${String(b.term)})`
    case 'assign': return `job ${String(b.jobId)} attempt ${String(b.attempt)} assigned to ${name(String(b.node))}${Object.keys(b.resources as object).length > 0 ? ` (${res(b.resources as Record<string, string[]>)})` : ''}`
    case 'started': return `job ${String(b.jobId)} attempt ${String(b.attempt)} started (pid ${String(b.pid)})`
    case 'finished': {
      const f = b as EventBodies['finished']
      const how = f.signal !== null ? `killed by ${f.signal}` : f.exitCode !== null ? `exit ${f.exitCode}` : ''
      return `job ${f.jobId} attempt ${f.attempt} ${f.state}${how !== '' ? ` (${how})` : ''}${f.reason !== undefined ? `: ${f.reason}` : ''}`
    }
    case 'lose': return `job ${String(b.jobId)} attempt ${String(b.attempt)} declared lost: ${String(b.reason)}`
    case 'cancel': return b.jobId !== undefined ? `job ${String(b.jobId)} cancelled` : 'cancelled'
    case 'stop': return b.jobId !== undefined ? `stop of job ${String(b.jobId)} requested` : 'stop requested'
    case 'update': {
      const u = b as EventBodies['update']
      const parts = [
        ...(u.priority !== undefined ? [`priority ${u.priority}`] : []),
        ...(u.tags !== undefined ? [`tags [${u.tags.join(', ')}]`] : []),
        ...(u.notify !== undefined ? [`notify [${u.notify.map(n => 'webhook' in n ? n.webhook : n.email).join(', ')}]`] : [])
      ]
      return `${u.jobId !== undefined ? `job ${u.jobId}: ` : ''}changed: ${parts.join(', ')}`
    }
    case 'ack': return 'failure acknowledged'
    case 'delivery': return `webhook ${String(b.id)} attempt ${String(b.attempt)}: ${b.ok === true ? 'delivered' : `failed (${String(b.error ?? `HTTP ${String(b.status)}`)})`}`
    case 'mail': return `email to ${String(b.to)} listing ${(b.ids as string[]).length} item(s): ${b.ok === true ? 'sent' : `failed (${String(b.error ?? '')})`}`
    default: return e.type
  }
}

/** The history of the joblist known by `subjects` (its request key and IDs), from `events` in any order. */
export function historyOf (events: Iterable<UnsignedEvent>, subjects: ReadonlySet<string>, name: (nodeId: string) => string): HistoryEntry[] {
  const about: UnsignedEvent[] = []
  for (const e of events) {
    if (!eventSubjects(e).some(s => subjects.has(s))) continue
    about.push(e)
    // The accept a master's own submit carries (one event): a line of its own, right after the submit's.
    const accept = acceptOf(e)
    if (accept !== undefined && accept !== e) about.push(accept)
    // The jobs placed with the accept (one event): a line each, right after the accept's.
    if (accept !== undefined) {
      for (const body of carriedAssigns(accept.body)) about.push({ ...accept, type: 'assign', body })
      continue
    }
    // A short job's start, told with its end (one event): a line of its own, at its own time.
    if (e.type !== 'finished') continue
    const { jobId, attempt, started } = e.body as EventBodies['finished']
    if (started !== undefined) about.push({ ...e, ts: started.at, lc: -1, type: 'started', body: { jobId, attempt, pid: started.pid } })
  }
  return about.sort(byClock).map(e => ({ at: e.ts, node: name(e.origin), origin: e.origin, seq: e.seq, type: e.type, text: describe(e, name) }))
}

/**
 * The state as it was at time `t`: every event written at or before `t` (by its hybrid
 * clock), applied. Each origin's clock only grows with its seq, so these are a prefix of
 * every origin's log, and the state is what a node that had exactly them would hold.
 */
export function stateAt (events: Iterable<CisEvent | UnsignedEvent>, t: number): ClusterState {
  const state = emptyState()
  const upTo: UnsignedEvent[] = []
  for (const e of events) if (e.ts <= t) upTo.push(e)
  for (const e of upTo.sort(byClock)) apply(state, e)
  return state
}
