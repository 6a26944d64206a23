// The snapshot of the derived state in parts (G-4): one part per entry of each map of the
// state (`joblists!kx3f-12`, `attempts!kx3f-12.1`, …; a schedule's runs, skips and failures
// apart from its record: schedule-parts.ts) and one per other field (`clock`, `unaccepted`),
// each its own JSON; the queue is derived on load. A new snapshot writes only the parts whose
// JSON changed since the last one and deletes the parts whose entry is gone, so what a
// snapshot costs the disk follows what changed, not how much history the state holds.
import type { ClusterState } from '../state/types.js'
import type { Changes } from '../state/changes.js'
import { MARKED_MAPS } from '../state/changes.js'
import { emptyState } from '../state/types.js'
import { noteMailItems, queueOf, trimMailRecords } from '../state/reducer.js'
import { joblistOf } from '../state/subjects.js'
import { compactPurged, isPurged } from '../state/purged.js'
import type { SnapshotWrite, StoredSnapshot } from './event-store.js'
import { SNAPSHOT_VERSION } from './event-store.js'
import { SCHEDULE_SPLIT_FIELDS, foldScheduleParts, scheduleParts, schedulePart } from './schedule-parts.js'

const SEP = '!'

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A part's key as [field, entry key] (undefined for a field that is one part whole). */
const splitKey = (key: string): [string, string | undefined] => {
  const i = key.indexOf(SEP)
  return i < 0 ? [key, undefined] : [key.slice(0, i), key.slice(i + 1)]
}

/**
 * Fields of the state a snapshot does not hold: derived from the rest as it is assembled. The
 * queue (the joblists not ended, in position order: reducer.ts queueOf) was one part, so at
 * every snapshot a deep queue's IDs were serialized, fingerprinted and, as it changed with
 * every accept and end, written whole: 1-1.4 MB at 100,000 queued, 10-15 ms a snapshot on every node.
 */
const DERIVED_FIELDS: ReadonlySet<string> = new Set(['queue'])

/** The value of one part of a marked map (undefined: it is gone). */
function partValue (state: ClusterState, field: string, key: string): unknown {
  const v = schedulePart(state, field, key)
  if (v !== null) return v
  return (state as unknown as Record<string, Record<string, unknown> | undefined>)[field]?.[key]
}

/** Every part of the state: [key, JSON]; the maps named in `skip` left out. */
export function * stateParts (state: ClusterState, skip?: ReadonlySet<string>): Generator<[string, string]> {
  for (const [field, value] of Object.entries(state)) {
    if (DERIVED_FIELDS.has(field)) continue
    if (isMap(value)) {
      if (skip?.has(field) === true) continue
      if (field === 'schedules') {
        for (const rec of Object.values(state.schedules)) for (const [f, k, v] of scheduleParts(rec)) yield [`${f}${SEP}${k}`, JSON.stringify(v)]
        continue
      }
      for (const [k, v] of Object.entries(value)) yield [`${field}${SEP}${k}`, JSON.stringify(v)]
    } else {
      yield [field, JSON.stringify(value)]
    }
  }
}

/** Parts that are not the state's (the archive's digest: `~archived`) start with this. */
export const META_PART = '~'

/**
 * The state from its parts (fields with no part keep their empty value; meta parts are not the
 * state's; the derived fields derived: a snapshot of version 5 still had the queue as a part).
 */
export function assembleState (parts: Iterable<[string, string]>, version = SNAPSHOT_VERSION): ClusterState {
  const state = emptyState() as unknown as Record<string, unknown>
  for (const [key, json] of parts) {
    if (key.startsWith(META_PART)) continue
    const [field, k] = splitKey(key)
    if (DERIVED_FIELDS.has(field)) continue
    if (k === undefined) { state[field] = JSON.parse(json); continue }
    const map = isMap(state[field]) ? state[field] : (state[field] = {})
    ;(map as Record<string, unknown>)[k] = JSON.parse(json)
  }
  const split: Record<string, Record<string, never>> = {}
  for (const f of SCHEDULE_SPLIT_FIELDS) { split[f] = (state[f] ?? {}) as Record<string, never>; delete state[f] }
  const assembled = state as unknown as ClusterState
  assembled.queue = queueOf(assembled.joblists)
  foldScheduleParts(assembled, split.runs, split.skips, split.failed)
  if (version < 9) compactPurged(assembled)
  if (version < 7) foldMailRecords(assembled)
  return assembled
}

/**
 * A snapshot of version 5 or 6 kept every message to an address: each item's standing is
 * derived from them (as the reducer notes it; not for the items of purged joblists, which the
 * reducer drops), and they are cut to what the address's next message waits for (reducer.ts
 * trimMailRecords), as events applied by this version leave them.
 */
function foldMailRecords (state: ClusterState): void {
  for (const [to, list] of Object.entries(state.mails ?? {})) {
    // (The messages kept listing the items of joblists purged since: the reducer drops those.)
    for (const r of list) noteMailItems(state, to, r.ids.filter(id => !isPurged(state, joblistOf(id))), r.ok, r.error, r.at, r.pos)
    trimMailRecords(list)
  }
}

/** The state a stored snapshot holds. */
export const snapshotState = (s: StoredSnapshot): ClusterState => assembleState(s.parts, s.version)

/** A snapshot that replaces whatever is stored: every part of the state. */
export function fullSnapshot (state: ClusterState): SnapshotWrite {
  return { version: SNAPSHOT_VERSION, reset: true, put: [...stateParts(state)], del: [] }
}

/**
 * A 52-bit fingerprint of a part's JSON (two 32-bit FNV-1a with different offsets): what the
 * writer remembers of each part instead of the part itself. Two different JSON texts share one
 * with a chance of about 2^-52.
 */
export function fingerprint (text: string): number {
  let a = 0x811c9dc5
  let b = 0x01000193 ^ text.length
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193) >>> 0
    b = Math.imul(b ^ c, 0x5bd1e995) >>> 0
  }
  return a * 0x100000 + (b & 0xfffff)
}

/**
 * CIS_CHECK_SNAPSHOTS=1 (`npm test` and `npm run chaos` set it): every snapshot is also
 * computed in full and compared, and a part that changed without its mark stops the node at
 * once, saying which.
 */
const CHECK_BY_DEFAULT = process.env.CIS_CHECK_SNAPSHOTS === '1'

/** Every this many snapshots from the marks, one is compared with the full computation (SnapshotWriter)... */
const AUDIT_EVERY = 64

/**
 * ...and at most one in this many milliseconds. The full computation serializes every part of
 * the state: ~35 ms at 8,000 joblists held (the ingest bench's profile), a stall of the node and
 * 5-8 % of what receiving an event cost when a busy node audited every 6,400 events.
 */
const AUDIT_GAP_MS = 30_000

/**
 * What a node remembers of its last snapshot (a fingerprint per part), to write the next one
 * as a change: the parts whose JSON changed, and the keys of parts that are gone.
 */
export class SnapshotWriter {
  private written = new Map<string, number>()
  /** The written parts outside the marked maps (state/changes.ts): every snapshot looks at these whole. */
  private writtenOther = new Set<string>()
  /** Nothing is known of what is stored (no snapshot, or one of another version): the next write replaces it all. */
  private reset = true
  /** What is stored is of an older version (read as it is): the next write looks at every part, and writes what differs. */
  private older = false

  /** The fingerprints of a write's puts, in order, by its `put` array, as next() computed them (not computed again once written; a copy of the write with the same array keeps them). */
  private readonly fingerprints = new WeakMap<ReadonlyArray<[string, string]>, number[]>()

  private sinceAudit = 0
  private lastAuditAt = -Infinity

  /**
   * `check`: compare every snapshot computed from the marks with the full one, and throw at a
   * difference (default: CIS_CHECK_SNAPSHOTS). Otherwise every `auditEvery`-th is compared
   * (default AUDIT_EVERY; 0: never), at most one every `auditGapMs` (default AUDIT_GAP_MS): a
   * difference (a write that did not mark its part: a bug) is told to `missed`, and the full
   * change is returned instead, so the store stays right.
   */
  constructor (private readonly o: { check?: boolean, auditEvery?: number, auditGapMs?: number, missed?: (parts: string[]) => void } = {}) {}

  /** The stored snapshot was loaded: remember its parts. */
  seed (stored: StoredSnapshot): void {
    this.written = new Map()
    this.writtenOther = new Set()
    for (const [k, json] of stored.parts) this.remember(k, json)
    this.reset = false
    this.older = stored.version !== SNAPSHOT_VERSION
  }

  /**
   * The snapshot of `state` as a change to the last one written (computed now: it matches the
   * state exactly). With `changes` (the parts marked since the last snapshot), the marked maps
   * — joblists, jobs, attempts and the rest of what grows with every joblist — are looked at
   * only where marked: what a snapshot costs follows what changed, not how many joblists are held.
   */
  next (state: ClusterState, extra: ReadonlyArray<[string, string]> = [], changes?: Changes): SnapshotWrite {
    if (changes === undefined || this.reset || this.older) return this.whole(state, extra)
    const put: Array<[string, string]> = []
    const fps: number[] = []
    const del: string[] = []
    const seen = new Set<string>()
    const consider = (key: string, json: string): void => {
      const fp = fingerprint(json)
      if (this.written.get(key) !== fp) { put.push([key, json]); fps.push(fp) }
    }
    for (const [key, json] of [...stateParts(state, MARKED_MAPS), ...extra]) { seen.add(key); consider(key, json) }
    for (const key of this.writtenOther) if (!seen.has(key)) del.push(key)
    for (const [field, keys] of changes.parts) {
      if (!MARKED_MAPS.has(field)) continue // (looked at whole above)
      for (const k of keys) {
        const key = field + SEP + k
        const v = partValue(state, field, k)
        if (v !== undefined) consider(key, JSON.stringify(v))
        else if (this.written.has(key)) del.push(key)
      }
    }
    const w: SnapshotWrite = { version: SNAPSHOT_VERSION, reset: false, put, del }
    this.fingerprints.set(put, fps)
    const auditEvery = this.o.auditEvery ?? AUDIT_EVERY
    if (this.o.check ?? CHECK_BY_DEFAULT) {
      const missed = this.missed(w, this.whole(state, extra))
      if (missed.length > 0) throw new Error(`snapshot check: part ${missed[0]} changed or went, but no change marked it (state/changes.ts)`)
    } else if (auditEvery > 0 && ++this.sinceAudit >= auditEvery && performance.now() - this.lastAuditAt >= (this.o.auditGapMs ?? AUDIT_GAP_MS)) {
      this.sinceAudit = 0
      this.lastAuditAt = performance.now()
      const full = this.whole(state, extra)
      const missed = this.missed(w, full)
      if (missed.length > 0) { this.o.missed?.(missed); return full }
    }
    return w
  }

  /** Every part of the state looked at (the first snapshot, or no marks). */
  private whole (state: ClusterState, extra: ReadonlyArray<[string, string]>): SnapshotWrite {
    const put: Array<[string, string]> = []
    const fps: number[] = []
    const seen = new Set<string>()
    for (const [key, json] of [...stateParts(state), ...extra]) {
      seen.add(key)
      const fp = fingerprint(json)
      if (this.reset || this.written.get(key) !== fp) { put.push([key, json]); fps.push(fp) }
    }
    const del = this.reset ? [] : [...this.written.keys()].filter(k => !seen.has(k))
    this.fingerprints.set(put, fps)
    return { version: SNAPSHOT_VERSION, reset: this.reset, put, del }
  }

  /** The parts where the change from the marks differs from the full one (in any order): none if they agree. */
  private missed (w: SnapshotWrite, full: SnapshotWrite): string[] {
    const got = new Map(w.put)
    const gone = new Set(w.del)
    const out: string[] = []
    for (const [k, json] of full.put) if (got.get(k) !== json) out.push(k)
    for (const k of full.del) if (!gone.has(k)) out.push(k)
    const want = new Set([...full.put.map(([k]) => k), ...full.del])
    for (const k of [...got.keys(), ...gone]) if (!want.has(k)) out.push(k)
    return out
  }

  /** The snapshot was written: it is what is stored now. */
  committed (w: SnapshotWrite): void {
    if (w.reset) { this.written = new Map(); this.writtenOther = new Set() }
    for (const k of w.del) { this.written.delete(k); this.writtenOther.delete(k) }
    const fps = this.fingerprints.get(w.put)
    for (let i = 0; i < w.put.length; i++) this.remember(w.put[i][0], w.put[i][1], fps?.[i])
    this.reset = false
    this.older = false
  }

  private remember (key: string, json: string, fp = fingerprint(json)): void {
    this.written.set(key, fp)
    if (!MARKED_MAPS.has(splitKey(key)[0])) this.writtenOther.add(key)
  }
}
