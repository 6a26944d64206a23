// The stand-in for a node's mesh that the one-process benches (ingest-core.ts, roles-core.ts)
// give a real node in place of libp2p: it says who is alive and who has the highest priority,
// and catches what the node publishes.
import type { CisEvent } from '../src/events/types.js'
import type { CisNode } from '../src/node/node.js'

/** Replace the node's mesh with a stand-in: these peers alive, `top` the highest priority, what the node publishes to `published`. */
export function standInMesh (node: CisNode, peers: readonly string[], top: string, published: (own: CisEvent[]) => void = () => {}): void {
  const alive = new Set([node.id, ...peers])
  ;(node as unknown as { mesh: unknown }).mesh = {
    gossip: { relay: () => {} },
    replication: { pull: () => {}, pullBehind: () => {}, publishEvents: published, behind: () => false, caughtUp: async () => true },
    membership: { alive: () => alive, priorityOf: (id: string) => id === top ? 100 : 0, silence: () => new Map(), lastSeen: () => Date.now(), unsettled: () => ({ unheard: [], claiming: [] }), settling: () => false },
    office: () => {},
    leaving: () => {},
    addresses: () => [],
    block: async () => {},
    stop: async () => {}
  }
}
