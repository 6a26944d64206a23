// Fair share (P-4): usage per owner, and how much an owner's priority still counts.
// A pure function of the state and `now`: nothing clock-dependent is stored in the state, so
// every node computes the same from the same events (whatever order they came in).
//
//  usage   Σ over the owner's attempts that ran (started; running ones up to now):
//          instances held (the attempt's resources, all types) × seconds it ran ×
//          max(0, priority)/100 of its joblist, each second decayed by 2^(−age/halfLife).
//          Priority <= 0 costs nothing; priority 100 costs one unit per resource-second.
//  share   the owner's weight (scheduler.fairShare.shares, default 1) over the weights of the
//          owners seen (a joblist queued or running, or any decayed work done).
//  target  share × all decayed resource-seconds done (free work included).
//  factor  max(0, 1 − usage/target) (1 while nothing was done yet): at its target an owner's
//          positive priority counts nothing, its work is served like free work.
import type { Resources } from '../events/types.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'

export interface FairShareOptions {
  /** Usage halves every halfLifeMs. */
  halfLifeMs: number
  /** Owner -> weight; owners not listed weigh 1. */
  shares: Record<string, number>
  /** The usage of joblists no longer in the state (archived out of memory), per owner. */
  past?: Readonly<Record<string, PastUsage>>
  /**
   * The master's index of usage (usage-index.ts): fairShareUsage asks it instead of reading
   * every joblist in memory. Absent: computed from the state.
   */
  index?: UsageSource
}

/** What computes the owners' usage in place of a walk of every joblist (usage-index.ts). */
export interface UsageSource {
  usage: (state: ClusterState, now: number, o: FairShareOptions) => OwnerUsage[]
}

/** An owner's decayed usage (raw and charged resource-seconds) as it was at time `at`. */
export interface PastUsage { raw: number, charged: number, at: number }

/** A joblist's decayed usage at `now`: resource-seconds, and charged by its priority. */
export function joblistUsage (state: ClusterState, jl: JoblistRecord, now: number, H: number): { raw: number, charged: number } {
  let sum = 0
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      for (const jobId of state.jobs[logicalId]?.physical ?? [logicalId]) {
        const byN = state.attempts[jobId]
        if (byN === undefined) continue
        // Attempt numbers are integer keys: JavaScript lists them in ascending order.
        for (const a of Object.values(byN)) {
          if (a.startedAt === undefined) continue
          const count = instanceCount(a.resources)
          if (count === 0) continue
          sum += count * decayedSeconds(a.startedAt, a.endedAt ?? now, now, H)
        }
      }
    }
  }
  return { raw: sum, charged: sum * priorityWeight(jl.priority) }
}

/** Past usage plus (or, with sign -1, minus) a joblist's usage at `now`, decayed to `now`. */
export function addPastUsage (past: Record<string, PastUsage>, owner: string, u: { raw: number, charged: number }, now: number, halfLifeMs: number, sign = 1): void {
  const p = past[owner]
  const f = p === undefined ? 0 : Math.pow(2, -Math.max(0, now - p.at) / halfLifeMs)
  const raw = Math.max(0, (p?.raw ?? 0) * f + sign * u.raw)
  const charged = Math.max(0, (p?.charged ?? 0) * f + sign * u.charged)
  if (raw <= 0 && charged <= 0) delete past[owner]
  else past[owner] = { raw, charged, at: Math.max(now, p?.at ?? now) }
}

export const DEFAULT_FAIR_SHARE: FairShareOptions = { halfLifeMs: 7 * 24 * 3600_000, shares: {} }

export interface OwnerUsage {
  owner: string
  /** Decayed, priority-weighted resource-seconds (what the owner is charged). */
  usage: number
  /** Decayed resource-seconds, whatever the priority. */
  resourceSeconds: number
  /** The owner's configured weight. */
  weight: number
  /** The owner's fraction of the cluster: weight / Σ weights of the owners seen. */
  share: number
  /** share × all decayed resource-seconds: the usage at which the factor reaches 0. */
  target: number
  /** What a positive priority is multiplied by under the fairshare policy, in [0, 1]. */
  factor: number
}

/** A joblist that ended this many half-lives ago weighs less than 2^-40 of its work: skipped. */
export const FORGET_HALF_LIVES = 40

/**
 * ∫ 2^(−(now−t)/H) dt over [start, end] (ms), in seconds: the decayed length of a run.
 * Both ends are clamped to now; a run of length 0 (or ending before it starts) counts 0.
 */
export function decayedSeconds (start: number, end: number, now: number, halfLifeMs: number): number {
  const e = Math.min(end, now)
  const s = Math.min(start, e)
  if (e <= s) return 0
  const k = Math.LN2 / halfLifeMs
  // 2^(−(now−e)/H) × (1 − 2^(−(e−s)/H)) × H/ln2, with expm1 for short runs.
  return Math.exp(-k * (now - e)) * -Math.expm1(-k * (e - s)) / k / 1000
}

/** Instances an attempt holds (all types). */
export function instanceCount (r: Resources): number {
  let n = 0
  for (const ids of Object.values(r)) n += ids.length
  return n
}

/** Priority's weight on usage: priority/100, nothing for priority <= 0. */
export const priorityWeight = (priority: number): number => Math.max(0, priority) / 100

/**
 * Usage, share and factor of every owner seen, sorted by owner. Joblists are visited in ID
 * order and attempts by number, so the sums (floating point) are the same however the
 * events arrived.
 */
export function fairShareUsage (state: ClusterState, now: number, o: FairShareOptions = DEFAULT_FAIR_SHARE): OwnerUsage[] {
  if (o.index !== undefined) return o.index.usage(state, now, o)
  const H = halfLifeOf(o)
  const horizon = now - FORGET_HALF_LIVES * H
  const raw = new Map<string, number>()
  const charged = new Map<string, number>()
  const seen = new Set<string>()
  for (const id of state.queue) seen.add(state.joblists[id].owner)
  for (const id of Object.keys(state.joblists).sort()) {
    const jl = state.joblists[id]
    if (jl.endedAt !== undefined && jl.endedAt < horizon) continue
    const { raw: sum } = joblistUsage(state, jl, now, H)
    if (sum <= 0) continue
    seen.add(jl.owner)
    raw.set(jl.owner, (raw.get(jl.owner) ?? 0) + sum)
    charged.set(jl.owner, (charged.get(jl.owner) ?? 0) + sum * priorityWeight(jl.priority))
  }
  return ownerShares(raw, charged, seen, now, o)
}

/** The half-life in effect (the default for a value that is not positive). */
export const halfLifeOf = (o: FairShareOptions): number => o.halfLifeMs > 0 ? o.halfLifeMs : DEFAULT_FAIR_SHARE.halfLifeMs

/**
 * Every owner's share and factor, from the decayed usage of the joblists in memory by owner
 * (`raw`, `charged`: resource-seconds at `now`) and the owners seen (a joblist queued, or
 * usage), with the usage of joblists archived out of memory (`o.past`) added. Sorted by owner.
 */
export function ownerShares (raw: Map<string, number>, charged: Map<string, number>, seen: Set<string>, now: number, o: FairShareOptions): OwnerUsage[] {
  const H = halfLifeOf(o)
  for (const [owner, p] of Object.entries(o.past ?? {})) {
    const f = Math.pow(2, -Math.max(0, now - p.at) / H)
    if (p.raw * f <= 0) continue
    seen.add(owner)
    raw.set(owner, (raw.get(owner) ?? 0) + p.raw * f)
    charged.set(owner, (charged.get(owner) ?? 0) + p.charged * f)
  }
  const owners = [...seen].sort()
  const weightOf = (owner: string): number => {
    const w = Object.hasOwn(o.shares, owner) ? o.shares[owner] : 1
    return Number.isFinite(w) && w > 0 ? w : 1
  }
  const totalWeight = owners.reduce((t, owner) => t + weightOf(owner), 0)
  const total = owners.reduce((t, owner) => t + (raw.get(owner) ?? 0), 0)
  return owners.map(owner => {
    const weight = weightOf(owner)
    const share = weight / totalWeight
    const usage = charged.get(owner) ?? 0
    const target = share * total
    return { owner, usage, resourceSeconds: raw.get(owner) ?? 0, weight, share, target, factor: target > 0 ? Math.max(0, 1 - usage / target) : 1 }
  })
}

/** Owner -> factor (owners not seen: 1). */
export function fairShareFactors (state: ClusterState, now: number, o: FairShareOptions = DEFAULT_FAIR_SHARE): Map<string, number> {
  return new Map(fairShareUsage(state, now, o).map(u => [u.owner, u.factor]))
}
