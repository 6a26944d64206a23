// Kinds of need (`gpu:1,slot:2`; `''`: needs nothing): what the placement groups jobs by, since
// jobs of one kind fit where each other fits, and what the master's index of the queue counts.
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../state/types.js'

/** The kind of a job pinned to a node (a physical job of a target): `kind@node`. */
export const pinnedKind = (kind: string, node: string): string => `${kind}@${node}`

/** Whether a kind (pinned or not) needs nothing: such a job fits with nothing free. */
export const needsNothing = (kind: string): boolean => kind === '' || kind.startsWith('@')

const needsKeys = new WeakMap<Record<string, number>, string>()
/** A job's kind of need, e.g. `gpu:1,slot:2` (computed once per spec). */
export function needsKey (needs: Record<string, number>): string {
  let k = needsKeys.get(needs)
  if (k === undefined) {
    k = Object.keys(needs).filter(t => needs[t] > 0).sort().map(t => `${t}:${needs[t]}`).join(',')
    needsKeys.set(needs, k)
  }
  return k
}

const kindsOf = new WeakMap<JoblistRecord, string[]>()
/**
 * The kinds of need of a joblist's jobs (`''`: needs nothing). Fixed for a joblist (its jobs
 * and their specs do not change once accepted), so computed once per record.
 */
export function needKinds (state: ClusterState, jl: JoblistRecord): string[] {
  let s = kindsOf.get(jl)
  if (s === undefined) {
    const kinds = new Set<string>()
    for (const stage of jl.stages) {
      for (const logicalId of stage.jobIds) {
        const logical = state.jobs[logicalId]
        if (logical === undefined) continue
        for (const id of logical.physical ?? [logicalId]) {
          const job = state.jobs[id]
          if (job !== undefined) kinds.add(needsKey(job.spec.needs))
        }
      }
    }
    s = [...kinds]
    kindsOf.set(jl, s)
  }
  return s
}

/**
 * The kinds of need of the jobs a pass could place now for this joblist: the open jobs of its
 * current stage (pending, not cancelled, no attempt under way; none when the joblist is
 * cancelled). A job pinned to a node (a physical job of a target) counts as `kind@node`: where
 * its node has nothing of that kind free, nothing else of the pass changes that. What the
 * master's index of the queue counts (queue-index.ts); it changes only with events that
 * change the joblist.
 */
export function openKinds (state: ClusterState, jl: JoblistRecord): string[] {
  const stage = jl.stages[jl.currentStage]
  if (jl.cancelled || stage === undefined) return []
  const kinds = new Set<string>()
  for (const logicalId of stage.jobIds) {
    const logical = state.jobs[logicalId]
    if (logical === undefined) continue
    for (const id of logical.physical ?? [logicalId]) {
      const job = state.jobs[id]
      if (job === undefined || job.state !== 'pending' || job.cancelled) continue
      if (Object.values(state.attempts[id] ?? {}).some(a => ACTIVE_ATTEMPT_STATES.has(a.state))) continue
      const kind = needsKey(job.spec.needs)
      kinds.add(job.pin === undefined ? kind : pinnedKind(kind, job.pin))
    }
  }
  return [...kinds]
}
