// The archive (G-4: memory that does not grow with history). A joblist that ended a while ago
// and can no longer change by itself leaves memory: every record keyed by it (the joblist,
// its jobs and attempts, its request and accepts, cancels, stops, changes, acknowledgement,
// webhook deliveries) moves into a *bundle* that the store keeps, with index entries to find
// it again (by ID, alias, request, name, end time) and its accounting records. An event about
// an archived joblist (a late report, an ack, a purge) first brings the bundle back (restore),
// so the reducer sees the same state wherever the records were: archiving is this node's own
// business and changes nothing any node derives.
//
// The state hash (hash.ts) is a sum of per-part digests, so the archived parts count through
// one number (the sum of their digests), and every node has the same hash whatever it archived.
// Pure: values in, values out (the caller passes the time).
import { createHash } from 'node:crypto'
import { canonicalJson } from '../util/canonical.js'
import type { PastUsage } from '../scheduler/fairshare.js'
import { joblistRecords } from './accounting.js'
import type { AccountingRecord } from './accounting.js'
import { joblistOf } from './subjects.js'
import { touchPart } from './changes.js'
import type { ClusterState, JoblistRecord } from './types.js'
import { ACTIVE_ATTEMPT_STATES, FINAL_JOBLIST_STATES } from './types.js'
import { QueueList } from './queue-list.js'

/** A joblist's records out of memory: the parts (snapshot-parts.ts keys: `field!key`) and how to find them. */
export interface Bundle {
  id: string
  /** Its IDs: its own and those of accepts that lost to it (aliases). */
  ids: string[]
  request: string
  name: string
  endedAt: number
  /** The sum of the parts' digests (hex). */
  digest: string
  /** The archive index keys written for it (deleted with it). */
  index: string[]
  parts: Array<[string, unknown]>
}

/** The snapshot part that holds the archived parts' digest and the archived joblists' count by state. */
export const ARCHIVED_PART = '~archived'
export interface ArchivedMeta { digest: string, states: Record<string, number>, usage?: Record<string, PastUsage> }

const MOD = 1n << 128n
const SEP = '!'

/** A part's digest: 128 bits of SHA-256 of its key and canonical JSON. */
export function partDigest (key: string, value: unknown): bigint {
  return BigInt('0x' + createHash('sha256').update(key).update('\n').update(canonicalJson(value)).digest('hex').slice(0, 32))
}

export const addDigest = (a: bigint, b: bigint): bigint => (a + b) % MOD
export const subDigest = (a: bigint, b: bigint): bigint => ((a - b) % MOD + MOD) % MOD
export const digestHex = (d: bigint): string => d.toString(16).padStart(32, '0')
export const parseDigest = (hex: string): bigint => /^[0-9a-f]{1,32}$/.test(hex) ? BigInt('0x' + hex) : 0n

/** The sum of the digests of every part of the state held in memory (the clock is not shared: left out). */
export function memoryDigest (state: ClusterState): bigint {
  let d = 0n
  for (const [field, value] of Object.entries(state)) {
    // (An absent value is no part: JSON, and so a snapshot, drops it.)
    if (field === 'clock' || value === undefined) continue
    // The queue's part is the array of its IDs (its JSON), as before it was kept in chunks.
    if (value instanceof QueueList) { d += partDigest(field, value.toArray()); continue }
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) d += partDigest(`${field}${SEP}${k}`, v)
    } else {
      d += partDigest(field, value)
    }
  }
  return d % MOD
}

export interface ArchiveRules {
  /** Ended at least this long ago. */
  afterMs: number
  /** A failure nobody acknowledged stays listed (`cis status --unacked`) this long at least. */
  unackedMs: number
  /** The node's own reasons to keep a joblist in memory (e.g. notifications still owed). */
  keep?: (jl: JoblistRecord) => boolean
  /** At most this many per pass. */
  limit: number
  /**
   * At most this many ended joblists stay in memory (0 or absent: no bound): beyond it, those
   * that ended first go before `afterMs` has passed, so a busy cluster's every node holds a
   * bounded number of ended joblists, not `afterMs` of its throughput (Slurm's MaxJobCount
   * beside its MinJobAge). The other rules still hold: what they keep counts, and stays.
   */
  keepEnded?: number
}

/**
 * The joblists that may leave memory now: ended long enough ago (or among the first ended of
 * more than `keepEnded`), nothing of them still running or asked, not the last run or last
 * failure of a schedule. Those ended long enough ago first, then the earliest ended.
 */
export function archivable (state: ClusterState, now: number, rules: ArchiveRules): string[] {
  const out: string[] = []
  const bound = rules.keepEnded !== undefined && rules.keepEnded > 0 ? rules.keepEnded : undefined
  let stopped: Set<string> | undefined
  const mayGo = (jl: JoblistRecord): boolean => {
    if (jl.state === 'failed' && state.acks[jl.id] === undefined && (jl.endedAt ?? 0) > now - rules.unackedMs) return false
    // A schedule's last run and last failure stay: its summary (lists, the live stream) shows them.
    if (jl.schedule !== undefined) {
      const rec = state.schedules[jl.schedule.name]
      if (rec !== undefined && (rec.runs[rec.runs.length - 1] === jl.request || rec.lastFailed?.key === jl.request)) return false
    }
    if (rules.keep?.(jl) === true) return false
    if (!settled(state, jl)) return false
    stopped ??= new Set(Object.values(state.stops).filter(s => !s.handled).map(s => s.joblistId))
    return !stopped.has(jl.id)
  }
  /** Ended joblists in memory (counted whole only with a bound: without one the pass may stop early). */
  let ended = 0
  /** With a bound: the ended joblists too recent to go by their age. */
  const recent: JoblistRecord[] = []
  for (const jl of Object.values(state.joblists)) {
    if (out.length >= rules.limit) break
    if (!FINAL_JOBLIST_STATES.has(jl.state) || jl.endedAt === undefined) continue
    ended++
    if (jl.endedAt > now - rules.afterMs) {
      if (bound !== undefined) recent.push(jl)
      continue
    }
    if (mayGo(jl)) out.push(jl.id)
  }
  // (A pass that stopped at its limit counted short: the bound waits for the next pass.)
  if (bound === undefined || out.length >= rules.limit) return out
  let over = ended - out.length - bound
  if (over <= 0) return out
  // The earliest ended go first (the other rules checked only for those looked at).
  const at = (jl: JoblistRecord): number => jl.endedAt ?? 0
  recent.sort((a, b) => at(a) - at(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  for (const jl of recent) {
    if (over <= 0 || out.length >= rules.limit) break
    if (mayGo(jl)) { out.push(jl.id); over-- }
  }
  return out
}

/** Every attempt of the joblist ended. */
function settled (state: ClusterState, jl: JoblistRecord): boolean {
  for (const s of jl.stages) {
    for (const id of s.jobIds) {
      for (const jid of [id, ...(state.jobs[id]?.physical ?? [])]) {
        for (const a of Object.values(state.attempts[jid] ?? {})) if (ACTIVE_ATTEMPT_STATES.has(a.state)) return false
      }
    }
  }
  return true
}

const pad = (n: number, w: number): string => Math.max(0, Math.floor(n)).toString().padStart(w, '0')
const timeKey = (t: number): string => pad(t, 15)

/** Index keys: by ID or alias (`i!`), request (`r!`), name and end (`n!`), end (`e!`); accounting records by end (`a!`), and the keys of them by owner (`ao!`) and node (`an!`). */
export const INDEX = {
  id: (id: string) => `i!${id}`,
  request: (key: string) => `r!${key}`,
  name: (name: string, endedAt: number, id: string) => `n!${name}!${timeKey(endedAt)}!${id}`,
  namePrefix: (name: string) => `n!${name}!`,
  ended: (endedAt: number, id: string) => `e!${timeKey(endedAt)}!${id}`,
  acct: (endedAt: number, key: string) => `a!${timeKey(endedAt)}!${key}`,
  acctOwner: (owner: string, endedAt: number, key: string) => `ao!${owner}!${timeKey(endedAt)}!${key}`,
  acctNode: (node: string, endedAt: number, key: string) => `an!${node}!${timeKey(endedAt)}!${key}`,
  time: timeKey
}

/** The index entries of a bundle, with its accounting records as values. */
function indexEntries (b: Omit<Bundle, 'index' | 'digest'>, records: readonly AccountingRecord[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const id of b.ids) out.push([INDEX.id(id), b.id])
  out.push([INDEX.request(b.request), b.id])
  out.push([INDEX.name(b.name, b.endedAt, b.id), b.id])
  out.push([INDEX.ended(b.endedAt, b.id), b.id])
  for (const r of records) {
    // The record once; by owner and by node, the key of it.
    const key = INDEX.acct(r.endedAt, r.key)
    out.push([key, JSON.stringify(r)])
    out.push([INDEX.acctOwner(r.owner, r.endedAt, r.key), key])
    out.push([INDEX.acctNode(r.node, r.endedAt, r.key), key])
  }
  return out
}

export interface Extracted { bundle: Bundle, entries: Array<[string, string]>, digest: bigint }

/**
 * Take these joblists out of the state (in place): every part keyed by them, as bundles with
 * their index entries. One pass over the maps keyed by job or delivery, whatever the number.
 */
export function extract (state: ClusterState, ids: readonly string[]): Extracted[] {
  const owner = new Map<string, string>() // any ID of a joblist, and its request -> the joblist
  for (const id of ids) {
    const jl = state.joblists[id]
    if (jl === undefined) continue
    owner.set(id, id)
    for (const a of state.accepts[jl.request] ?? []) owner.set(a.id, id)
  }
  const parts = new Map<string, Array<[string, unknown]>>()
  for (const id of new Set(owner.values())) parts.set(id, [])
  const take = (field: keyof ClusterState, key: string, to: string): void => {
    const map = state[field] as unknown as Record<string, unknown>
    if (!Object.hasOwn(map, key)) return
    touchPart(state, field, key)
    if (map[key] === undefined) { delete map[key]; return }
    parts.get(to)?.push([`${field}${SEP}${key}`, map[key]])
    delete map[key]
  }
  const records = new Map<string, AccountingRecord[]>()
  const heads = new Map<string, JoblistRecord>()
  for (const id of parts.keys()) {
    const jl = state.joblists[id]
    heads.set(id, jl)
    records.set(id, joblistRecords(state, jl))
  }
  for (const [any, id] of owner) {
    take('joblists', any, id)
    take('cancels', any, id)
    take('updates', any, id)
    take('acks', any, id)
    take('aliases', any, id)
  }
  for (const [id, jl] of heads) {
    take('requests', jl.request, id)
    take('accepts', jl.request, id)
    take('stops', jl.request, id)
  }
  for (const field of ['jobs', 'attempts', 'deliveries', 'mailItems'] as const) {
    const map = state[field] as Record<string, unknown> | undefined
    if (map === undefined) continue
    for (const k of Object.keys(map)) {
      const id = owner.get(joblistOf(k))
      if (id !== undefined) take(field, k, id)
    }
  }
  for (const [k, s] of Object.entries(state.stops)) {
    const id = owner.get(s.joblistId)
    if (id !== undefined) take('stops', k, id)
  }
  const idsOf = new Map<string, string[]>()
  for (const [any, id] of owner) { const l = idsOf.get(id); if (l === undefined) idsOf.set(id, [any]); else l.push(any) }
  const out: Extracted[] = []
  for (const [id, jl] of heads) {
    const ps = parts.get(id) ?? []
    let digest = 0n
    for (const [k, v] of ps) digest += partDigest(k, v)
    digest %= MOD
    const base = { id, ids: (idsOf.get(id) ?? [id]).sort(), request: jl.request, name: jl.name, endedAt: jl.endedAt ?? 0, parts: ps }
    const entries = indexEntries(base, records.get(id) ?? [])
    out.push({ bundle: { ...base, digest: digestHex(digest), index: entries.map(([k]) => k) }, entries, digest })
  }
  return out
}

/** Put a bundle's parts back into the state (in place). */
export function restore (state: ClusterState, b: Bundle): void {
  const s = state as unknown as Record<string, Record<string, unknown>>
  for (const [key, value] of b.parts) {
    const i = key.indexOf(SEP)
    const field = key.slice(0, i)
    touchPart(state, field, key.slice(i + 1))
    ;(s[field] ??= {})[key.slice(i + 1)] = value
  }
}

/**
 * The state as seen with archived joblists in it, for reading them (views): the bundles'
 * entries over the state's maps, one layer whatever their number (the state is not changed).
 */
export function overlay (state: ClusterState, ...bundles: Bundle[]): ClusterState {
  const s = state as unknown as Record<string, unknown>
  const view: Record<string, unknown> = { ...s }
  for (const b of bundles) {
    for (const [key, value] of b.parts) {
      const i = key.indexOf(SEP)
      const field = key.slice(0, i)
      if (view[field] === s[field]) view[field] = Object.create((s[field] ?? {}) as object) as Record<string, unknown>
      ;(view[field] as Record<string, unknown>)[key.slice(i + 1)] = value
    }
  }
  return view as unknown as ClusterState
}
