// Queue order (D-4): the policy decides which joblist comes first. Both policies keep the
// never-delay-earlier rule of the placement: a joblist only uses what no joblist ahead of it
// in this order waits for.
//
//  fifo      the order the master accepted them (R3-4).
//  priority  effective priority = priority + aging x minutes since accepted, highest first;
//            ties in accept order. Aging lets long-waiting low-priority work overtake
//            (P-3): with aging a > 0, a joblist waiting m minutes gains a*m points.
import type { JoblistRecord } from '../state/types.js'
import { comparePositions } from '../state/reducer.js'

export type QueuePolicy = 'fifo' | 'priority'

export interface QueueOptions {
  policy: QueuePolicy
  /** Priority points gained per minute of waiting (priority policy). */
  agingPerMinute: number
}

export const DEFAULT_QUEUE: QueueOptions = { policy: 'fifo', agingPerMinute: 1 }

export function effectivePriority (jl: JoblistRecord, now: number, o: QueueOptions): number {
  return jl.priority + o.agingPerMinute * Math.max(0, now - jl.acceptedAt) / 60_000
}

/** The joblists (already in accept order) in the order the policy serves them. */
export function orderQueue (queue: JoblistRecord[], now: number, o: QueueOptions): JoblistRecord[] {
  if (o.policy === 'fifo') return queue
  const eff = new Map(queue.map(jl => [jl.id, effectivePriority(jl, now, o)]))
  return queue.slice().sort((a, b) => (eff.get(b.id) as number) - (eff.get(a.id) as number) || comparePositions(a.position, b.position))
}
