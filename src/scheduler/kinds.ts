// Kinds of need (`gpu:1,slot:2`; `''`: needs nothing): what the placement groups jobs by, since
// jobs of one kind fit where each other fits, and what the master's index of the queue counts.
import type { ClusterState, JoblistRecord } from '../state/types.js'

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
