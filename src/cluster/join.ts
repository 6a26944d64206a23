// Joining the cluster: the private network key (created on first start if none was given),
// then the mesh on libp2p. A node imports this module only when it joins a network.
import { resolve } from 'node:path'
import type { AgentConfig } from '../config/config.js'
import { loadOrCreateSwarmKey } from '../net/swarm-key.js'
import { Mesh } from './mesh.js'
import type { MeshHost } from './mesh.js'

export async function joinCluster (config: AgentConfig, dataDir: string, host: MeshHost): Promise<Mesh> {
  const keyFile = config.swarmKey ?? resolve(dataDir, 'swarm.key')
  const { key, created } = await loadOrCreateSwarmKey(keyFile, config.swarmKey === undefined)
  if (created) host.log.warn({ swarmKey: keyFile }, `created a new private network key at ${keyFile}: copy it to the other machines and start their agents with --swarm-key FILE (only nodes with this key can join)`)
  const mesh = new Mesh(host, {
    psk: key,
    listen: config.listen,
    bootstrap: config.peers,
    mdns: config.mdns,
    heartbeatIntervalMs: config.heartbeat.intervalMs,
    heartbeatTimeoutMs: config.heartbeat.timeoutMs,
    syncIntervalMs: config.syncIntervalMs,
    batchWindowMs: config.batchWindowMs,
    watchRingAbove: config.watchRingAbove
  })
  await mesh.start()
  return mesh
}
