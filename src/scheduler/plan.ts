// Dry runs (`cis plan`, POST /v1/plan) and wait reasons: the same placement as the master's,
// on a copy of the state, with nothing written.
import type { JoblistSpec } from '../spec/types.js'
import { apply } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { QueueList } from '../state/queue-list.js'
import { place } from './placement.js'
import type { PlaceResult } from './placement.js'
import type { QueueOptions } from './queue.js'
import { expandTargets } from './schedule.js'

export interface PlanInput {
  state: ClusterState
  now: number
  alive: ReadonlySet<string>
  queue: QueueOptions
}

/** Why each open job waits, as the master would see it now (`joblistId`: the jobs of that joblist alone, walking the queue up to it). */
export function waitReasons (input: PlanInput, joblistId?: string): PlaceResult['waiting'] {
  return place(joblistId === undefined ? { ...input, explain: true } : { ...input, explainFor: joblistId }).waiting
}

export interface PlannedJob { id: string, name: string, node: string | null, resources: Record<string, string[]>, waiting: string | null }

/**
 * The state a plan applies its two events to (the submit and the accept of a new joblist,
 * `plan`): a copy of the maps and lists those write (the reducer adds entries to them, and
 * changes no entry there already: test/core/properties.test.ts holds the state unchanged after a
 * plan), the rest shared. A deep copy of the whole state took 2-2.5 s at 50,000 joblists held,
 * a stall of the node that answered `cis plan` (a master's peers declare it gone after 800 ms);
 * these copies ~0.2 s.
 */
function planCopy (state: ClusterState): ClusterState {
  return {
    ...state,
    applied: { ...state.applied },
    clock: { ...state.clock },
    requests: { ...state.requests },
    accepts: { ...state.accepts },
    unaccepted: [...state.unaccepted],
    aliases: { ...state.aliases },
    joblists: { ...state.joblists },
    jobs: { ...state.jobs },
    acceptCount: { ...state.acceptCount },
    queue: QueueList.from(state.queue)
  }
}

/**
 * Where each job of the first stage of `spec` would run now, or why it would wait: the
 * placement with the queue walked up to this joblist (placement.ts explainFor).
 */
export function planJoblist (input: PlanInput, spec: JoblistSpec): { stage: string, jobs: PlannedJob[] } {
  const state = planCopy(input.state)
  const origin = '~plan'
  const at = Math.max(input.now, state.clock.ts) + 1
  apply(state, { origin, seq: 1, ts: at, lc: 0, type: 'submit', body: { spec, owner: 'plan' } })
  const expand = expandTargets(state, `${origin}:1`, input.alive)
  apply(state, { origin, seq: 2, ts: at, lc: 1, type: 'accept', body: { request: `${origin}:1`, id: 'plan', term: 0, onLost: 'retry', maxLost: 0, ...(expand !== undefined ? { expand } : {}) } })
  const result = place({ ...input, state, explainFor: 'plan' })
  const jl = state.joblists.plan
  const assigned = new Map(result.assigns.map(a => [a.jobId, a]))
  const jobs: PlannedJob[] = []
  for (const logicalId of jl.stages[0].jobIds) {
    const logical = state.jobs[logicalId]
    if (logical.physical !== undefined && logical.physical.length === 0) {
      jobs.push({ id: logicalId, name: logical.name, node: null, resources: {}, waiting: 'its target matches no node' })
    }
    for (const id of logical.physical ?? [logicalId]) {
      const a = assigned.get(id)
      jobs.push({
        id,
        name: state.jobs[id].name,
        node: a === undefined ? null : state.nodes[a.node]?.name ?? a.node,
        resources: a?.resources ?? {},
        waiting: a === undefined ? result.waiting[id] ?? 'waits for an earlier stage' : null
      })
    }
  }
  return { stage: jl.stages[0].name, jobs }
}
