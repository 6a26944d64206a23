// Can the cluster ever run a joblist? (pure) A job whose target matches no node, or whose
// needs no alive (target) node provides, would wait forever: the API refuses such a joblist
// unless the client asked to wait for such a node.
import type { JoblistSpec } from '../spec/types.js'
import type { ClusterState } from '../state/types.js'
import { satisfiable } from './resources.js'
import { targetNodes } from './schedule.js'

export interface Problem { path: string, message: string }

export function unsatisfiable (state: ClusterState, spec: JoblistSpec, alive: ReadonlySet<string>): Problem[] {
  const aliveIds = [...alive]
  const problems: Problem[] = []
  for (const [si, stage] of spec.stages.entries()) {
    for (const [ji, job] of stage.jobs.entries()) {
      const at = `stages[${si}].jobs[${ji}]`
      const nodes = job.target === undefined ? aliveIds : targetNodes(state, job.target, alive)
      if (job.target !== undefined && nodes.length === 0) {
        const t = job.target
        problems.push({ path: `${at}.target`, message: `no ${'node' in t ? `node is named ${t.node}` : 'profile' in t ? `alive node has profile ${t.profile}` : 'alive node'}` })
        continue
      }
      const missing = satisfiable(state, job.needs, nodes)
      if (missing !== null) problems.push({ path: `${at}.needs`, message: `no alive ${job.target !== undefined ? 'target ' : ''}node provides ${missing}` })
    }
  }
  return problems
}
