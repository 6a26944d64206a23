// JSON views of the state for the API, the CLI and the logs.
import { sortedAttempts } from './derive.js'
import type { AttemptRecord, ClusterState, JobRecord, JoblistRecord } from './types.js'
import { FINAL_JOBLIST_STATES } from './types.js'

export interface AttemptView {
  n: number
  node: string | null
  nodeId: string
  state: AttemptRecord['state']
  resources: AttemptRecord['resources']
  exitCode: number | null
  signal: string | null
  reason: string | null
  assignedAt: string | null
  startedAt: string | null
  endedAt: string | null
  tail?: string
}

export interface JobView {
  id: string
  name: string
  joblistId: string
  stage: string
  state: JobRecord['state']
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
  stages: Array<{ name: string, state: string, jobs: JobView[] }>
}

const iso = (t: number | undefined): string | null => t === undefined || t === 0 ? null : new Date(t).toISOString()

export function attemptView (state: ClusterState, a: AttemptRecord): AttemptView {
  return {
    n: a.n,
    node: state.nodes[a.ranOn ?? a.node]?.name ?? null,
    nodeId: a.ranOn ?? a.node,
    state: a.state,
    resources: a.resources,
    exitCode: a.exitCode ?? null,
    signal: a.signal ?? null,
    reason: a.reason ?? null,
    assignedAt: iso(a.assignedAt),
    startedAt: iso(a.startedAt),
    endedAt: iso(a.endedAt),
    ...(a.tail !== undefined ? { tail: a.tail } : {})
  }
}

export function jobView (state: ClusterState, job: JobRecord, waiting: Record<string, string> = {}): JobView {
  const attempts = sortedAttempts(state.attempts[job.id])
  const last = attempts.find(a => a.state === 'succeeded') ?? attempts[attempts.length - 1]
  const jl = state.joblists[job.joblistId]
  return {
    id: job.id,
    name: job.name,
    joblistId: job.joblistId,
    stage: jl?.stages[job.stage]?.name ?? String(job.stage),
    state: job.state,
    node: last === undefined ? null : state.nodes[last.ranOn ?? last.node]?.name ?? last.ranOn ?? last.node,
    resources: last?.resources ?? {},
    needs: job.spec.needs,
    run: job.spec.run,
    retries: job.spec.retries,
    attempts: attempts.map(a => attemptView(state, a)),
    ...(waiting[job.id] !== undefined ? { waiting: waiting[job.id] } : {}),
    ...(job.spec.target !== undefined && job.logical === undefined ? { target: job.spec.target } : {}),
    ...(job.physical !== undefined ? { physical: job.physical.map(id => jobView(state, state.jobs[id], waiting)) } : {})
  }
}

export function joblistView (state: ClusterState, jl: JoblistRecord, waiting: Record<string, string> = {}): JoblistView {
  return {
    id: jl.id,
    name: jl.name,
    state: jl.state,
    priority: jl.priority,
    owner: jl.owner,
    tags: jl.tags,
    submittedAt: new Date(jl.submittedAt).toISOString(),
    acceptedAt: new Date(jl.acceptedAt).toISOString(),
    endedAt: iso(jl.endedAt),
    currentStage: jl.stages[jl.currentStage]?.name ?? null,
    duplicates: jl.duplicates,
    stages: jl.stages.map(s => ({ name: s.name, state: s.state, jobs: s.jobIds.map(id => jobView(state, state.jobs[id], waiting)) }))
  }
}

/** A short line per joblist for listings. */
export function joblistSummary (state: ClusterState, jl: JoblistRecord): Omit<JoblistView, 'stages'> & { jobs: Record<string, number>, stages: number } {
  const { stages: _stages, ...rest } = joblistView(state, jl)
  const jobs: Record<string, number> = {}
  for (const s of jl.stages) for (const id of s.jobIds) { const st = state.jobs[id].state; jobs[st] = (jobs[st] ?? 0) + 1 }
  return { ...rest, jobs, stages: jl.stages.length }
}

/** Resolve an ID, a unique `-N` suffix, or a name (the newest joblist with that name). */
export function findJoblist (state: ClusterState, ref: string): JoblistRecord | undefined {
  const direct = state.joblists[ref] ?? state.joblists[state.aliases[ref] ?? '']
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
