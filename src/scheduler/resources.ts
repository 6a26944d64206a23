// The free-resource index: per node and type, the free instance IDs, and per type the nodes
// that have at least one free. Placing a job looks only at nodes that have what it needs.
import type { Resources } from '../events/types.js'
import type { ClusterState } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../state/types.js'

/** Who holds an instance: node -> `type\0id` -> job ID. */
export type Holders = Map<string, Map<string, string>>

const key = (type: string, id: string): string => `${type}\u0000${id}`

/**
 * Instances held by active (assigned or running) attempts, with the job holding each: those of
 * the joblists named (the queue, or the master's index of those of it that run).
 */
export function heldInstances (state: ClusterState, joblists: Iterable<string>): Holders {
  const held: Holders = new Map()
  for (const id of joblists) {
    const jl = state.joblists[id]
    // A queued joblist has no attempt yet (most of a long queue): nothing to look at.
    if (jl === undefined || jl.state === 'queued') continue
    // Only the current stage can hold resources: earlier stages have ended, later ones not begun.
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    for (const logicalId of stage.jobIds) {
      for (const jobId of state.jobs[logicalId]?.physical ?? [logicalId]) {
        const byN = state.attempts[jobId]
        if (byN === undefined) continue
        for (const a of Object.values(byN)) {
          if (!ACTIVE_ATTEMPT_STATES.has(a.state)) continue
          let m = held.get(a.node)
          if (m === undefined) held.set(a.node, m = new Map())
          for (const [type, ids] of Object.entries(a.resources)) for (const id of ids) m.set(key(type, id), jobId)
        }
      }
    }
  }
  return held
}

export class FreeIndex {
  /** node -> type -> free instance IDs (in advertised order). */
  readonly free = new Map<string, Map<string, string[]>>()
  /** type -> nodes with at least one free instance of it. */
  private readonly withType = new Map<string, Set<string>>()
  /** node -> `type\0id` -> label of the earlier joblist that reserved it. */
  readonly reserved = new Map<string, Map<string, string>>()

  constructor (readonly state: ClusterState, readonly nodes: string[], readonly holders: Holders) {
    for (const id of nodes) {
      const node = state.nodes[id]
      if (node === undefined) continue
      const h = holders.get(id)
      const free = new Map<string, string[]>()
      for (const [type, ids] of Object.entries(node.resources)) {
        const list = h === undefined ? ids.slice() : ids.filter(i => !h.has(key(type, i)))
        free.set(type, list)
        if (list.length > 0) this.nodesWith(type).add(id)
      }
      this.free.set(id, free)
    }
  }

  /** True when no node has a free instance of any type (jobs that need nothing may still fit). */
  exhausted (): boolean {
    for (const set of this.withType.values()) if (set.size > 0) return false
    return true
  }

  /**
   * True when every instance of every alive node is held or taken, none only reserved for a
   * waiting job: a joblist that comes earlier in the queue order than the one that reserved
   * could take a reserved instance; a held or taken one frees up only as its attempt ends.
   */
  allTaken (): boolean {
    return this.reserved.size === 0 && this.exhausted()
  }

  private nodesWith (type: string): Set<string> {
    let set = this.withType.get(type)
    if (set === undefined) this.withType.set(type, set = new Set())
    return set
  }

  fits (node: string, needs: Record<string, number>): boolean {
    const f = this.free.get(node)
    if (f === undefined) return false
    for (const type in needs) {
      const c = needs[type]
      if (c > 0 && (f.get(type)?.length ?? 0) < c) return false
    }
    return true
  }

  /** Remove `needs` from a node's free lists (it must fit); returns the instance IDs. */
  take (node: string, needs: Record<string, number>): Resources {
    const f = this.free.get(node) as Map<string, string[]>
    const got: Resources = {}
    for (const type in needs) {
      const c = needs[type]
      if (c <= 0) continue
      const list = f.get(type) as string[]
      got[type] = list.splice(0, c)
      if (list.length === 0) this.withType.get(type)?.delete(node)
    }
    return got
  }

  /** The first node (of `candidates`, or of all) that has everything `needs` asks for. */
  findFit (needs: Record<string, number>, candidates?: string[]): string | null {
    const types = Object.keys(needs).filter(t => needs[t] > 0)
    if (candidates !== undefined) return candidates.find(n => this.fits(n, needs)) ?? null
    if (types.length === 0) return this.nodes.find(n => this.free.has(n)) ?? null
    // Look only at nodes that have the scarcest needed type free.
    let pool: Set<string> | undefined
    for (const t of types) {
      const s = this.withType.get(t)
      if (s === undefined || s.size === 0) return null
      if (pool === undefined || s.size < pool.size) pool = s
    }
    for (const n of pool as Set<string>) if (this.fits(n, needs)) return n
    return null
  }

  /**
   * Hold back instances for a job that must wait (R3-5): on the node where it could run
   * soonest (it has the capacity, and most of it free), its free instances of the needed
   * types are reserved, so later joblists cannot take them. Returns that node, or null if
   * no candidate could ever run it.
   */
  reserve (needs: Record<string, number>, label: string, candidates?: string[]): string | null {
    const types = Object.keys(needs).filter(t => needs[t] > 0)
    // Only nodes with something of the needed types still free can hold anything back.
    let pool: Iterable<string>
    if (candidates !== undefined) pool = candidates
    else {
      // Only nodes that could ever run it: those advertising the scarcest needed type.
      let scarce: string[] | undefined
      for (const t of types) {
        const list = this.capableOf(t)
        if (scarce === undefined || list.length < scarce.length) scarce = list
      }
      pool = scarce ?? this.nodes
    }
    let best: string | null = null
    let bestFree = -1
    for (const n of pool) {
      const node = this.state.nodes[n]
      if (node === undefined || !this.free.has(n)) continue
      if (types.some(t => (node.resources[t]?.length ?? 0) < needs[t])) continue
      const free = types.reduce((sum, t) => sum + Math.min(needs[t], this.free.get(n)?.get(t)?.length ?? 0), 0)
      if (free > bestFree || (free === bestFree && best !== null && n < best)) { best = n; bestFree = free }
    }
    if (best === null || bestFree === 0) return null
    const f = this.free.get(best) as Map<string, string[]>
    let r = this.reserved.get(best)
    if (r === undefined) this.reserved.set(best, r = new Map())
    for (const t of types) {
      const list = f.get(t) ?? []
      for (const id of list.splice(0, needs[t])) r.set(key(t, id), label)
      if (list.length === 0) this.withType.get(t)?.delete(best)
    }
    return best
  }

  private readonly capableCache = new Map<string, string[]>()

  /** Alive nodes that advertise at least one instance of `type`. */
  private capableOf (type: string): string[] {
    let list = this.capableCache.get(type)
    if (list === undefined) {
      list = this.nodes.filter(n => (this.state.nodes[n]?.resources[type]?.length ?? 0) > 0)
      this.capableCache.set(type, list)
    }
    return list
  }

  /** A node that could ever run `needs` (enough instances in total), preferring `candidates`. */
  capable (needs: Record<string, number>, candidates?: string[]): string | null {
    const types = Object.keys(needs).filter(t => needs[t] > 0)
    return (candidates ?? this.nodes).find(n => this.free.has(n) && types.every(t => (this.state.nodes[n]?.resources[t]?.length ?? 0) >= needs[t])) ?? null
  }

  /** Why `needs` does not fit on `node` now: who holds or reserved each needed instance. */
  blame (node: string, needs: Record<string, number>, label: (jobId: string) => string): string[] {
    const out: string[] = []
    const adv = this.state.nodes[node]?.resources ?? {}
    const h = this.holders.get(node)
    const r = this.reserved.get(node)
    for (const t of Object.keys(needs)) {
      if (needs[t] <= 0 || (this.free.get(node)?.get(t)?.length ?? 0) >= needs[t]) continue
      const byWho = new Map<string, string[]>()
      for (const id of adv[t] ?? []) {
        const holder = h?.get(key(t, id))
        const who = holder !== undefined ? `held by ${label(holder)}` : r?.get(key(t, id)) !== undefined ? `reserved for earlier joblist ${r.get(key(t, id)) as string}` : undefined
        if (who !== undefined) byWho.set(who, [...(byWho.get(who) ?? []), id])
      }
      out.push(...[...byWho].map(([who, ids]) => `${ids.join(',')} ${who}`))
    }
    return out
  }
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
