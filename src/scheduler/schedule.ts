// schedule(input) -> decisions. Pure: the master's shell turns decisions into events.
// Order (R3-4): joblists in the order the master accepted them. Backfill (R3-5): a later
// joblist may only use instances of types that no earlier waiting joblist needs now.
import type { LostPolicy, Resources } from '../events/types.js'
import { sortedAttempts } from '../state/derive.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../state/types.js'
import { freeIndex, heldInstances, take } from './resources.js'

export type Decision =
  | { type: 'accept', request: string, id: string } & LostPolicy
  | { type: 'assign', jobId: string, attempt: number, node: string, resources: Resources }
  | { type: 'cancel', joblistId: string, jobId?: string, request: string }
  | { type: 'lose', jobId: string, attempt: number, reason: string }

export interface ScheduleInput {
  state: ClusterState
  now: number
  /** The master (this node). */
  self: string
  /** Prefix of the IDs this master hands out. */
  selfCode: string
  /** Nodes alive in the master's view. */
  alive: ReadonlySet<string>
  /** Nodes not heard from for longer than the timeout: their active attempts are lost. */
  lost?: ReadonlySet<string>
  policy: LostPolicy
}

/** Joblists not yet ended, in queue order (kept by the reducer). */
export function activeJoblists (state: ClusterState): JoblistRecord[] {
  return state.queue.map(id => state.joblists[id])
}

export function schedule (input: ScheduleInput): Decision[] {
  const { state } = input
  const out: Decision[] = []

  for (const [request, stop] of Object.entries(state.stops)) {
    if (stop.handled || state.joblists[stop.joblistId] === undefined) continue
    out.push({ type: 'cancel', joblistId: stop.joblistId, ...(stop.jobId !== undefined ? { jobId: stop.jobId } : {}), request })
  }

  let counter = state.acceptCount[input.self] ?? 0
  for (const key of state.unaccepted) {
    out.push({ type: 'accept', request: key, id: `${input.selfCode}-${++counter}`, ...input.policy })
  }

  out.push(...loseAttempts(input))
  out.push(...place(input))
  return out
}

/** Active attempts on nodes that are gone: declare them lost so the job can run elsewhere. */
export function loseAttempts (input: ScheduleInput): Decision[] {
  const lost = input.lost
  if (lost === undefined || lost.size === 0) return []
  const out: Decision[] = []
  for (const jl of activeJoblists(input.state)) {
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    for (const jobId of stage.jobIds) {
      for (const a of Object.values(input.state.attempts[jobId] ?? {})) {
        if (ACTIVE_ATTEMPT_STATES.has(a.state) && lost.has(a.node)) {
          const name = input.state.nodes[a.node]?.name ?? a.node
          out.push({ type: 'lose', jobId, attempt: a.n, reason: `node ${name} was not heard from: attempt presumed lost` })
        }
      }
    }
  }
  return out
}

/** Place the open jobs of the current stage of every active joblist, in queue order. */
export function place (input: ScheduleInput): Decision[] {
  const { state } = input
  const queue = activeJoblists(state)
  const nodes = [...input.alive].filter(id => state.nodes[id] !== undefined).sort()
  const free = freeIndex(state, nodes, heldInstances(state, queue))
  const blocked = new Set<string>()
  const out: Decision[] = []
  for (const jl of queue) {
    if (jl.cancelled) continue
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    const waiting = new Set<string>()
    for (const jobId of stage.jobIds) {
      const job = state.jobs[jobId]
      if (job.state !== 'pending' || job.cancelled) continue
      const attempts = sortedAttempts(state.attempts[jobId])
      if (attempts.some(a => ACTIVE_ATTEMPT_STATES.has(a.state))) continue
      const needs = job.spec.needs
      const types = Object.keys(needs).filter(t => needs[t] > 0)
      let got: Resources | null = null
      let node = ''
      if (!types.some(t => blocked.has(t))) {
        for (const id of rankNodes(nodes, free, types)) {
          got = take(free.get(id) as Map<string, string[]>, needs)
          if (got !== null) { node = id; break }
        }
      }
      if (got === null) {
        for (const t of types) waiting.add(t)
        continue
      }
      const n = attempts.length === 0 ? 1 : attempts[attempts.length - 1].n + 1
      out.push({ type: 'assign', jobId, attempt: n, node, resources: got })
    }
    for (const t of waiting) blocked.add(t)
  }
  return out
}

/** Nodes with the most free instances of the needed types first; ties by node ID. */
function rankNodes (nodes: string[], free: Map<string, Map<string, string[]>>, types: string[]): string[] {
  if (nodes.length < 2) return nodes
  const score = (id: string): number => {
    const f = free.get(id)
    let s = 0
    for (const t of types) s += f?.get(t)?.length ?? 0
    return s
  }
  return nodes.slice().sort((a, b) => score(b) - score(a) || (a < b ? -1 : 1))
}
