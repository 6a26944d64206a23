// JSON views of the cluster for the API and the CLI: the nodes as one node sees them, and
// counts. Pure: what the node knows (alive set, master, last heard) comes in as values.
import type { ClusterState } from './types.js'

export interface NodeView {
  id: string
  peerId: string
  name: string
  api: string
  addresses: string[]
  priority: number
  profiles: string[]
  resources: Record<string, string[]>
  alive: boolean
  /** When this node last heard from it (ISO time), if ever. */
  lastSeen: string | null
  self: boolean
  master: boolean
  version: string
}

export interface Membership {
  self: string
  alive: ReadonlySet<string>
  master: string | null
  lastSeen: (id: string) => number | undefined
}

export function nodeViews (state: ClusterState, m: Membership): NodeView[] {
  return Object.values(state.nodes).map(n => {
    const seen = m.lastSeen(n.id)
    return {
      id: n.id,
      peerId: n.id,
      name: n.name,
      api: n.api,
      addresses: n.addresses,
      priority: n.priority,
      profiles: n.profiles,
      resources: n.resources,
      alive: m.alive.has(n.id),
      lastSeen: seen === undefined ? null : new Date(seen).toISOString(),
      self: n.id === m.self,
      master: n.id === m.master,
      version: n.version
    }
  })
}

export interface StatsView {
  /** Joblists by state. */
  joblists: Record<string, number>
  /** Requests no master has accepted yet. */
  unaccepted: number
  /** Attempts running on this node. */
  running: number
  /** Events applied here, all origins. */
  events: number
}

export function eventCount (state: ClusterState): number {
  return Object.values(state.applied).reduce((a, b) => a + b, 0)
}

/** The joblists of the state by state, counted whole (JoblistCounts keeps them as events come). */
export function countByState (state: ClusterState): Record<string, number> {
  const out: Record<string, number> = {}
  for (const jl of Object.values(state.joblists)) out[jl.state] = (out[jl.state] ?? 0) + 1
  return out
}

/**
 * The counts: `inMemory` (the joblists held, by state; JoblistCounts) and `archived` (those
 * out of memory) added up; the requests not accepted yet are the state's `unaccepted` list.
 */
export function statsView (state: ClusterState, runningHere: number, archived: Readonly<Record<string, number>> = {}, inMemory: Readonly<Record<string, number>> = countByState(state)): StatsView {
  const joblists: Record<string, number> = { ...archived }
  for (const [s, n] of Object.entries(inMemory)) joblists[s] = (joblists[s] ?? 0) + n
  return { joblists, unaccepted: state.unaccepted.length, running: runningHere, events: eventCount(state) }
}
