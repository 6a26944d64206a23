// The validated, resolved shape of a joblist (every `source` already read into `content`).
// This is what travels in a `submit` event and what the reducer and scheduler see.

export type ReplaceMap = Record<string, string>

export interface FileSpec {
  /** Relative path inside the job's work directory (no `..`, not absolute). */
  path: string
  content: string
  /** This file's own replacement map (R6-4); wins over the job's and the joblist's. */
  replace: ReplaceMap
  /** Unix file mode, e.g. 0o755; default 0o644. */
  mode?: number
}

/** Where a job runs (S-1..S-3): one named node, every node, or every node with a profile. */
export type JobTarget = { node: string } | { all: true } | { profile: string }

export interface JobSpec {
  name: string
  /** Run by `/bin/sh -c` in the job's work directory. */
  run: string
  /** Resource type -> count (R3-1..R3-3). Default {slot: 1}. */
  needs: Record<string, number>
  env: Record<string, string>
  /** Milliseconds; absent = no timeout. */
  timeoutMs?: number
  /** Milliseconds a running attempt on a disconnected node stays unknown before it is lost; absent = the agent's scheduler.lostAfter. */
  lostAfterMs?: number
  /** false: a lost attempt fails the job; it never runs twice (at most once). Absent = true. */
  retryLost?: boolean
  /** Extra attempts after a failure. */
  retries: number
  /** Job replacement map (R6-3), applied to all its files. */
  replace: ReplaceMap
  files: FileSpec[]
  /** Absent: any one node that has the resources. Present: one physical job per matching node (S-4). */
  target?: JobTarget
  /** Told when this job reaches a state (issue 11). */
  notify?: NotifySpec[]
}

export interface StageSpec {
  name: string
  jobs: JobSpec[]
}

/** A recurrence (S-1, S-6): when the master launches runs of the joblist. */
export interface ScheduleSpec {
  /** 5 fields, or 6 with seconds; or @hourly, @daily, ... */
  cron: string
  /** IANA time zone name. */
  timezone: string
  /** pause: a failed run pauses the schedule until resumed; continue: keep going. */
  onFailure: 'pause' | 'continue'
  /** skip: an instant whose previous run is still active is skipped; allow: runs may overlap. */
  overlap: 'skip' | 'allow'
  /** Instants missed while no master could launch them: one run for all, none, or each (at most maxCatchUp). */
  catchUp: 'one' | 'none' | 'all'
  maxCatchUp: number
}

/** A declared variable (S-7), used as `{{name}}` in run, env values, file content and replacement values. */
export interface VarSpec {
  name: string
  description?: string
  default?: string
  required: boolean
  pattern?: string
  choices?: string[]
}

export type NotifyState = 'running' | 'succeeded' | 'failed' | 'stopped'

/** A webhook subscription (issue 11): POSTed to when the joblist reaches each state in `on`. */
export interface WebhookNotify {
  webhook: string
  on: NotifyState[]
}

/**
 * An email subscription (issue 11): the address is told, in one message listing all its due
 * items, when the joblist reaches each state in `on`: at once (`now`, at most one message
 * per notify.mailEvery) or in the daily digest at notify.digestAt (`daily`).
 */
export interface EmailNotify {
  email: string
  digest: 'now' | 'daily'
  on: NotifyState[]
}

export type NotifySpec = WebhookNotify | EmailNotify

export interface JoblistSpec {
  name: string
  priority: number
  tags: string[]
  /** Joblist-wide replacement map, applied to all files of all jobs. */
  replace: ReplaceMap
  stages: StageSpec[]
  /** Present: submitting creates a schedule whose runs are this joblist. */
  schedule?: ScheduleSpec
  /** Webhooks told when the joblist reaches a state (issue 11). */
  notify?: NotifySpec[]
  /** Declared variables (S-7). */
  vars?: VarSpec[]
  /** The values the variables were filled in with (present once filled: the spec has no `{{name}}` left to fill). */
  values?: Record<string, string>
}

/** One validation problem: `path` like `stages[1].jobs[0].run`, `message` like `required`. */
export interface SpecIssue {
  path: string
  message: string
}

export type SpecResult =
  | { ok: true, spec: JoblistSpec }
  | { ok: false, issues: SpecIssue[] }
