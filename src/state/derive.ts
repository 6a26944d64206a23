// Derived states: a job's from its attempts, a joblist's from its jobs (R2-5).
import type { LostPolicy } from '../events/types.js'
import type { JobSpec } from '../spec/types.js'
import type { AttemptRecord, JobState, JoblistRecord, JoblistState, JobRecord, StageState } from './types.js'
import { FINAL_JOB_STATES } from './types.js'

export function sortedAttempts (byN: Record<string, AttemptRecord> | undefined): AttemptRecord[] {
  if (byN === undefined) return []
  return Object.values(byN).sort((a, b) => a.n - b.n)
}

/** The silence after which an attempt of `job` on a disconnected node is lost: its own lostAfter, else the default. */
export function lostAfterOf (job: JobRecord | undefined, defaultMs: number): number {
  return job?.spec.lostAfterMs ?? defaultMs
}

/** A job's state from its attempts, its retry budget and whether it was cancelled. */
export function deriveJobState (spec: JobSpec, attempts: AttemptRecord[], cancelled: boolean, policy: LostPolicy): JobState {
  let failed = 0
  let lost = 0
  let active = false
  let running = false
  // At most once: once the master declared an attempt lost, the job is lost, whatever that
  // attempt's node reports later (the attempt keeps its own report, for the history).
  if (spec.retryLost === false && attempts.some(a => a.lostMark !== undefined)) return 'lost'
  for (const a of attempts) {
    if (a.state === 'succeeded') return 'succeeded' // the first success counts
    if (a.state === 'failed') failed++
    else if (a.state === 'lost') lost++
    else if (a.state === 'running') { running = true; active = true } else if (a.state === 'assigned') active = true
  }
  if (active) return running ? 'running' : 'pending'
  if (cancelled) return 'stopped'
  const last = attempts[attempts.length - 1]
  if (last === undefined) return 'pending'
  if (last.state === 'stopped') return 'stopped'
  if (failed > spec.retries) return 'failed'
  if (last.state === 'lost' && (policy.onLost === 'fail' || spec.retryLost === false || lost > policy.maxLost)) return 'lost'
  return 'pending'
}

/**
 * A logical job from its physical jobs (S-4): it succeeds only if every one succeeds.
 * A target that matched no node at all fails.
 */
export function logicalState (states: JobState[]): JobState {
  if (states.length === 0) return 'failed'
  if (states.every(s => s === 'succeeded')) return 'succeeded'
  if (states.some(s => !FINAL_JOB_STATES.has(s))) return states.some(s => s !== 'pending') ? 'running' : 'pending'
  return states.some(s => s === 'failed' || s === 'lost') ? 'failed' : 'stopped'
}

export function stageStateOf (jobs: JobRecord[], attempts: (id: string) => AttemptRecord[]): StageState {
  let allSucceeded = true
  let anyOpen = false
  let anyStarted = false
  let anyFailed = false
  for (const j of jobs) {
    if (j.state !== 'succeeded') allSucceeded = false
    if (!FINAL_JOB_STATES.has(j.state)) anyOpen = true
    if (j.state === 'failed' || j.state === 'lost') anyFailed = true
    if (j.state === 'running' || attempts(j.id).length > 0 || j.state === 'failed') anyStarted = true
  }
  if (allSucceeded) return 'succeeded'
  if (anyOpen) return anyStarted ? 'running' : 'pending'
  return anyFailed ? 'failed' : 'stopped'
}

/**
 * Recompute every job, stage and the joblist itself. Stages run in order: a stage counts
 * only after every job of the previous one has ended, and a failed stage ends the joblist.
 */
export function deriveJoblist (
  jl: JoblistRecord,
  jobs: Record<string, JobRecord>,
  attemptsOf: (jobId: string) => AttemptRecord[],
  cancelledJob: (job: JobRecord) => boolean,
  cancelAt: number
): void {
  let current = jl.stages.length
  let state: JoblistState = 'succeeded'
  let endedAt = 0
  let anyAttempt = false
  for (let i = 0; i < jl.stages.length; i++) {
    const stage = jl.stages[i]
    const stageJobs = stage.jobIds.map(id => jobs[id])
    for (const job of stageJobs) {
      const units = job.physical === undefined ? [job] : job.physical.map(id => jobs[id])
      for (const unit of units) {
        const atts = attemptsOf(unit.id)
        unit.cancelled = cancelledJob(unit)
        unit.state = deriveJobState(unit.spec, atts, unit.cancelled, jl.policy)
        for (const a of atts) {
          anyAttempt = true
          if (a.endedAt !== undefined && a.endedAt > endedAt) endedAt = a.endedAt
        }
      }
      if (job.physical !== undefined) {
        job.cancelled = cancelledJob(job)
        job.state = logicalState(units.map(u => u.state))
      }
    }
    if (current < jl.stages.length) {
      // A later stage of a joblist that has not reached it: it has not started.
      const ended = state === 'failed' || state === 'stopped'
      for (const job of stageJobs) {
        if (!ended) continue
        for (const unit of job.physical === undefined ? [job] : [job, ...job.physical.map(id => jobs[id])]) {
          if (unit.state === 'pending' && attemptsOf(unit.id).length === 0) unit.state = 'stopped'
        }
      }
      stage.state = ended ? 'stopped' : 'pending'
      continue
    }
    stage.state = stageStateOf(stageJobs, attemptsOf)
    if (stage.state === 'succeeded') continue
    current = i
    if (stage.state === 'failed') state = 'failed'
    else if (stage.state === 'stopped') state = 'stopped'
    else state = anyAttempt || i > 0 ? 'running' : 'queued'
  }
  jl.currentStage = current
  jl.state = state
  if (state === 'succeeded' || state === 'failed' || state === 'stopped') {
    jl.endedAt = Math.max(endedAt, cancelAt, jl.acceptedAt)
  } else {
    delete jl.endedAt
  }
}
