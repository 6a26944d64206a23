// A hash of the derived state: two nodes with the same events have the same hash.
import { createHash } from 'node:crypto'
import { canonicalJson } from '../util/canonical.js'
import type { ClusterState } from './types.js'

export function stateHash (state: ClusterState): string {
  // The local clock is not part of the shared state.
  const { clock: _clock, ...shared } = state
  return createHash('sha256').update(canonicalJson(shared)).digest('hex').slice(0, 32)
}
