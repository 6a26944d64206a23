// Queue order (D-4): the policy decides which joblist comes first. Every policy keeps the
// never-delay-earlier rule of the placement: a joblist only uses what no joblist ahead of it
// in this order waits for.
//
//  fifo       the order the master accepted them (R3-4).
//  priority   effective priority = priority + aging x minutes since accepted, highest first;
//             ties in accept order. Aging lets long-waiting low-priority work overtake
//             (P-3): with aging a > 0, a joblist waiting m minutes gains a*m points.
//  fairshare  as priority, but a positive priority is first multiplied by its owner's
//             fair-share factor (fairshare.ts): 1 for an owner with no usage, falling to 0
//             as the owner's usage reaches its share. Priority <= 0 is left as it is.
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { comparePositions } from '../state/reducer.js'
import { DEFAULT_FAIR_SHARE, fairShareFactors } from './fairshare.js'
import type { FairShareOptions } from './fairshare.js'

export type QueuePolicy = 'fifo' | 'priority' | 'fairshare'

export interface QueueOptions {
  policy: QueuePolicy
  /** Priority points gained per minute of waiting (priority and fairshare policies). */
  agingPerMinute: number
  /** Half-life and shares (fairshare policy; default 7 days, equal shares). */
  fairShare?: FairShareOptions
}

export const DEFAULT_QUEUE: QueueOptions = { policy: 'fifo', agingPerMinute: 1 }

/** Effective priority; `factor` is the owner's fair-share factor (1 outside the fairshare policy). */
export function effectivePriority (jl: JoblistRecord, now: number, o: QueueOptions, factor = 1): number {
  const base = jl.priority > 0 ? jl.priority * factor : jl.priority
  return base + o.agingPerMinute * Math.max(0, now - jl.acceptedAt) / 60_000
}

/**
 * The joblists (already in accept order) in the order the policy serves them. The fairshare
 * policy computes usage from `state` once per call (one scheduler pass).
 */
export function orderQueue (queue: JoblistRecord[], now: number, o: QueueOptions, state?: ClusterState): JoblistRecord[] {
  if (o.policy === 'fifo') return queue
  const factors = state !== undefined ? queueFactors(state, now, o) : undefined
  const eff = new Map(queue.map(jl => [jl.id, effectivePriority(jl, now, o, factors?.get(jl.owner) ?? 1)]))
  return queue.slice().sort((a, b) => servedFirst(eff.get(a.id) as number, a, eff.get(b.id) as number, b))
}

/** Which of two joblists the policy serves first (< 0: `a`): the higher effective priority, then the earlier accept position. */
export function servedFirst (effA: number, a: JoblistRecord, effB: number, b: JoblistRecord): number {
  return (effB - effA) || comparePositions(a.position, b.position)
}

/** The owners' fair-share factors a pass under `o` uses (fairshare), once a pass; undefined otherwise (every factor 1). */
export function queueFactors (state: ClusterState, now: number, o: QueueOptions): Map<string, number> | undefined {
  return o.policy === 'fairshare' ? fairShareFactors(state, now, o.fairShare ?? DEFAULT_FAIR_SHARE) : undefined
}

/**
 * The queue (the state's, in accept order) in the order the policy serves it, handed out one
 * joblist at a time: what orderQueue returns, in the same order, without sorting all of it. A
 * binary heap of the queue's indices (built in linear time) with the same comparison (effective
 * priority, highest first, then accept position) gives the next joblist at the cost of a
 * logarithm: a walk that stops early pays for the joblists it looks at, and one linear pass,
 * not for a sort of the whole queue (a sort of 100,000 queued joblists took 120-165 ms). The
 * master's pass has its index's standing order instead (served-order.ts: not even the linear
 * pass); this serves the fifo policy, one joblist's wait reasons, and a pass without the index.
 */
export function servedInOrder (state: ClusterState, now: number, o: QueueOptions): () => JoblistRecord | undefined {
  if (o.policy === 'fifo') {
    const ids = state.queue[Symbol.iterator]()
    return () => { const next = ids.next(); return next.done === true ? undefined : state.joblists[next.value] }
  }
  const ids = state.queue.toArray()
  const factors = queueFactors(state, now, o)
  const n = ids.length
  const records = new Array<JoblistRecord>(n)
  const eff = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const jl = state.joblists[ids[i]]
    records[i] = jl
    eff[i] = effectivePriority(jl, now, o, factors?.get(jl.owner) ?? 1)
  }
  // a before b: as orderQueue's sort (higher effective priority, then the earlier position).
  const before = (a: number, b: number): boolean => servedFirst(eff[a], records[a], eff[b], records[b]) < 0
  const heap = new Int32Array(n)
  for (let i = 0; i < n; i++) heap[i] = i
  let size = n
  const down = (from: number): void => {
    let i = from
    const x = heap[i]
    for (;;) {
      let c = 2 * i + 1
      if (c >= size) break
      if (c + 1 < size && before(heap[c + 1], heap[c])) c++
      if (!before(heap[c], x)) break
      heap[i] = heap[c]
      i = c
    }
    heap[i] = x
  }
  for (let i = (n >> 1) - 1; i >= 0; i--) down(i)
  return () => {
    if (size === 0) return undefined
    const top = heap[0]
    heap[0] = heap[--size]
    if (size > 0) down(0)
    return records[top]
  }
}
