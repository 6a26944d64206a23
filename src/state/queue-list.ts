// The queue's IDs (state.queue: the joblists not ended, in position order) as a list of chunks,
// so that taking one out or putting one in moves the IDs of one chunk, not of the whole queue.
// As a plain array, a joblist that ended was spliced out of it on every node: at 100,000
// queued a job's events cost 120 µs in the reducer against 40 at 1,000, most of it moving
// the array's tail (a splice near the front of 100,000 entries: 100-220 µs here).
//
// The chunks are cut by content, not by history: a chunk ends after each ID whose hash (FNV-1a,
// its halves folded) has its low CHUNK_BITS bits zero (a "boundary" ID), and nowhere else. So two lists of the same IDs in
// the same order have the same chunks, however each was built (by events one at a time, or at
// once from a snapshot): they compare equal field by field (a snapshot's state against the
// reducer's, in tests), and their JSON is the array of IDs. A chunk holds 2^CHUNK_BITS IDs on
// average (one in 256 is a boundary); a longer run without one is rare (one of 2,560 with a
// chance of e^-10) and only costs what a splice in it costs.
// Pure: values in, values out.

/** A chunk holds 2^CHUNK_BITS IDs on average. */
const CHUNK_BITS = 8
const CHUNK_MASK = (1 << CHUNK_BITS) - 1

/** Whether a chunk ends after `id` (FNV-1a of its code units, low bits zero). */
export function isBoundary (id: string): boolean {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return ((h ^ (h >>> 16)) & CHUNK_MASK) === 0
}

export class QueueList implements Iterable<string> {
  /** The IDs in order, cut after each boundary ID (no chunk is empty). */
  chunks: string[][] = []
  length = 0

  static from (ids: Iterable<string>): QueueList {
    const q = new QueueList()
    let chunk: string[] = []
    for (const id of ids) {
      chunk.push(id)
      q.length++
      if (isBoundary(id)) { q.chunks.push(chunk); chunk = [] }
    }
    if (chunk.length > 0) q.chunks.push(chunk)
    return q
  }

  * [Symbol.iterator] (): Iterator<string> {
    for (const chunk of this.chunks) yield * chunk
  }

  /** The IDs as an array (a copy). */
  toArray (): string[] {
    const out = new Array<string>(this.length)
    let i = 0
    for (const chunk of this.chunks) for (const id of chunk) out[i++] = id
    return out
  }

  /** JSON (the API's full state, a copy of the state): the array of IDs, as before the chunks. */
  toJSON (): string[] { return this.toArray() }

  map<T> (f: (id: string) => T): T[] {
    const out = new Array<T>(this.length)
    let i = 0
    for (const chunk of this.chunks) for (const id of chunk) out[i++] = f(id)
    return out
  }

  filter (f: (id: string) => boolean): string[] {
    const out: string[] = []
    for (const chunk of this.chunks) for (const id of chunk) if (f(id)) out.push(id)
    return out
  }

  includes (id: string): boolean {
    for (const chunk of this.chunks) if (chunk.includes(id)) return true
    return false
  }

  /** The ID at index `i` (negative: from the end), as Array.prototype.at. */
  at (i: number): string | undefined {
    if (i < 0) i += this.length
    if (i < 0 || i >= this.length) return undefined
    // From the nearer end.
    if (i < this.length / 2) {
      for (const chunk of this.chunks) { if (i < chunk.length) return chunk[i]; i -= chunk.length }
    } else {
      let j = this.length - 1 - i
      for (let c = this.chunks.length - 1; c >= 0; c--) {
        const chunk = this.chunks[c]
        if (j < chunk.length) return chunk[chunk.length - 1 - j]
        j -= chunk.length
      }
    }
    return undefined
  }

  /**
   * Where an ID of key `key` goes: [chunk, index] of the first entry whose key is not before it
   * (`before(a, b)`: a's key is before b's; keys unique). Past the end: [chunks.length, 0].
   */
  private find<K> (key: K, keyOf: (id: string) => K, before: (a: K, b: K) => boolean): [number, number] {
    const chunks = this.chunks
    if (chunks.length === 0) return [0, 0]
    const last = chunks[chunks.length - 1]
    // Most inserts are appends: the end first.
    if (before(keyOf(last[last.length - 1]), key)) return [chunks.length, 0]
    // The first chunk whose last key is not before `key`...
    let lo = 0
    let hi = chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = chunks[mid]
      if (before(keyOf(c[c.length - 1]), key)) lo = mid + 1
      else hi = mid
    }
    // ...and in it, the first entry not before `key`.
    const chunk = chunks[lo]
    let a = 0
    let b = chunk.length - 1
    while (a < b) {
      const mid = (a + b) >>> 1
      if (before(keyOf(chunk[mid]), key)) a = mid + 1
      else b = mid
    }
    return [lo, a]
  }

  /** Put `id` in its place by key (nothing if it is there). */
  insert<K> (id: string, keyOf: (id: string) => K, before: (a: K, b: K) => boolean): void {
    const [c, i] = this.find(keyOf(id), keyOf, before)
    const chunks = this.chunks
    if (c < chunks.length && chunks[c][i] === id) return
    this.length++
    // At the end of the list: after the last chunk's boundary, a new chunk.
    if (c === chunks.length) {
      const last = chunks[chunks.length - 1]
      if (last === undefined || isBoundary(last[last.length - 1])) chunks.push([id])
      else last.push(id)
      return
    }
    // Before entry i of chunk c. (At i = 0 it could as well end the chunk before, which ends
    // with a boundary: entries after a boundary start the next chunk.)
    const chunk = chunks[c]
    if (isBoundary(id)) chunks.splice(c, 1, [...chunk.slice(0, i), id], chunk.slice(i))
    else chunk.splice(i, 0, id)
  }

  /**
   * Take `id` out, found by key (then by a walk if the key does not lead to it; without `keyOf`,
   * by a walk: its key may be gone); whether it was there.
   */
  remove<K> (id: string, keyOf?: (id: string) => K, before?: (a: K, b: K) => boolean): boolean {
    let [c, i] = keyOf !== undefined && before !== undefined ? this.find(keyOf(id), keyOf, before) : [-1, 0]
    const chunks = this.chunks
    if (!(c >= 0 && c < chunks.length && chunks[c][i] === id)) {
      c = chunks.findIndex(ch => ch.includes(id))
      if (c < 0) return false
      i = chunks[c].indexOf(id)
    }
    const chunk = chunks[c]
    this.length--
    if (i === chunk.length - 1 && isBoundary(id) && c + 1 < chunks.length) {
      // Its chunk ended with it: the chunk and the next are one now.
      chunk.pop()
      chunks.splice(c, 2, chunk.concat(chunks[c + 1]))
      return true
    }
    chunk.splice(i, 1)
    if (chunk.length === 0) chunks.splice(c, 1)
    return true
  }
}
