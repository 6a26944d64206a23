// A bare Net (src/net/p2p.ts) on loopback for transport tests: a node identity in `dir`, no
// discovery, handlers that do nothing unless given; `options` (gossipStreams: false plays a node of an older version).
import { pino } from 'pino'
import { Net } from '../../src/net/p2p.js'
import type { NetHandlers, NetOptions } from '../../src/net/p2p.js'
import { loadOrCreateIdentity } from '../../src/identity/keys.js'

export async function startNet (dir: string, psk: Uint8Array, handlers: Partial<NetHandlers> = {}, options: Partial<NetOptions> = {}): Promise<Net> {
  const id = await loadOrCreateIdentity(dir)
  const net = new Net({
    privateKey: id.key,
    psk,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    log: pino({ level: 'silent' }),
    handlers: {
      gossip: () => {},
      connected: () => {},
      disconnected: () => {},
      sync: async function * () {},
      rpc: async () => null,
      ...handlers
    },
    ...options
  })
  await net.start()
  return net
}
