// The master's index of its work list (issue 12): which joblists of the queue may hold
// instances, and how many joblists of the queue have open jobs of each kind of need in their
// current stage (kinds.ts openKinds). With it a pass reads
// the instances held from the joblists that run, and stops walking the queue once no kind of
// need left in it can be placed or reserve anything (placement.ts): its cost follows what runs
// and what it places, not the length of the queue (without it, a pass over a saturated cluster
// walked every queued joblist after every job's end: 3.6 ms at 50,000 queued, on every node
// that became master, and the master's CPU a job grew with the queue).
// Pure: the node tells it which joblists changed (the IDs the reducer returns, as it tells
// JoblistCounts) and it reads them from the state. `differences` is its audit: what a recount
// of the state would say otherwise.
import { comparePositions } from '../state/position.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { needsNothing, openKinds } from './kinds.js'
import type { QueueOptions } from './queue.js'
import { ServedOrder } from './served-order.js'

/** What a pass reads of the index. */
export interface QueueView {
  /** Joblists of the queue that may hold instances: their state is not `queued`. */
  readonly running: ReadonlySet<string>
  /**
   * Kind of need of the jobs a pass could place now (kinds.ts openKinds: `''` needs nothing,
   * `kind@node` pinned to a node) -> how many joblists of the queue have such a job (none: absent).
   */
  readonly kinds: ReadonlyMap<string, number>
  /** How many of those kinds need nothing (`''`, `@node`): such a job fits with nothing free. */
  readonly needsNothing: number
  /**
   * The queue in the order `o` serves it at `now`, one joblist at a time, from a standing order
   * (served-order.ts: a pass pays for the joblists it looks at, not a heap of the whole queue);
   * undefined under fifo (the queue's own order).
   */
  served?: (state: ClusterState, now: number, o: QueueOptions) => (() => JoblistRecord | undefined) | undefined
}

/**
 * The joblists of the queue that may hold instances, in queue order (as a walk of the queue
 * meets them: the decisions come in the same order with the index as without): those the
 * index names, or every one of the queue.
 */
export function runningInQueueOrder (state: ClusterState, index: QueueView | undefined): string[] {
  if (index === undefined) return state.queue.filter(id => state.joblists[id]?.state !== 'queued')
  // (An ID without a record would be a defect of the index: passed over here, named by its audit.)
  const ids = [...index.running].filter(id => state.joblists[id] !== undefined)
  return ids.sort((a, b) => comparePositions(state.joblists[a].position, state.joblists[b].position))
}

export class QueueIndex implements QueueView {
  readonly running = new Set<string>()
  readonly kinds = new Map<string, number>()
  needsNothing = 0
  /** The kinds counted for each joblist of the queue. */
  private readonly counted = new Map<string, readonly string[]>()
  /** False until the first view: the queue is counted whole then, and changes before it are not needed. */
  private fresh = false
  /** The queue by effective priority (priority and fairshare policies; built when a pass first asks). */
  private readonly order = new ServedOrder()

  /** These joblists may have changed (their state, or whether they are in the queue): index them as they are now. */
  update (state: ClusterState, ids: Iterable<string>): void {
    if (!this.fresh) return
    for (const id of ids) this.set(state, id)
  }

  /** The index of `state` (counted whole the first time). */
  view (state: ClusterState): QueueView {
    if (!this.fresh) this.recount(state)
    return this
  }

  served (state: ClusterState, now: number, o: QueueOptions): (() => JoblistRecord | undefined) | undefined {
    return this.order.served(state, now, o)
  }

  /** Index the queue of `state` afresh. */
  recount (state: ClusterState): void {
    this.order.clear()
    this.running.clear()
    this.kinds.clear()
    this.counted.clear()
    this.needsNothing = 0
    this.fresh = true
    for (const id of state.queue) this.set(state, id)
  }

  /** How this index differs from a recount of `state` (empty: it does not), at most `max` lines. */
  differences (state: ClusterState, max = 5): string[] {
    const fresh = new QueueIndex()
    fresh.recount(state)
    const out: string[] = []
    const same = <T>(a: ReadonlyMap<string, T> | ReadonlySet<string>, b: ReadonlyMap<string, T> | ReadonlySet<string>, what: string): void => {
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        const x = a instanceof Map ? a.get(k) : a.has(k)
        const y = b instanceof Map ? b.get(k) : b.has(k)
        if (String(x) !== String(y) && out.length < max) out.push(`${what} ${JSON.stringify(k)}: indexed ${String(x)}, in the state ${String(y)}`)
      }
    }
    same(this.running, fresh.running, 'running')
    same(this.kinds, fresh.kinds, 'kind')
    if (this.needsNothing !== fresh.needsNothing && out.length < max) out.push(`kinds that need nothing: indexed ${this.needsNothing}, in the state ${fresh.needsNothing}`)
    if (out.length < max) out.push(...this.order.differences(state, max - out.length))
    return out
  }

  private set (state: ClusterState, id: string): void {
    const jl = state.joblists[id]
    // In the queue exactly while not ended (reducer.ts recompute).
    const queued = jl !== undefined && (jl.state === 'queued' || jl.state === 'running')
    this.order.update(state, id, queued)
    const was = this.counted.get(id)
    if (!queued) {
      if (was === undefined) return
      for (const k of was) this.count(k, -1)
      this.counted.delete(id)
      this.running.delete(id)
      return
    }
    // (What is open changes as jobs are placed, end, and stages follow: counted again each time.)
    const kinds = openKinds(state, jl)
    for (const k of kinds) this.count(k, 1)
    for (const k of was ?? []) this.count(k, -1)
    this.counted.set(id, kinds)
    if (jl.state === 'queued') this.running.delete(id)
    else this.running.add(id)
  }

  private count (kind: string, by: number): void {
    const was = this.kinds.get(kind) ?? 0
    const n = was + by
    if (n > 0) this.kinds.set(kind, n)
    else this.kinds.delete(kind)
    if ((was > 0) !== (n > 0) && needsNothing(kind)) this.needsNothing += n > 0 ? 1 : -1
  }
}
