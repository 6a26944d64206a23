// Purge cuts (G-6): a purge also takes the purged joblists' events out of every node's log.
// The node that writes the purge lists, per origin, the seq ranges of the events it holds that
// are only about the purged joblists (`purgeable`): the purge's cut. Every node applies the cut
// to its state (state.cuts), deletes those events from its own log once it has applied the
// purge (node/reclaim.ts), and serves a gap in an origin's log as a skip of the seqs a cut
// covers, proved by the purge event itself (signed by its writer). A node that never had the
// events takes the skip instead of them: its state is the same, because the purge removes
// every record they made, the purge's `counters` carry the master ID counters they fed, and the
// purge event's clock is later than theirs. Pure.
import type { UnsignedEvent } from '../events/types.js'
import { eventKey } from '../events/types.js'
import { joblistOf } from './subjects.js'
import type { ClusterState } from './types.js'
import { isPurged } from './purged.js'

/** The most seq ranges one purge event's cut holds; a larger cut is several events. */
export const MAX_CUT_RANGES = 20_000

/** A purge's cut as a peer sent it: per origin, ranges [from, to] of seqs >= 1, sorted and apart, MAX_CUT_RANGES at most. */
export function isCut (v: unknown): v is Cut {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  let n = 0
  for (const [origin, ranges] of Object.entries(v)) {
    if (origin.length > 256 || !Array.isArray(ranges) || ranges.length === 0) return false
    let last = 0
    for (const r of ranges) {
      if (!Array.isArray(r) || r.length !== 2 || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1]) || r[0] <= last || r[1] < r[0]) return false
      last = r[1]
      if (++n > MAX_CUT_RANGES) return false
    }
  }
  return true
}

/** Seq ranges [from, to] (inclusive) per origin. */
export type Cut = Record<string, Array<[number, number]>>
/** A range of a cut, with the key (`origin:seq`) of the purge event that named it. */
export type CutRange = [number, number, string]

/**
 * The one joblist (ID) or request (key) an event belongs to; undefined for events about the
 * cluster, and for those about many joblists (purge, mail), which no cut takes.
 */
export function ownerOf (e: UnsignedEvent): string | undefined {
  const b = e.body as unknown as Record<string, unknown>
  switch (e.type) {
    case 'submit': return eventKey(e)
    case 'accept': return b.request as string
    case 'assign': case 'started': case 'finished': case 'lose': return joblistOf(b.jobId as string)
    case 'cancel': case 'stop': case 'update': case 'ack': return b.joblistId as string
    case 'delivery': return joblistOf(b.id as string)
    default: return undefined
  }
}

/** An event a cut may take: it belongs to one joblist, and that joblist (or its request) is purged. */
export function purgeable (e: UnsignedEvent, state: Parameters<typeof isPurged>[0]): boolean {
  const owner = ownerOf(e)
  return owner !== undefined && isPurged(state, owner)
}

/** The cut of these (origin, seq) pairs: per origin, sorted, consecutive seqs merged into ranges. */
export function cutOf (events: Iterable<{ origin: string, seq: number }>): Cut {
  const seqs = new Map<string, number[]>()
  for (const e of events) {
    const list = seqs.get(e.origin)
    if (list === undefined) seqs.set(e.origin, [e.seq])
    else list.push(e.seq)
  }
  const cut: Cut = {}
  for (const origin of [...seqs.keys()].sort()) {
    const sorted = [...new Set(seqs.get(origin))].sort((a, b) => a - b)
    const ranges: Array<[number, number]> = []
    for (const s of sorted) {
      const last = ranges[ranges.length - 1]
      if (last !== undefined && last[1] + 1 === s) last[1] = s
      else ranges.push([s, s])
    }
    cut[origin] = ranges
  }
  return cut
}

/** Split a cut into pieces of at most `max` ranges each (one purge event each). */
export function splitCut (cut: Cut, max: number): Cut[] {
  const out: Cut[] = []
  let piece: Cut = {}
  let n = 0
  for (const origin of Object.keys(cut).sort()) {
    for (const r of cut[origin]) {
      if (n === max) { out.push(piece); piece = {}; n = 0 }
      ;(piece[origin] ??= []).push([r[0], r[1]])
      n++
    }
  }
  if (n > 0) out.push(piece)
  return out
}

const before = (a: CutRange, b: CutRange): boolean => a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2]

/**
 * Record a purge event's cut in `cuts`: each origin's ranges sorted by (start, end, key), so
 * the list is the same whatever order the purges came in.
 */
export function addCut (cuts: Record<string, CutRange[]>, key: string, cut: Cut): void {
  for (const [origin, ranges] of Object.entries(cut)) {
    const list = cuts[origin] ?? (cuts[origin] = [])
    for (const [from, to] of ranges) {
      const r: CutRange = [from, to, key]
      // Sorted insert (ranges come sorted, usually after all present: a push).
      let i = list.length
      while (i > 0 && before(r, list[i - 1])) i--
      list.splice(i, 0, r)
    }
  }
}

/**
 * The keys of the purge events whose cuts together cover seqs from..to of `origin`, or
 * undefined if some seq there is in no cut.
 */
export function covering (cuts: Readonly<Record<string, readonly CutRange[]>>, origin: string, from: number, to: number): string[] | undefined {
  const list = cuts[origin]
  if (list === undefined || from > to) return undefined
  const keys = new Set<string>()
  let next = from
  // The first range that may hold `next`: ranges are sorted by start.
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid][0] <= next) lo = mid + 1
    else hi = mid
  }
  // Ranges starting at or before `next` may reach past it; walk back over them, then forward.
  let i = Math.max(0, lo - 1)
  while (i > 0 && list[i - 1][1] >= next) i--
  for (; i < list.length && next <= to; i++) {
    const [f, t, key] = list[i]
    if (f > next) break
    if (t >= next) { keys.add(key); next = t + 1 }
  }
  if (next > to) return [...keys]
  // Nested ranges (two purges of the same joblists, one knowing fewer events) can hide a
  // range that starts early and ends late from the walk above: look at every range.
  for (let grew = true; grew && next <= to;) {
    grew = false
    for (const [f, t, key] of list) {
      if (f <= next && t >= next) { keys.add(key); next = t + 1; grew = true }
    }
  }
  return next > to ? [...keys] : undefined
}

/** Apply a purge event's cut and counters to the state (reducer). */
export function applyCut (state: ClusterState, key: string, cut: Cut | undefined, counters: Record<string, number> | undefined): void {
  if (cut !== undefined) addCut(state.cuts ??= {}, key, cut)
  // The master ID counters the cut's accepts fed: a node that skips them counts as high.
  for (const [origin, n] of Object.entries(counters ?? {})) {
    if (n > (state.acceptCount[origin] ?? 0)) state.acceptCount[origin] = n
  }
}

/** The master ID counter an accept's ID shows (`<code>-<n>`), if it has that form. */
export function idCounter (id: string): number | undefined {
  const m = /-(\d{1,15})$/.exec(id)
  return m === null ? undefined : Number(m[1])
}
