// Free resource instances per node: advertised instances minus those held by active attempts.
import type { Resources } from '../events/types.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../state/types.js'

export type FreeIndex = Map<string, Map<string, string[]>>

/** Instances held by active (assigned or running) attempts, per node and type. */
export function heldInstances (state: ClusterState, joblists: JoblistRecord[]): Map<string, Set<string>> {
  const held = new Map<string, Set<string>>()
  for (const jl of joblists) {
    // Only the current stage can hold resources: earlier stages have ended, later ones not begun.
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    {
      for (const jobId of stage.jobIds) {
        const byN = state.attempts[jobId]
        if (byN === undefined) continue
        for (const a of Object.values(byN)) {
          if (!ACTIVE_ATTEMPT_STATES.has(a.state)) continue
          let set = held.get(a.node)
          if (set === undefined) held.set(a.node, set = new Set())
          for (const [type, ids] of Object.entries(a.resources)) for (const id of ids) set.add(`${type}\u0000${id}`)
        }
      }
    }
  }
  return held
}

export function freeIndex (state: ClusterState, nodes: string[], held: Map<string, Set<string>>): FreeIndex {
  const index: FreeIndex = new Map()
  for (const id of nodes) {
    const node = state.nodes[id]
    if (node === undefined) continue
    const h = held.get(id)
    const free = new Map<string, string[]>()
    for (const [type, ids] of Object.entries(node.resources)) {
      free.set(type, h === undefined ? ids.slice() : ids.filter(i => !h.has(`${type}\u0000${i}`)))
    }
    index.set(id, free)
  }
  return index
}

/** Take `needs` from one node's free lists, or return null if it does not fit. */
export function take (free: Map<string, string[]>, needs: Record<string, number>): Resources | null {
  for (const [type, count] of Object.entries(needs)) {
    if (count > 0 && (free.get(type)?.length ?? 0) < count) return null
  }
  const got: Resources = {}
  for (const [type, count] of Object.entries(needs)) {
    if (count <= 0) continue
    const list = free.get(type) as string[]
    got[type] = list.splice(0, count)
  }
  return got
}

/** True if some node advertises at least `count` instances of every needed type. */
export function satisfiable (state: ClusterState, needs: Record<string, number>, nodes: string[]): string | null {
  const missing: string[] = []
  for (const [type, count] of Object.entries(needs)) {
    if (count <= 0) continue
    const ok = nodes.some(id => (state.nodes[id]?.resources[type]?.length ?? 0) >= count)
    if (!ok) missing.push(`${type}:${count}`)
  }
  if (missing.length > 0) return missing.join(', ')
  const together = nodes.some(id => Object.entries(needs).every(([t, c]) => c <= 0 || (state.nodes[id]?.resources[t]?.length ?? 0) >= c))
  return together ? null : Object.entries(needs).map(([t, c]) => `${t}:${c}`).join(', ') + ' on one node'
}
