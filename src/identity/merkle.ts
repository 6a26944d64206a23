// A Merkle tree over the events of one write batch, so that the batch is signed once and each
// event still verifies alone (issue 12: one signature per write batch). Leaves are
// sha256(0x00 ‖ event bytes), inner nodes sha256(0x01 ‖ left ‖ right); the last node of an
// odd level goes up unpaired (never paired with itself). An event's proof is its index, the
// leaf count and the siblings on its way up; the verifier replays the level sizes from the
// count, so a proof has exactly the siblings it needs.
import { hash } from 'node:crypto'

export const leafHash = (bytes: Uint8Array): Buffer => hash('sha256', Buffer.concat([Buffer.from([0]), bytes]), 'buffer')

/** leafHash of a text's UTF-8 bytes, without encoding them apart (U+0000 is the one byte 0x00). */
export const leafHashOfText = (text: string): Buffer => hash('sha256', '\u0000' + text, 'buffer')

/** 0x01 ‖ left ‖ right, filled for each inner node (one-shot hashing: no hash object, no concat). */
const pair = Buffer.alloc(65, 1)
function nodeHash (left: Buffer, right: Buffer): Buffer {
  left.copy(pair, 1)
  right.copy(pair, 33)
  return hash('sha256', pair, 'buffer')
}

/** The root of the leaves, and each leaf's path of siblings (bottom up). */
export function merkleTree (leaves: Buffer[]): { root: Buffer, paths: Buffer[][] } {
  if (leaves.length === 0) throw new Error('a Merkle tree needs a leaf')
  const paths: Buffer[][] = leaves.map(() => [])
  // Where each leaf's ancestor is on the current level.
  const at = leaves.map((_, i) => i)
  let level = leaves
  while (level.length > 1) {
    const next: Buffer[] = []
    for (let k = 0; k < level.length; k += 2) next.push(k + 1 < level.length ? nodeHash(level[k], level[k + 1]) : level[k])
    for (let i = 0; i < at.length; i++) {
      const j = at[i]
      const sibling = j % 2 === 0 ? j + 1 : j - 1
      if (sibling < level.length) paths[i].push(level[sibling])
      at[i] = j >> 1
    }
    level = next
  }
  return { root: level[0], paths }
}

/** The root a leaf's proof leads to, or undefined if the proof does not fit the index and count. */
export function merkleRoot (leaf: Buffer, index: number, count: number, path: Buffer[]): Buffer | undefined {
  return merkleWay(leaf, index, count, path.map(h => h.toString('base64url')))?.root
}

/**
 * The nodes of one verified tree, by nodeKey(level, position) (level 0: the leaves), as base64url.
 */
export type KnownNodes = Map<number, string>

/** A node's key in KnownNodes: its level and its position on that level, in one number. */
export const nodeKey = (level: number, position: number): number => level * 0x100000 + position

/** A 32-byte node from its base64url text, or undefined. */
function nodeOf (text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined
  const b = Buffer.from(text, 'base64url')
  return b.length === 32 ? b : undefined
}

/**
 * merkleRoot with a path of base64url siblings, and what the walk learnt: the nodes it computed
 * and the siblings it used, by nodeKey(level, position), the root last. Once the root is found signed,
 * all of them are nodes of the signed tree (KnownNodes).
 */
export function merkleWay (leaf: Buffer, index: number, count: number, path: string[]): { root: Buffer, nodes: Array<[number, string]> } | undefined {
  if (!inRange(index, count)) return undefined
  const nodes: Array<[number, string]> = []
  let h = leaf
  let j = index
  let size = count
  let level = 0
  let used = 0
  while (size > 1) {
    nodes.push([nodeKey(level, j), h.toString('base64url')])
    const sibling = j % 2 === 0 ? j + 1 : j - 1
    if (sibling < size) {
      const text = path[used++]
      const s = nodeOf(text)
      if (s === undefined) return undefined
      nodes.push([nodeKey(level, sibling), text])
      h = j % 2 === 0 ? nodeHash(h, s) : nodeHash(s, h)
    }
    j >>= 1
    size = Math.ceil(size / 2)
    level++
  }
  if (used !== path.length) return undefined
  nodes.push([nodeKey(level, 0), h.toString('base64url')])
  return { root: h, nodes }
}

/** A leaf's index and its tree's leaf count make sense (the proof's numbers are the sender's). */
const inRange = (index: number, count: number): boolean => Number.isSafeInteger(index) && Number.isSafeInteger(count) && index >= 0 && index < count && count <= 0x100000

/**
 * True if the proof (base64url siblings) meets a node of a verified tree of the same count and
 * signature (`known`) and every sibling above that node is the tree's own: then the proof leads
 * to that tree's signed root (merkleRoot would find it), with a hash or two instead of a walk.
 * The nodes the walk computed and the siblings it used on its way to that node are the tree's
 * own too (found once the check passes): they join `known`, so the next leaves of the batch
 * meet it at once or after a hash (each inner node is computed once a batch, not once a leaf:
 * a leaf of 32 walked up 2.4 hashes on average, issue 12).
 * False says only "not shown this way": the caller walks the proof in full.
 */
export function reachesKnown (known: KnownNodes, leaf: Buffer, index: number, count: number, path: string[]): boolean {
  if (!inRange(index, count)) return false
  let h = leaf
  let j = index
  let size = count
  let level = 0
  let used = 0
  let learnt: Array<[number, string]> | undefined
  for (;;) {
    const node = known.get(nodeKey(level, j))
    const text = h.toString('base64url')
    if (node !== undefined) {
      if (node !== text) return false
      // From here up, the proof must be the known tree's siblings, and nothing more.
      for (; size > 1; j >>= 1, size = Math.ceil(size / 2), level++) {
        const sibling = j % 2 === 0 ? j + 1 : j - 1
        if (sibling >= size) continue
        if (used >= path.length || known.get(nodeKey(level, sibling)) !== path[used]) return false
        used++
      }
      if (used !== path.length) return false
      if (learnt !== undefined) for (const [k, v] of learnt) known.set(k, v)
      return true
    }
    if (size <= 1) return false
    ;(learnt ??= []).push([nodeKey(level, j), text])
    const sibling = j % 2 === 0 ? j + 1 : j - 1
    if (sibling < size) {
      const siblingText = path[used++]
      const s = nodeOf(siblingText)
      if (s === undefined) return false
      learnt.push([nodeKey(level, sibling), siblingText])
      h = j % 2 === 0 ? nodeHash(h, s) : nodeHash(s, h)
    }
    j >>= 1
    size = Math.ceil(size / 2)
    level++
  }
}
