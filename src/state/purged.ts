// The purged set (G-6): the joblist IDs and request keys purges removed, kept for good so that
// an event about one of them that comes later (from a node that was away) adds nothing
// (purge.ts). Held as bitsets, not as one entry a key: a joblist ID is `CODE-N` (its master's
// short code and counter) and a request key `ORIGIN:SEQ`, so a purged ID is one bit in the
// block of CODE that holds N, a request one bit in the block of ORIGIN that holds SEQ. Kept one
// entry a key (a string and a map slot), a purged joblist cost a node ~200 bytes of memory for
// good and two parts of every snapshot; as bits, a fraction of a byte (a block of BLOCK_SPAN
// counters is a part of 32 small integers). A key of another form (not a counter in canonical
// decimal) is kept whole in `purged`. The set is exact: the bits stand for those keys and no
// other, whatever order they were added in. Pure.
import type { ClusterState } from './types.js'
import { touchPart } from './changes.js'

/** Bits a word of a block (small integers: V8 keeps them unboxed, JSON writes them short). */
const WORD_BITS = 30
/** Words a block. */
const BLOCK_WORDS = 32
/** Counters (or seqs) a block covers. */
export const BLOCK_SPAN = WORD_BITS * BLOCK_WORDS

/** A counter or seq in canonical decimal (no leading zero: `ab-01` is not `ab-1`), at most 15 digits. */
const COUNTER = /^(?:0|[1-9]\d{0,14})$/

export type PurgedFields = Pick<ClusterState, 'purged' | 'purgedIds' | 'purgedRequests'>

interface Place { field: 'purgedIds' | 'purgedRequests', block: string, word: number, bit: number }

/**
 * Where a key's bit is: a request key (with `:`, as eventSubjects tells them apart) by origin
 * and seq, a joblist ID by code and counter; undefined for a key of another form.
 */
function placeOf (key: string): Place | undefined {
  const request = key.includes(':')
  const at = request ? key.lastIndexOf(':') : key.lastIndexOf('-')
  if (at <= 0) return undefined
  const text = key.slice(at + 1)
  if (!COUNTER.test(text)) return undefined
  const n = Number(text)
  const b = Math.floor(n / BLOCK_SPAN)
  const within = n - b * BLOCK_SPAN
  return { field: request ? 'purgedRequests' : 'purgedIds', block: `${key.slice(0, at)}#${b}`, word: Math.floor(within / WORD_BITS), bit: within % WORD_BITS }
}

/** Whether a purge removed this joblist ID or request key. */
export function isPurged (state: PurgedFields, key: string): boolean {
  const p = placeOf(key)
  if (p === undefined) return state.purged?.[key] === true
  const words = state[p.field]?.[p.block]
  return words !== undefined && (words[p.word] & (1 << p.bit)) !== 0
}

/** Whether any key is purged (an event's subjects need no look otherwise). */
export function anyPurged (state: PurgedFields): boolean {
  return hasAny(state.purgedIds) || hasAny(state.purgedRequests) || hasAny(state.purged)
}

/** Add a joblist ID or request key to the purged set (marking the part it changes). */
export function addPurged (state: ClusterState, key: string): void {
  const p = placeOf(key)
  if (p === undefined) {
    state.purged ??= {}
    if (state.purged[key] === true) return
    touchPart(state, 'purged', key)
    state.purged[key] = true
    return
  }
  setBit(state, p)
}

function setBit (state: ClusterState, p: Place): void {
  const blocks = state[p.field] ?? (state[p.field] = {})
  let words = blocks[p.block]
  if (words === undefined) words = blocks[p.block] = new Array<number>(BLOCK_WORDS).fill(0)
  const was = words[p.word]
  const now = was | (1 << p.bit)
  if (now === was) return
  touchPart(state, p.field, p.block)
  words[p.word] = now
}

/**
 * Keys kept whole that have a bit (a snapshot of version 8 or older held every purged key as
 * an entry of `purged`): moved to their blocks as the snapshot is assembled. The next snapshot
 * after one of an older version looks at every part: it deletes theirs and writes the blocks.
 */
export function compactPurged (state: ClusterState): void {
  for (const key of Object.keys(state.purged ?? {})) {
    const p = placeOf(key)
    if (p === undefined) continue
    setBit(state, p)
    delete state.purged[key]
  }
}

/** A purged set of these keys alone (for a check of events against it, and for tests). */
export function purgedSetOf (keys: Iterable<string>): PurgedFields {
  const set: PurgedFields = { purged: {}, purgedIds: {}, purgedRequests: {} }
  for (const k of keys) addPurged(set as ClusterState, k)
  return set
}

/** How many keys are purged (counting bits). */
export function purgedCount (state: PurgedFields): number {
  let n = Object.keys(state.purged ?? {}).length
  for (const blocks of [state.purgedIds, state.purgedRequests]) {
    for (const words of Object.values(blocks ?? {})) {
      for (let w of words) for (; w !== 0; w &= w - 1) n++
    }
  }
  return n
}

function hasAny (o: Record<string, unknown> | undefined): boolean {
  for (const _ in o) return true
  return false
}
