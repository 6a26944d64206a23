import { createHash } from 'node:crypto'

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/**
 * A short, stable code for a node (4 base-36 characters from a hash of its ID). Joblist IDs
 * are `<code>-<n>`: each master counts its own accepts, so two masters in two partitions
 * never hand out the same ID.
 */
export function shortCode (nodeId: string): string {
  const h = createHash('sha256').update(nodeId).digest()
  let out = ''
  for (let i = 0; i < 4; i++) out += ALPHABET[h[i] % 36]
  return out
}
