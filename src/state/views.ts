// JSON views of the state for the API, the CLI and the logs.
import { lostAfterOf, sortedAttempts } from './derive.js'
import type { AttemptRecord, ClusterState, JobRecord, JoblistRecord } from './types.js'
import { ACTIVE_ATTEMPT_STATES, FINAL_JOBLIST_STATES, joblistById } from './types.js'
import { duplicateOf } from './schedule-views.js'
import type { RunOf } from '../events/types.js'
import type { NotifySpec } from '../spec/types.js'
import { currentNotify } from './subscriptions.js'
import type { Subscription } from './subscriptions.js'

/**
 * What the viewing node knows of the others, to show an active attempt on a disconnected node
 * as `unknown` with the time left before it counts as lost.
 */
export interface Reachability {
  /** Known nodes not heard from now, and for how long (ms; Infinity: gone for certain). */
  silent: ReadonlyMap<string, number>
  lostAfterMs: number
}

export interface AttemptView {
  n: number
  node: string | null
  nodeId: string
  /** `unknown`: running (or assigned) on a node this node does not hear from now. */
  state: AttemptRecord['state'] | 'unknown'
  /** For an unknown attempt: ms until it counts as lost (0: about to be). */
  lostInMs?: number
  resources: AttemptRecord['resources']
  exitCode: number | null
  signal: string | null
  reason: string | null
  assignedAt: string | null
  startedAt: string | null
  endedAt: string | null
  tail?: string
  /** CPU and peak memory of its processes, where measured (G-2). */
  usage?: AttemptRecord['usage']
}

export interface JobView {
  id: string
  name: string
  joblistId: string
  stage: string
  /** `unknown`: its attempt runs on a node this node does not hear from now. */
  state: JobRecord['state'] | 'unknown'
  node: string | null
  resources: AttemptRecord['resources']
  needs: Record<string, number>
  run: string
  retries: number
  attempts: AttemptView[]
  /** Why an open job is not running (from the placement), if it waits. */
  waiting?: string
  /** A job with a target: where it runs, one physical job per node (S-4). */
  target?: JobRecord['spec']['target']
  physical?: JobView[]
  /** A logical job that failed on some nodes (S-5): which, and why in a word. */
  failedOn?: Array<{ node: string, reason: string }>
  /** A failed or lost job in one line: `failed on 3 of 50 nodes: n4 (exit 1), ...` or `exit 1 on n4`. */
  summary?: string
  /** Who is told when the job reaches a state (issue 11). */
  notify?: NotifyView[]
}

export interface JoblistView {
  id: string
  name: string
  state: JoblistRecord['state']
  priority: number
  owner: string
  tags: string[]
  submittedAt: string
  acceptedAt: string
  endedAt: string | null
  currentStage: string | null
  duplicates: number
  /** A run of a schedule: its name and the instant it stands for. */
  schedule?: { name: string, instant: string, manual?: true }
  /** A run launched twice for one instant (a partition): the earlier run. */
  duplicateOf?: string
  /** The values of its variables (S-7). */
  values?: Record<string, string>
  /** A failed joblist in one line (S-5): each failed job and why. */
  failure?: string
  /** A failed joblist a person has seen (`cis ack`). */
  acked?: boolean
  /** Who is told when the joblist reaches a state (issue 11): the submitted list, or the last change's. */
  notify?: NotifyView[]
  /** Jobs the joblist names that have no record in this node's state (a defect of cis, said in its log): left out of `stages`. */
  missingJobs?: string[]
  stages: Array<{ name: string, state: string, jobs: JobView[] }>
}

/** An instant as ISO text (null for none). The last one made is kept: a joblist's times are often the same instant (submitted and accepted, ended and its job's end). */
let lastIso: [number, string] = [NaN, '']
function isoOf (t: number): string {
  if (lastIso[0] !== t) lastIso = [t, new Date(t).toISOString()]
  return lastIso[1]
}
const iso = (t: number | undefined): string | null => t === undefined || t === 0 ? null : isoOf(t)

/** ms until an active attempt on a silent node counts as lost, or undefined if it is not unknown. */
function lostIn (state: ClusterState, a: AttemptRecord, jobId: string, reach: Reachability | undefined): number | undefined {
  const silentMs = reach?.silent.get(a.node)
  if (reach === undefined || silentMs === undefined || !ACTIVE_ATTEMPT_STATES.has(a.state)) return undefined
  return Math.max(0, lostAfterOf(state.jobs[jobId], reach.lostAfterMs) - silentMs)
}

export function attemptView (state: ClusterState, a: AttemptRecord, jobId = '', reach?: Reachability): AttemptView {
  const left = lostIn(state, a, jobId, reach)
  return {
    n: a.n,
    node: state.nodes[a.ranOn ?? a.node]?.name ?? null,
    nodeId: a.ranOn ?? a.node,
    state: left !== undefined ? 'unknown' : a.state,
    ...(left !== undefined ? { lostInMs: left } : {}),
    resources: a.resources,
    exitCode: a.exitCode ?? null,
    signal: a.signal ?? null,
    reason: a.reason ?? null,
    assignedAt: iso(a.assignedAt),
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt),
    ...(a.tail !== undefined ? { tail: a.tail } : {}),
    ...(a.usage !== undefined ? { usage: a.usage } : {})
  }
}

/** The jobs a joblist's stages name that the state has no record of (none in a whole state: its views need them all). */
export function missingJobRecords (state: Pick<ClusterState, 'jobs'>, jl: Pick<JoblistRecord, 'stages'>): string[] {
  return jl.stages.flatMap(s => s.jobIds).filter(id => state.jobs[id] === undefined)
}

export function jobView (state: ClusterState, job: JobRecord, waiting: Record<string, string> = {}, reach?: Reachability): JobView {
  const attempts = sortedAttempts(state.attempts[job.id])
  const views = attempts.map(a => attemptView(state, a, job.id, reach))
  const unknown = (job.state === 'running' || job.state === 'pending') && views.some(v => v.state === 'unknown')
  const last = attempts.find(a => a.state === 'succeeded') ?? attempts[attempts.length - 1]
  const jl = state.joblists[job.joblistId]
  return {
    id: job.id,
    name: job.name,
    joblistId: job.joblistId,
    stage: jl?.stages[job.stage]?.name ?? String(job.stage),
    state: unknown ? 'unknown' : job.state,
    node: last === undefined ? null : state.nodes[last.ranOn ?? last.node]?.name ?? last.ranOn ?? last.node,
    resources: last?.resources ?? {},
    needs: job.spec.needs,
    run: job.spec.run,
    retries: job.spec.retries,
    attempts: views,
    ...(waiting[job.id] !== undefined ? { waiting: waiting[job.id] } : {}),
    ...(job.spec.target !== undefined && job.logical === undefined ? { target: job.spec.target } : {}),
    ...(job.physical !== undefined ? { physical: job.physical.flatMap(id => state.jobs[id] === undefined ? [] : [jobView(state, state.jobs[id], waiting, reach)]) } : {}),
    ...failureFields(state, job),
    ...(jl !== undefined && job.logical === undefined ? notifyField(currentNotify(state, jl, job.id)) : {})
  }
}

/** Why an attempt ended badly, in a word or two: `exit 1`, `timeout`, `lost`, `killed by SIGKILL`. */
export function shortReason (a: AttemptRecord | undefined, jobState: JobRecord['state']): string {
  if (jobState === 'lost' || a?.state === 'lost') return 'lost'
  if (a === undefined) return jobState
  if (a.reason?.startsWith('timed out') === true) return 'timeout'
  if (a.reason?.startsWith('could not start') === true) return 'could not start'
  if (a.signal !== undefined && a.signal !== null) return `killed by ${a.signal}`
  if (typeof a.exitCode === 'number') return `exit ${a.exitCode}`
  return a.state
}

function nodeName (state: ClusterState, job: JobRecord, a: AttemptRecord | undefined): string {
  const id = a?.ranOn ?? a?.node ?? job.pin ?? ''
  return state.nodes[id]?.name ?? (id === '' ? '?' : id.slice(-6))
}

/** S-5: a failed job says where and why in one line; a logical one lists its failed nodes. */
function failureFields (state: ClusterState, job: JobRecord): Pick<JobView, 'failedOn' | 'summary'> {
  if (job.physical !== undefined) {
    const failedOn: Array<{ node: string, reason: string }> = []
    for (const id of job.physical) {
      const p = state.jobs[id]
      if (p === undefined || (p.state !== 'failed' && p.state !== 'lost')) continue
      const last = sortedAttempts(state.attempts[id]).at(-1)
      failedOn.push({ node: nodeName(state, p, last), reason: shortReason(last, p.state) })
    }
    if (job.physical.length === 0 && job.state === 'failed') return { failedOn, summary: `no node matched the target ${JSON.stringify(job.spec.target)}` }
    if (failedOn.length === 0) return {}
    const shown = failedOn.slice(0, 10).map(f => `${f.node} (${f.reason})`).join(', ')
    const rest = failedOn.length > 10 ? `, and ${failedOn.length - 10} more` : ''
    return { failedOn, summary: `failed on ${failedOn.length} of ${job.physical.length} nodes: ${shown}${rest}` }
  }
  if (job.state !== 'failed' && job.state !== 'lost') return {}
  const last = sortedAttempts(state.attempts[job.id]).at(-1)
  return { summary: `${shortReason(last, job.state)} on ${nodeName(state, job, last)}` }
}

/** A failed job in one line: `exit 1 on n2`, or where its physical jobs failed. */
export function jobFailureLine (state: ClusterState, jobId: string): string | undefined {
  const job = state.jobs[jobId]
  if (job === undefined) return undefined
  return failureFields(state, job).summary ?? (job.state === 'failed' || job.state === 'lost' ? job.state : undefined)
}

/** A failed joblist in one line: `build: failed on 3 of 50 nodes: ...; test: exit 1 on n2`. */
export function failureLine (state: ClusterState, jl: JoblistRecord): string | undefined {
  if (jl.state !== 'failed') return undefined
  const parts: string[] = []
  for (const s of jl.stages) {
    for (const id of s.jobIds) {
      const job = state.jobs[id]
      if (job === undefined || (job.state !== 'failed' && job.state !== 'lost')) continue
      const f = failureFields(state, job)
      if (f.summary !== undefined) parts.push(`${job.name}: ${f.summary}`)
    }
  }
  return parts.length > 0 ? parts.join('; ') : 'failed'
}

const runOf = (r: RunOf): { name: string, instant: string, manual?: true } => ({ name: r.name, instant: new Date(r.instant).toISOString(), ...(r.manual === true ? { manual: true as const } : {}) })

export function joblistView (state: ClusterState, jl: JoblistRecord, waiting: Record<string, string> = {}, reach?: Reachability): JoblistView {
  // (A job without its record, a defect, is left out of its stage and named in missingJobs.)
  const missing = missingJobRecords(state, jl)
  return {
    ...joblistHead(state, jl),
    ...(missing.length > 0 ? { missingJobs: missing } : {}),
    stages: jl.stages.map(s => ({ name: s.name, state: s.state, jobs: s.jobIds.flatMap(id => state.jobs[id] === undefined ? [] : [jobView(state, state.jobs[id], waiting, reach)]) }))
  }
}

/** A joblist's view without its stages (what a list shows: no job's view is made). */
function joblistHead (state: ClusterState, jl: JoblistRecord): Omit<JoblistView, 'stages'> {
  return {
    id: jl.id,
    name: jl.name,
    state: jl.state,
    priority: jl.priority,
    owner: jl.owner,
    tags: jl.tags,
    submittedAt: isoOf(jl.submittedAt),
    acceptedAt: isoOf(jl.acceptedAt),
    endedAt: iso(jl.endedAt),
    currentStage: jl.stages[jl.currentStage]?.name ?? null,
    duplicates: jl.duplicates,
    ...extraFields(state, jl),
    ...notifyField(currentNotify(state, jl))
  }
}

/** A subscription as views show it: its key (part of its notifications' IDs) and, if added by a change, since when it is owed. */
export type NotifyView = NotifySpec & { key: string, since?: string }

const notifyField = (subs: Subscription[]): { notify?: NotifyView[] } =>
  subs.length === 0 ? {} : { notify: subs.map(s => ({ ...s.sub, key: s.key, ...(s.since > 0 ? { since: new Date(s.since).toISOString() } : {}) })) }

function extraFields (state: ClusterState, jl: JoblistRecord): Pick<JoblistView, 'schedule' | 'duplicateOf' | 'values' | 'failure' | 'acked'> {
  const dup = duplicateOf(state, jl)
  const failure = failureLine(state, jl)
  return {
    ...(jl.schedule !== undefined ? { schedule: runOf(jl.schedule) } : {}),
    ...(dup !== undefined ? { duplicateOf: dup } : {}),
    ...(jl.values !== undefined ? { values: jl.values } : {}),
    ...(failure !== undefined ? { failure, acked: state.acks[jl.id] !== undefined } : {})
  }
}

/** A short line per joblist for listings. */
export function joblistSummary (state: ClusterState, jl: JoblistRecord): Omit<JoblistView, 'stages'> & { jobs: Record<string, number>, stages: number } {
  const jobs: Record<string, number> = {}
  // (A job without its record, a defect the records log reports, is counted as `missing`: one
  // broken joblist must not take the whole list down.)
  for (const s of jl.stages) for (const id of s.jobIds) { const st = state.jobs[id]?.state ?? 'missing'; jobs[st] = (jobs[st] ?? 0) + 1 }
  return { ...joblistHead(state, jl), jobs, stages: jl.stages.length }
}

/** Resolve an ID, a unique `-N` suffix, or a name (the newest joblist with that name). */
export function findJoblist (state: ClusterState, ref: string): JoblistRecord | undefined {
  const direct = joblistById(state, ref)
  if (direct !== undefined) return direct
  const all = Object.values(state.joblists)
  if (/^\d+$/.test(ref)) {
    const bySuffix = all.filter(j => j.id.endsWith(`-${ref}`))
    if (bySuffix.length === 1) return bySuffix[0]
  }
  const byName = all.filter(j => j.name === ref)
  if (byName.length === 0) return undefined
  const active = byName.filter(j => !FINAL_JOBLIST_STATES.has(j.state))
  const pool = active.length > 0 ? active : byName
  return pool.sort((a, b) => b.acceptedAt - a.acceptedAt)[0]
}

export function findJob (state: ClusterState, ref: string): JobRecord | undefined {
  const direct = state.jobs[ref]
  if (direct !== undefined) return direct
  // `joblist/job-name` or `<n>.<k>` shorthand.
  const slash = ref.indexOf('/')
  if (slash > 0) {
    const jl = findJoblist(state, ref.slice(0, slash))
    const name = ref.slice(slash + 1)
    if (jl === undefined) return undefined
    for (const s of jl.stages) for (const id of s.jobIds) if (state.jobs[id].name === name) return state.jobs[id]
    return undefined
  }
  const dot = ref.lastIndexOf('.')
  if (dot > 0) {
    const jl = findJoblist(state, ref.slice(0, dot))
    if (jl !== undefined) return state.jobs[`${jl.id}.${ref.slice(dot + 1)}`]
  }
  return undefined
}
