// The snapshot of the derived state in parts (G-4): one part per entry of each map of the
// state (`joblists!kx3f-12`, `attempts!kx3f-12.1`, …) and one per other field (`queue`), each
// its own JSON. A new snapshot writes only the parts whose JSON changed since the last one
// and deletes the parts whose entry is gone, so what a snapshot costs the disk follows what
// changed, not how much history the state holds.
import type { ClusterState } from '../state/types.js'
import { emptyState } from '../state/types.js'
import type { SnapshotWrite, StoredSnapshot } from './event-store.js'
import { SNAPSHOT_VERSION } from './event-store.js'

const SEP = '!'

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Every part of the state: [key, JSON]. */
export function * stateParts (state: ClusterState): Generator<[string, string]> {
  for (const [field, value] of Object.entries(state)) {
    if (isMap(value)) {
      for (const [k, v] of Object.entries(value)) yield [`${field}${SEP}${k}`, JSON.stringify(v)]
    } else {
      yield [field, JSON.stringify(value)]
    }
  }
}

/** Parts that are not the state's (the archive's digest: `~archived`) start with this. */
export const META_PART = '~'

/** The state from its parts (fields with no part keep their empty value; meta parts are not the state's). */
export function assembleState (parts: Iterable<[string, string]>): ClusterState {
  const state = emptyState() as unknown as Record<string, unknown>
  for (const [key, json] of parts) {
    if (key.startsWith(META_PART)) continue
    const i = key.indexOf(SEP)
    if (i < 0) { state[key] = JSON.parse(json); continue }
    const field = key.slice(0, i)
    const map = isMap(state[field]) ? state[field] : (state[field] = {})
    ;(map as Record<string, unknown>)[key.slice(i + 1)] = JSON.parse(json)
  }
  return state as unknown as ClusterState
}

/** The state a stored snapshot holds. */
export const snapshotState = (s: StoredSnapshot): ClusterState => assembleState(s.parts)

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
 * What a node remembers of its last snapshot (a fingerprint per part), to write the next one
 * as a change: the parts whose JSON changed, and the keys of parts that are gone.
 */
export class SnapshotWriter {
  private written = new Map<string, number>()
  /** Nothing is known of what is stored (no snapshot, or one of another version): the next write replaces it all. */
  private reset = true

  /** The stored snapshot was loaded: remember its parts. */
  seed (stored: StoredSnapshot): void {
    this.written = new Map(stored.parts.map(([k, json]) => [k, fingerprint(json)]))
    this.reset = false
  }

  /** The snapshot of `state` as a change to the last one written (computed now: it matches the state exactly). */
  next (state: ClusterState, extra: ReadonlyArray<[string, string]> = []): SnapshotWrite {
    const put: Array<[string, string]> = []
    const seen = new Set<string>()
    for (const [key, json] of [...stateParts(state), ...extra]) {
      seen.add(key)
      if (this.reset || this.written.get(key) !== fingerprint(json)) put.push([key, json])
    }
    const del = this.reset ? [] : [...this.written.keys()].filter(k => !seen.has(k))
    return { version: SNAPSHOT_VERSION, reset: this.reset, put, del }
  }

  /** The snapshot was written: it is what is stored now. */
  committed (w: SnapshotWrite): void {
    if (w.reset) this.written = new Map()
    for (const k of w.del) this.written.delete(k)
    for (const [k, json] of w.put) this.written.set(k, fingerprint(json))
    this.reset = false
  }
}
