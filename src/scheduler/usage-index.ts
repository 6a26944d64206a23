// The master's index of fair-share usage (P-4, issue 12). Under the fairshare policy a pass
// needs every owner's usage: computed from the state, that reads every joblist in memory and
// sorts their IDs (fairshare.ts fairShareUsage: 18 ms a pass with 10,000 joblists held, 105 ms
// with 60,000; an agent keeps ended joblists in memory for 10 minutes, so at 100 jobs a second
// it holds 60,000). The index keeps, per owner, the decayed usage of its settled joblists
// (ended, every attempt that started ended too: their usage only decays from then on) summed
// as they settle, scaled to an epoch (read with one multiplication, never decayed pass by pass);
// a pass then adds what the few joblists still
// running used up to now, the owners of the queue and the archived usage: its cost follows the
// owners and what runs, not what memory holds. The numbers are fairShareUsage's up to the
// rounding of sums made in another order (and a joblist's usage decayed as one sum, not attempt
// by attempt): the master compares them now and then (master-role.ts), at every pass under
// CIS_CHECK_SNAPSHOTS=1. Pure: the node tells it which joblists changed (the IDs the reducer
// returns) and it reads them from the state; time comes in with each call.
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { FORGET_HALF_LIVES, halfLifeOf, joblistUsage, ownerShares, priorityWeight } from './fairshare.js'
import type { FairShareOptions, OwnerUsage, UsageSource } from './fairshare.js'
import { MinHeap } from '../util/min-heap.js'

/** A settled joblist's part of its owner's sum: its usage (resource-seconds) at time `at`. */
interface Part { owner: string, raw: number, charged: number, at: number, endedAt: number }

/**
 * When a joblist's usage stops growing: the latest end of its attempts that started, once the
 * joblist has ended and no attempt of it runs (undefined while it may still use something).
 */
export function settledAt (state: ClusterState, jl: JoblistRecord): number | undefined {
  if (jl.endedAt === undefined) return undefined
  let last = jl.endedAt
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      for (const jobId of state.jobs[logicalId]?.physical ?? [logicalId]) {
        for (const a of Object.values(state.attempts[jobId] ?? {})) {
          if (a.startedAt === undefined) continue
          if (a.endedAt === undefined) return undefined
          if (a.endedAt > last) last = a.endedAt
        }
      }
    }
  }
  return last
}

/** The owner of a joblist of the queue (in it exactly while not ended: reducer.ts recompute), else undefined. */
function queuedOwnerOf (state: ClusterState, id: string): string | undefined {
  const jl = state.joblists[id]
  return jl !== undefined && (jl.state === 'queued' || jl.state === 'running') ? jl.owner : undefined
}

/** A node not reading the index (not master under fairshare) forgets it after this many changes untold: counted afresh if asked again. */
const MAX_UNREAD_CHANGES = 10_000

/** The sums are kept scaled to an epoch, moved on once this many half-lives past it (a factor of 2^10). */
const REBASE_HALF_LIVES = 10

export class UsageIndex implements UsageSource {
  /**
   * Per owner: the usage of its settled joblists, each scaled to the epoch (its value at time
   * t is sum x 2^-((t - epoch)/H): one multiplication on reading, not a decay of every sum at
   * every pass, whose roundings would add up over millions of passes), and their IDs.
   */
  private readonly sums = new Map<string, { raw: number, charged: number, ids: Set<string> }>()
  private epoch = 0
  /** The latest `now` read (a clock that steps back: counted afresh). */
  private lastNow = -Infinity
  /** The settled joblists counted in the sums. */
  private readonly parts = new Map<string, Part>()
  /** Settled joblists by end time (a min-heap, stale entries left in): those past the horizon leave the sums. */
  private readonly heap = new MinHeap<[number, string]>((a, b) => a[0] < b[0])
  /** Joblists that have used something and may use more (an attempt started and not ended, or not ended): read at every pass. */
  private readonly live = new Set<string>()
  /** Joblists changed since the last pass: looked at again then. */
  private readonly dirty = new Set<string>()
  /** Owners of the joblists of the queue, and how many each (a joblist queued counts its owner as seen). */
  private readonly queuedOwners = new Map<string, number>()
  private readonly queuedOwner = new Map<string, string>()
  /** The half-life the sums were made with (another one: counted afresh). */
  private H = 0
  private fresh = false

  /** These joblists may have changed: looked at again at the next pass (their queue membership at once). */
  update (state: ClusterState, ids: Iterable<string>): void {
    if (!this.fresh) return
    for (const id of ids) {
      this.dirty.add(id)
      this.setQueued(id, queuedOwnerOf(state, id))
    }
    // (Not read: this node is not, or no longer, the master under fairshare.)
    if (this.dirty.size > MAX_UNREAD_CHANGES) this.forget()
  }

  /** Let go of everything held (the master role revoked, or the index unread): counted afresh if asked again. */
  forget (): void {
    this.sums.clear()
    this.parts.clear()
    this.heap.reset([])
    this.live.clear()
    this.dirty.clear()
    this.queuedOwners.clear()
    this.queuedOwner.clear()
    this.lastNow = -Infinity
    this.fresh = false
  }

  /** Every owner's usage, share and factor at `now` (fairShareUsage's, from the index). */
  usage (state: ClusterState, now: number, o: FairShareOptions): OwnerUsage[] {
    const H = halfLifeOf(o)
    if (!this.fresh || H !== this.H || now < this.lastNow) this.recount(state, H, now)
    this.lastNow = now
    if (now - this.epoch > REBASE_HALF_LIVES * H) this.rebase(now)
    const horizon = now - FORGET_HALF_LIVES * H
    for (const id of this.dirty) this.look(state, id, now)
    this.dirty.clear()
    // What the joblists still running used up to now (those settled since go into the sums).
    const running: Array<[string, number, number]> = []
    for (const id of this.live) {
      const jl = state.joblists[id]
      if (jl === undefined) { this.live.delete(id); continue }
      if (this.settle(state, jl, now)) continue
      if (jl.endedAt !== undefined && jl.endedAt < horizon) continue
      const u = joblistUsage(state, jl, now, H)
      if (u.raw > 0) running.push([jl.owner, u.raw, u.charged])
    }
    // Joblists that ended past the horizon count nothing any more (as fairShareUsage skips them).
    while (this.heap.size > 0 && (this.heap.peek() as [number, string])[0] < horizon) {
      const [endedAt, id] = this.heap.pop() as [number, string]
      if (this.parts.get(id)?.endedAt === endedAt) this.drop(id)
    }
    const raw = new Map<string, number>()
    const charged = new Map<string, number>()
    const seen = new Set<string>(this.queuedOwners.keys())
    const f = Math.pow(2, -(now - this.epoch) / H)
    for (const [owner, s] of this.sums) {
      seen.add(owner)
      raw.set(owner, s.raw * f)
      charged.set(owner, s.charged * f)
    }
    for (const [owner, r, c] of running) {
      seen.add(owner)
      raw.set(owner, (raw.get(owner) ?? 0) + r)
      charged.set(owner, (charged.get(owner) ?? 0) + c)
    }
    return ownerShares(raw, charged, seen, now, o)
  }

  /** Count `state` afresh (the first pass, another half-life, a clock that stepped back, or after the audit found a difference). */
  recount (state: ClusterState, H = this.H, now = this.lastNow): void {
    this.forget()
    this.H = H
    this.epoch = Number.isFinite(now) ? now : 0
    this.fresh = true
    for (const id of Object.keys(state.joblists)) {
      this.setQueued(id, queuedOwnerOf(state, id))
      this.dirty.add(id)
    }
  }

  /** The sums scaled to a later epoch (once in REBASE_HALF_LIVES half-lives). */
  private rebase (now: number): void {
    const f = Math.pow(2, -(now - this.epoch) / this.H)
    for (const s of this.sums.values()) { s.raw *= f; s.charged *= f }
    this.epoch = now
  }

  /** A part's weight at the epoch: its usage at its time `at`, scaled. */
  private scale (p: Part): number { return Math.pow(2, (p.at - this.epoch) / this.H) }

  /** A joblist changed: out of the sums, then counted as it is now (settled, live, or nothing yet). */
  private look (state: ClusterState, id: string, now: number): void {
    this.drop(id)
    this.live.delete(id)
    const jl = state.joblists[id]
    if (jl === undefined) return
    if (this.settle(state, jl, now)) return
    // Not settled: live if it used (or uses) anything.
    for (const stage of jl.stages) {
      for (const logicalId of stage.jobIds) {
        for (const jobId of state.jobs[logicalId]?.physical ?? [logicalId]) {
          for (const a of Object.values(state.attempts[jobId] ?? {})) if (a.startedAt !== undefined) { this.live.add(id); return }
        }
      }
    }
    // (Nothing started: it counts nothing until it does, and then it changes.)
  }

  /** If the joblist is settled by `now`, put it in its owner's sum (out of the live set): true. */
  private settle (state: ClusterState, jl: JoblistRecord, now: number): boolean {
    const at = settledAt(state, jl)
    if (at === undefined || at > now) {
      if (at !== undefined) this.live.add(jl.id) // (ends later than now on this clock: read as it goes)
      return false
    }
    this.live.delete(jl.id)
    const u = joblistUsage(state, jl, now, this.H)
    if (u.raw <= 0) return true
    const part: Part = { owner: jl.owner, raw: u.raw, charged: u.raw * priorityWeight(jl.priority), at: now, endedAt: jl.endedAt as number }
    this.parts.set(jl.id, part)
    this.push([part.endedAt, jl.id])
    const s = this.sums.get(jl.owner) ?? { raw: 0, charged: 0, ids: new Set<string>() }
    const k = this.scale(part)
    s.raw += part.raw * k
    s.charged += part.charged * k
    s.ids.add(jl.id)
    this.sums.set(jl.owner, s)
    return true
  }

  /** A settled joblist leaves its owner's sum (an owner with none left sums to exactly nothing). */
  private drop (id: string): void {
    const p = this.parts.get(id)
    if (p === undefined) return
    this.parts.delete(id)
    const s = this.sums.get(p.owner)
    if (s === undefined) return
    s.ids.delete(id)
    if (s.ids.size === 0) { this.sums.delete(p.owner); return }
    const k = this.scale(p)
    s.raw -= p.raw * k
    s.charged -= p.charged * k
    // Most of the sum went with it (a large purge): what is left is summed again from its parts,
    // not left as the difference of two large numbers.
    if (!(s.raw > 1e-6 * p.raw * k)) {
      s.raw = 0
      s.charged = 0
      for (const other of s.ids) {
        const q = this.parts.get(other) as Part
        const kq = this.scale(q)
        s.raw += q.raw * kq
        s.charged += q.charged * kq
      }
    }
  }

  private setQueued (id: string, owner: string | undefined): void {
    const had = this.queuedOwner.get(id)
    if (had === owner) return
    if (had !== undefined) {
      const n = (this.queuedOwners.get(had) ?? 1) - 1
      if (n <= 0) this.queuedOwners.delete(had)
      else this.queuedOwners.set(had, n)
      this.queuedOwner.delete(id)
    }
    if (owner !== undefined) {
      this.queuedOwner.set(id, owner)
      this.queuedOwners.set(owner, (this.queuedOwners.get(owner) ?? 0) + 1)
    }
  }

  /** Into the heap of end times (rebuilt from the parts once stale entries are half of it). */
  private push (x: [number, string]): void {
    if (this.heap.size > 64 && this.heap.size > 2 * this.parts.size) this.heap.reset([...this.parts].map(([id, p]): [number, string] => [p.endedAt, id]))
    this.heap.push(x)
  }
}

/**
 * Where the index's usage differs from fairShareUsage computed from the state (beyond the
 * rounding of sums made in another order): one line each; none if they agree.
 */
export function usageDifferences (indexed: OwnerUsage[], walked: OwnerUsage[]): string[] {
  const out: string[] = []
  // Usage within a billionth of the cluster's whole (a sum that lost a large part keeps the
  // rounding of it), shares and factors within a billionth.
  const whole = Math.max(1, ...walked.map(u => u.resourceSeconds), ...walked.map(u => u.usage))
  const close = (a: number, b: number, scale: number): boolean => Math.abs(a - b) <= 1e-9 * scale + 1e-9
  const byOwner = new Map(walked.map(u => [u.owner, u]))
  if (indexed.map(u => u.owner).join('\n') !== walked.map(u => u.owner).join('\n')) out.push(`owners seen: ${indexed.map(u => u.owner).join(',')} vs ${walked.map(u => u.owner).join(',')}`)
  for (const u of indexed) {
    const w = byOwner.get(u.owner)
    if (w === undefined) continue
    for (const k of ['usage', 'resourceSeconds', 'target'] as const) if (!close(u[k], w[k], whole)) out.push(`${u.owner} ${k}: indexed ${u[k]}, in the state ${w[k]}`)
    for (const k of ['share', 'factor'] as const) if (!close(u[k], w[k], 1)) out.push(`${u.owner} ${k}: indexed ${u[k]}, in the state ${w[k]}`)
  }
  return out
}
