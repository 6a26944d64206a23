// The one-process benches' nodes (ingest-core.ts, roles-core.ts): a real node without the
// network, in a directory of the bench's, and the stand-in for its mesh that the bench gives it
// in place of libp2p: it says who is alive and who has the highest priority, and catches what
// the node publishes.
import { pino } from 'pino'
import { defaultConfig } from '../src/config/config.js'
import type { AgentConfig } from '../src/config/config.js'
import type { CisEvent } from '../src/events/types.js'
import { CisNode } from '../src/node/node.js'

const silent = pino({ level: 'silent' })

/** A real node in `dir` without the network, silent: the agent's defaults with `config` over them (its `store` field by field), started by the caller. */
export function benchNode (dir: string, config: Partial<Omit<AgentConfig, 'store'>> & { store?: Partial<AgentConfig['store']> } = {}, forkServer?: string): CisNode {
  const d = defaultConfig()
  const { store, ...rest } = config
  return new CisNode({ config: { ...d, ...rest, data: dir, store: { ...d.store, ...store } }, log: silent, network: false, ...(forkServer !== undefined ? { forkServer } : {}) })
}

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
