// R1-5 regression: two connections to one peer (both sides dialled at once), and the one that
// carries gossipsub's outbound stream closes while the other stays open. Gossipsub keeps
// writing into the dead stream (it drops a peer's streams only when the peer disconnects
// entirely), so every message to that peer vanished: two agents connected but deaf to each
// other. Net replaces the dead stream; messages flow again without a reconnect. (Gossipsub
// carries gossip to and from peers of an older version: these Nets play two such nodes.)
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { newSwarmKey } from '../../src/net/swarm-key.js'
import { HEARTBEAT_TOPIC, Net } from '../../src/net/p2p.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'
import { startNet as startNetOn } from '../helpers/net.js'

const startNet = async (dir: string, psk: Uint8Array, got: unknown[]): Promise<Net> => await startNetOn(dir, psk, { gossip: (_topic, data) => { got.push(data) } }, { gossipStreams: false })

test('R1-5: when the connection carrying the gossipsub stream (peers of an older version) closes and another stays open, gossip to that peer keeps flowing', async () => {
  const dirs = [tempDir(), tempDir()]
  const psk = newSwarmKey()
  const gotA: unknown[] = []
  const gotB: unknown[] = []
  const a = await startNet(dirs[0], psk, gotA)
  const b = await startNet(dirs[1], psk, gotB)
  let n = 0
  // A says something every 50 ms; B counts what reaches it.
  const timer = setInterval(() => { void a.publish(HEARTBEAT_TOPIC, { n: ++n }) }, 50)
  try {
    assert.equal(await a.dial(b.peerId, b.addresses()), 'connected')
    await waitFor('gossip from A to reach B', () => gotB.length > 0, 20_000)
    // A second connection, dialled by B (as when both sides dial at once).
    const aAddr = a.addresses()[0]
    await b.node.dial((await import('@multiformats/multiaddr')).multiaddr(aAddr), { force: true } as never)
    await waitFor('two connections', () => a.node.getConnections(b.node.peerId).length === 2, 20_000)
    // Close the connection A's outbound gossip stream lives on; the other stays open.
    const ps = (a.node.services as Record<string, any>).pubsub
    const raw = ps.streamsOutbound.get(b.peerId).rawStream
    const carrying = a.node.getConnections(b.node.peerId).find(c => c.streams.includes(raw))
    assert.ok(carrying !== undefined, 'found the connection of the gossip stream')
    await carrying.close()
    assert.equal(a.node.getConnections(b.node.peerId).filter(c => c.status === 'open').length, 1, 'still connected through the other one')
    const before = gotB.length
    await waitFor('gossip from A to reach B again', () => gotB.length > before + 3, 20_000)
    assert.equal(a.node.getConnections(b.node.peerId).filter(c => c.status === 'open').length, 1, 'without reconnecting')
  } finally {
    clearInterval(timer)
    await a.stop()
    await b.stop()
    for (const d of dirs) cleanup(d)
  }
})
