// What `cis export` (G-5) writes for one joblist: its row, a row per job (the physical jobs of
// a job with a target too), per attempt and per accounting record, made from the node's own
// views (GET /v1/joblists/{id}, GET /v1/accounting) so the database says what the API says.
// Pure: no database, no network.
import type { AccountingRecordView, JobView, JoblistView } from '../cli/api-types.js'

export interface JoblistRow {
  id: string
  name: string
  owner: string
  state: string
  priority: number
  tags: string[]
  submitted_at: string | null
  accepted_at: string | null
  ended_at: string | null
  view: JoblistView
}

export interface JobRow {
  id: string
  joblist_id: string
  /** A physical job (S-4, `<job>.<k>`): its logical job; null for any other job. */
  logical_id: string | null
  name: string
  stage: string
  state: string
  node: string | null
  view: JobView
}

export interface AttemptRow {
  job_id: string
  n: number
  joblist_id: string
  node: string | null
  state: string
  started_at: string | null
  ended_at: string | null
  exit_code: number | null
  signal: string | null
  reason: string | null
}

export interface AccountingRow {
  key: string
  joblist_id: string
  joblist_name: string
  job_id: string
  job_name: string
  owner: string
  tags: string[]
  node: string
  attempt: number
  state: string
  exit_code: number | null
  signal: string | null
  submitted_at: string | null
  started_at: string | null
  ended_at: string | null
  wall_s: number
  cpu_user_s: number | null
  cpu_sys_s: number | null
  max_rss_kb: number | null
  duplicate: boolean
  resources: Record<string, string[]>
}

/** Everything one joblist contributes to the database. */
export interface JoblistRows {
  joblist: JoblistRow
  jobs: JobRow[]
  attempts: AttemptRow[]
  accounting: AccountingRow[]
}

export function joblistRows (view: JoblistView, records: readonly AccountingRecordView[]): JoblistRows {
  const jobs: JobRow[] = []
  const attempts: AttemptRow[] = []
  const addJob = (j: JobView, logical: string | null): void => {
    jobs.push({ id: j.id, joblist_id: view.id, logical_id: logical, name: j.name, stage: j.stage, state: j.state, node: j.node, view: j })
    for (const a of j.attempts) {
      attempts.push({
        job_id: j.id,
        n: a.n,
        joblist_id: view.id,
        node: a.node ?? a.nodeId,
        state: a.state,
        started_at: a.startedAt,
        ended_at: a.endedAt,
        exit_code: a.exitCode,
        signal: a.signal,
        reason: a.reason
      })
    }
    for (const p of j.physical ?? []) addJob(p, j.id)
  }
  for (const stage of view.stages) for (const j of stage.jobs) addJob(j, null)
  return {
    joblist: {
      id: view.id,
      name: view.name,
      owner: view.owner,
      state: view.state,
      priority: view.priority,
      tags: view.tags,
      submitted_at: view.submittedAt,
      accepted_at: view.acceptedAt,
      ended_at: view.endedAt,
      view
    },
    jobs,
    attempts,
    accounting: records.map(r => ({
      key: r.key,
      joblist_id: r.joblistId,
      joblist_name: r.joblistName,
      job_id: r.jobId,
      job_name: r.jobName,
      owner: r.owner,
      tags: r.tags,
      node: r.node,
      attempt: r.attempt,
      state: r.state,
      exit_code: r.exitCode,
      signal: r.signal,
      submitted_at: r.submittedAt,
      started_at: r.startedAt,
      ended_at: r.endedAt,
      wall_s: r.wallS,
      cpu_user_s: r.cpuUserS ?? null,
      cpu_sys_s: r.cpuSysS ?? null,
      max_rss_kb: r.maxRssKb ?? null,
      duplicate: r.duplicate,
      resources: r.resources
    }))
  }
}
