// Who is told about what (issue 11): the notification subjects of a joblist — the joblist
// itself and each of its jobs with `notify` — with their subscriptions as they stand now (the
// spec's list, or the winning PATCH's), and the states each subject reached. Pure: webhooks
// (notifications.ts) and emails (mail.ts) derive their deliveries from this.
//
// A subscription's key is part of every delivery ID, so it must not change while the
// subscription stays: a subscription from the submitted spec keeps its index there (`0`, `1`,
// …) as long as a later list still has the same target (webhook URL or email address);
// one added by a change is keyed by a hash of its target (`h` + 8 hex digits). A subscription
// from the spec is owed every state its subject reaches; one added by a change only the
// states reached at or after the first change that listed it.
import type { JoblistSpec, NotifySpec, NotifyState } from '../spec/types.js'
import { sortedAttempts } from './derive.js'
import type { ClusterState, JoblistRecord, JobRecord, NotifyChange } from './types.js'
import { FINAL_JOB_STATES, FINAL_JOBLIST_STATES } from './types.js'
import { comparePositions } from './position.js'

export interface Subscription {
  /** `0`, `1`, … (its index in the submitted spec) or `h<8 hex>` (added by a change). */
  key: string
  sub: NotifySpec
  /** States reached before this time are not owed to it (0: every state). */
  since: number
}

export interface Subject {
  kind: 'joblist' | 'job'
  /** The joblist's or the job's ID: delivery IDs are `<id>.<state>.<key>`. */
  id: string
  joblistId: string
  /** `name` of the joblist, `joblist/job` of a job. */
  name: string
  subs: Subscription[]
  /** When the subject reached each state a subscription can ask for. */
  reached: Partial<Record<NotifyState, number>>
  /** With history: every key a subscription of this subject ever had, and its target (for the history of removed ones). */
  formerTargets: Array<[string, string]>
}

/** What identifies a subscription across changes: its kind and target. */
export const targetOf = (s: NotifySpec): string => 'email' in s ? `email:${s.email}` : `webhook:${s.webhook}`

/** The key of a subscription added by a change: a short hash of its target. */
export const changedKey = (s: NotifySpec): string => `h${fnv1a(targetOf(s))}`

/** FNV-1a, 32 bits, as 8 hex digits (pure: the dashboard's code shares this module). */
function fnv1a (text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(16).padStart(8, '0')
}

/** The subscriptions of a subject: the spec's list, or the winning change's, keyed as above. */
export function subscriptionsOf (spec: readonly NotifySpec[] | undefined, change: NotifyChange | undefined): Subscription[] {
  if (change === undefined) return (spec ?? []).map((sub, i) => ({ key: String(i), sub, since: 0 }))
  const original = new Map<string, number>()
  ;(spec ?? []).forEach((s, i) => { if (!original.has(targetOf(s))) original.set(targetOf(s), i) })
  // One subscription per target in a changed list (the states asked for are merged).
  const byTarget = new Map<string, Subscription>()
  for (const sub of change.value) {
    const t = targetOf(sub)
    const had = byTarget.get(t)
    if (had !== undefined) {
      had.sub = { ...had.sub, on: [...new Set([...had.sub.on, ...sub.on])] } as NotifySpec
      continue
    }
    const i = original.get(t)
    byTarget.set(t, i !== undefined ? { key: String(i), sub, since: 0 } : { key: changedKey(sub), sub, since: change.since[t] ?? change.pos[0] })
  }
  return [...byTarget.values()]
}

/** The winning notify change among the updates naming any of `ids` (a joblist's own ID and its aliases), or of one job. */
export function notifyChange (state: ClusterState, ids: Iterable<string>, jobId?: string): NotifyChange | undefined {
  let best: NotifyChange | undefined
  const since: Record<string, number> = {}
  for (const id of ids) {
    const u = state.updates[id]
    const c = jobId === undefined ? u?.notify : u?.jobs?.[jobId]
    if (c === undefined) continue
    for (const [t, at] of Object.entries(c.since)) since[t] = Math.min(since[t] ?? Infinity, at)
    if (best === undefined || comparePositions(c.pos, best.pos) > 0) best = c
  }
  return best === undefined ? undefined : { ...best, since }
}

/** When the joblist reached each state a subscription can ask for (absent: not reached). */
export function reachedStates (state: ClusterState, jl: JoblistRecord): Partial<Record<NotifyState, number>> {
  const out: Partial<Record<NotifyState, number>> = {}
  let started: number | undefined
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      const s = firstStart(state, logicalId)
      if (s !== undefined && (started === undefined || s < started)) started = s
    }
  }
  if (started !== undefined) out.running = started
  if (FINAL_JOBLIST_STATES.has(jl.state)) out[jl.state as NotifyState] = jl.endedAt ?? started ?? jl.acceptedAt
  return out
}

function firstStart (state: ClusterState, logicalId: string): number | undefined {
  let started: number | undefined
  for (const id of state.jobs[logicalId]?.physical ?? [logicalId]) {
    for (const a of sortedAttempts(state.attempts[id])) {
      if (a.startedAt !== undefined && (started === undefined || a.startedAt < started)) started = a.startedAt
    }
  }
  return started
}

/** When a job reached each state (a lost job counts as failed: it did not do its work). */
export function jobReachedStates (state: ClusterState, job: JobRecord, jl: JoblistRecord): Partial<Record<NotifyState, number>> {
  const out: Partial<Record<NotifyState, number>> = {}
  const started = firstStart(state, job.id)
  if (started !== undefined) out.running = started
  if (FINAL_JOB_STATES.has(job.state)) {
    let ended: number | undefined
    for (const id of job.physical ?? [job.id]) {
      for (const a of sortedAttempts(state.attempts[id])) if (a.endedAt !== undefined && (ended === undefined || a.endedAt > ended)) ended = a.endedAt
    }
    const s: NotifyState = job.state === 'lost' ? 'failed' : job.state as NotifyState
    out[s] = ended ?? started ?? jl.endedAt ?? jl.acceptedAt
  }
  return out
}

/** Whether a spec asks for notifications on the joblist or any job (remembered per spec: specs never change). */
const specAsks = new WeakMap<JoblistSpec, boolean>()
function asks (spec: JoblistSpec): boolean {
  let v = specAsks.get(spec)
  if (v === undefined) {
    v = spec.notify !== undefined || spec.stages.some(s => s.jobs.some(j => j.notify !== undefined))
    specAsks.set(spec, v)
  }
  return v
}

const changesNotify = (state: ClusterState, id: string): boolean => {
  const u = state.updates[id]
  return u !== undefined && (u.notify !== undefined || u.jobs !== undefined)
}

/** Whether a joblist or any of its jobs may have subscriptions (cheap: called for every joblist on every master pass). */
export function hasSubscriptions (state: ClusterState, jl: JoblistRecord): boolean {
  const spec = state.requests[jl.request]?.spec
  if (spec === undefined) return false
  if (asks(spec) || changesNotify(state, jl.id)) return true
  const accepts = state.accepts[jl.request]
  if (accepts !== undefined && accepts.length > 1) for (const a of accepts) if (changesNotify(state, a.id)) return true
  return false
}

/** The IDs a joblist's changes may name: its own and those its request was also accepted under. */
const idsOf = (state: ClusterState, jl: JoblistRecord): string[] => [jl.id, ...(state.accepts[jl.request] ?? []).map(a => a.id).filter(id => id !== jl.id)]

/** The subscriptions of a joblist (or of one of its jobs) as they stand now. */
export function currentNotify (state: ClusterState, jl: JoblistRecord, jobId?: string): Subscription[] {
  if (jobId !== undefined) return subscriptionsOf(state.jobs[jobId]?.spec.notify, notifyChange(state, idsOf(state, jl), jobId))
  return subscriptionsOf(state.requests[jl.request]?.spec.notify, notifyChange(state, idsOf(state, jl)))
}

/**
 * The joblist and each of its jobs that has subscriptions, with what they reached. With
 * `history`, also subjects whose subscriptions a change removed (for their past deliveries).
 */
export function subjectsOf (state: ClusterState, jl: JoblistRecord, history = false): Subject[] {
  if (!hasSubscriptions(state, jl)) return []
  const spec = state.requests[jl.request]?.spec
  const ids = idsOf(state, jl)
  const out: Subject[] = []
  const subject = (kind: Subject['kind'], id: string, name: string, original: readonly NotifySpec[] | undefined, change: NotifyChange | undefined, reached: () => Subject['reached']): void => {
    const subs = subscriptionsOf(original, change)
    if (subs.length === 0 && (!history || change === undefined)) return
    out.push({ kind, id, joblistId: jl.id, name, subs, reached: reached(), formerTargets: history ? formerTargets(original, change) : [] })
  }
  subject('joblist', jl.id, jl.name, spec?.notify, notifyChange(state, ids), () => reachedStates(state, jl))
  for (const stage of jl.stages) {
    for (const jobId of stage.jobIds) {
      const job = state.jobs[jobId]
      if (job !== undefined) subject('job', job.id, `${jl.name}/${job.name}`, job.spec.notify, notifyChange(state, ids, jobId), () => jobReachedStates(state, job, jl))
    }
  }
  return out
}

/** Every key a subject's subscriptions ever had (the spec's indexes, and the hashes of targets changes listed), with its target. */
function formerTargets (original: readonly NotifySpec[] | undefined, change: NotifyChange | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = (original ?? []).map((s, i) => [String(i), targetOf(s)])
  const originals = new Set(out.map(([, t]) => t))
  for (const t of Object.keys(change?.since ?? {})) if (!originals.has(t)) out.push([`h${fnv1a(t)}`, t])
  return out
}
