// A Merkle tree over the events of one write batch, so that the batch is signed once and each
// event still verifies alone (issue 12: one signature per write batch). Leaves are
// sha256(0x00 ‖ event bytes), inner nodes sha256(0x01 ‖ left ‖ right); the last node of an
// odd level goes up unpaired (never paired with itself). An event's proof is its index, the
// leaf count and the siblings on its way up; the verifier replays the level sizes from the
// count, so a proof has exactly the siblings it needs.
import { createHash } from 'node:crypto'

const LEAF = Buffer.from([0])
const NODE = Buffer.from([1])

export const leafHash = (bytes: Uint8Array): Buffer => createHash('sha256').update(LEAF).update(bytes).digest()
const nodeHash = (left: Buffer, right: Buffer): Buffer => createHash('sha256').update(NODE).update(left).update(right).digest()

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
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 0 || index >= count) return undefined
  let h = leaf
  let j = index
  let size = count
  let used = 0
  while (size > 1) {
    const sibling = j % 2 === 0 ? j + 1 : j - 1
    if (sibling < size) {
      const s = path[used++]
      if (s === undefined || s.length !== 32) return undefined
      h = j % 2 === 0 ? nodeHash(h, s) : nodeHash(s, h)
    }
    j >>= 1
    size = Math.ceil(size / 2)
  }
  return used === path.length ? h : undefined
}
