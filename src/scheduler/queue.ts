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
  const factors = o.policy === 'fairshare' && state !== undefined ? fairShareFactors(state, now, o.fairShare ?? DEFAULT_FAIR_SHARE) : undefined
  const eff = new Map(queue.map(jl => [jl.id, effectivePriority(jl, now, o, factors?.get(jl.owner) ?? 1)]))
  return queue.slice().sort((a, b) => (eff.get(b.id) as number) - (eff.get(a.id) as number) || comparePositions(a.position, b.position))
}
