// A hash of the derived state: two nodes with the same events have the same hash. It is the
// sum of a digest per part of the state (archive.ts), so the parts a node archived count
// through their summed digest: the hash is the same whatever each node holds in memory.
import { createHash } from 'node:crypto'
import { addDigest, digestHex, memoryDigest } from './archive.js'
import type { ClusterState } from './types.js'

export function stateHash (state: ClusterState, archived = 0n): string {
  return createHash('sha256').update(digestHex(addDigest(memoryDigest(state), archived))).digest('hex').slice(0, 32)
}
