// Outsiders cannot join; forged and malformed events change nothing.
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { pino } from 'pino'
import { signEvent } from '../../src/identity/keys.js'
import { Net, EVENTS_TOPIC } from '../../src/net/p2p.js'
import { readSwarmKey, newSwarmKey } from '../../src/net/swarm-key.js'
import type { Cluster } from '../helpers/cluster.js'
import { startCluster, waitSameHash } from '../helpers/cluster.js'
import { api, cleanup, membershipCount, sleep, startAgent, waitFor } from '../helpers/agent.js'

let c: Cluster
before(async () => { c = await startCluster([{ name: 's1', priority: 2 }, { name: 's2', priority: 1 }]) })
after(async () => { await c.stopAll() })

const quiet = pino({ level: 'silent' })

async function rogue (psk: Uint8Array): Promise<Net> {
  const net = new Net({
    privateKey: await generateKeyPair('Ed25519'),
    psk,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    bootstrap: [],
    mdns: false,
    log: quiet,
    handlers: { gossip: () => {}, connected: () => {}, disconnected: () => {}, sync: async function * () {}, rpc: async () => ({}) }
  })
  await net.start()
  return net
}

test('security: a peer with the wrong swarm key cannot connect', async () => {
  const outsider = await startAgent({ name: 'outsider', args: ['--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', c.agents[0].p2p[0]] })
  try {
    await sleep(1500)
    for (const a of c.agents) {
      const names = (await api(a.url, '/v1/nodes')).body.nodes.map((n: any) => n.name)
      assert.ok(!names.includes('outsider'), `${a.name} never heard of the outsider`)
    }
    const seen = (await api(outsider.url, '/v1/nodes')).body.nodes.map((n: any) => n.name)
    assert.deepEqual(seen, ['outsider'])
  } finally {
    await outsider.stop()
    cleanup(outsider.dataDir)
  }
  const net = await rogue(newSwarmKey())
  try {
    await assert.rejects(net.node.dial((await import('@multiformats/multiaddr')).multiaddr(c.agents[0].p2p[0]), { signal: AbortSignal.timeout(5000) }))
  } finally { await net.stop() }
})

test('security: forged, re-signed, replayed and malformed events are rejected; the state is unchanged', async () => {
  const [s1, s2] = c.agents
  const before = await waitSameHash(c.agents)
  const net = await rogue(await readSwarmKey(c.keyFile))
  try {
    await net.node.dial((await import('@multiformats/multiaddr')).multiaddr(s1.p2p[0]))
    await waitFor('the rogue to see the topic peers', () => net.connectedPeers().includes(s1.id))
    await sleep(500)
    const spec = { name: 'forged', priority: 0, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'x', run: 'touch /tmp/pwned', needs: { slot: 1 }, env: {}, retries: 0, replace: {}, files: [] }] }] }
    const seqOfS2 = ((await api(s1.url, '/v1/state')).body.origins[s2.id] as number)
    const otherKey = await generateKeyPair('Ed25519')
    // 1. An event claiming to come from s2, signed by another key.
    const forged = signEvent(otherKey as never, { origin: s2.id, seq: seqOfS2 + 1, ts: Date.now(), lc: 0, type: 'submit', body: { spec, owner: 'mallory' } })
    await net.publish(EVENTS_TOPIC, forged)
    // 2. A replay of a real event with an altered body (signature no longer matches).
    const realFirst = await (await fetch(`${s1.url}/v1/state`)).json() as { origins: Record<string, number> }
    assert.ok(realFirst.origins[s2.id] >= 1)
    await net.publish(EVENTS_TOPIC, { ...forged, origin: s2.id, seq: 1, body: { spec, owner: 'mallory' } })
    // 3. Malformed: not an event at all, and a huge string.
    await net.publish(EVENTS_TOPIC, { hello: 'world' })
    await net.publish(EVENTS_TOPIC, 'x'.repeat(100_000))
    await sleep(1000)
    const after = await waitSameHash(c.agents)
    assert.equal(after, before, 'nothing changed')
    for (const a of c.agents) {
      const list = (await api(a.url, '/v1/joblists')).body.joblists
      assert.ok(!list.some((j: any) => j.name === 'forged'))
      assert.equal((await api(a.url, '/v1/health')).body.ok, true)
    }
    assert.match(s1.output(), /rejected an event whose signature does not verify/)
    assert.match(s1.output(), /rejected a malformed event/)
    // Control: the same pipe delivers a correctly signed event of the rogue's own (it holds the key).
    const rogueId = net.peerId
    const own = signEvent(net.node.peerId.toString() === rogueId ? (net as any).o.privateKey : otherKey, { origin: rogueId, seq: 1, ts: Date.now(), lc: 0, type: 'node', body: { name: 'rogue', priority: 0, profiles: [], resources: {}, api: '', addresses: [], version: 'x' } })
    // Sent as one batch message (as nodes send their write batches) next to the forged event:
    // each entry is checked on its own; the good one is applied, the forged one is not.
    await net.publish(EVENTS_TOPIC, [forged, own])
    await waitFor('s1 to learn the member-signed event', async () => (await api(s1.url, '/v1/nodes')).body.nodes.some((n: any) => n.name === 'rogue'))
    assert.ok(!(await api(s1.url, '/v1/joblists')).body.joblists.some((j: any) => j.name === 'forged'))
  } finally { await net.stop() }
})

test('security: malformed sync and rpc frames close the stream and change nothing', async () => {
  const [s1] = c.agents
  const before = await waitSameHash(c.agents)
  const net = await rogue(await readSwarmKey(c.keyFile))
  try {
    const { multiaddr } = await import('@multiformats/multiaddr')
    const { peerIdFromString } = await import('@libp2p/peer-id')
    await net.node.dial(multiaddr(s1.p2p[0]))
    const garbage = [
      Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]), // a length prefix far over the limit
      Uint8Array.from([5, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]), // "{{{{{": not JSON
      new TextEncoder().encode('\u0010{"vector": 12345}') // a frame of the wrong shape
    ]
    for (const protocol of ['/cis/sync/1', '/cis/rpc/1']) {
      for (const bytes of garbage) {
        const stream = await net.node.dialProtocol(peerIdFromString(s1.id), protocol, { signal: AbortSignal.timeout(5000) })
        const { pipe } = await import('it-pipe')
        await pipe([bytes], stream, async (src: AsyncIterable<unknown>) => { try { for await (const _ of src) { /* drain */ } } catch { /* closed on us */ } }).catch(() => {})
      }
    }
    await sleep(300)
    assert.equal((await api(s1.url, '/v1/health')).body.ok, true, 'the node keeps running')
    assert.equal(await waitSameHash(c.agents), before, 'nothing changed')
    assert.match(s1.output(), /closed a stream after a bad frame/)
  } finally { await net.stop() }
})

test('P-5 issue 12: a membership message that comes by rpc (a prune notice before a hang-up, a peer of an older version) is counted by kind', async () => {
  const [s1] = c.agents
  const counted = async (direction: 'sent' | 'received', kind: string): Promise<number> => await membershipCount(s1.url, direction, kind)
  const before = await counted('received', 'unwatch')
  assert.ok(Number.isFinite(before), 'the family is there from the start')
  const net = await rogue(await readSwarmKey(c.keyFile))
  try {
    const { multiaddr } = await import('@multiformats/multiaddr')
    await net.node.dial(multiaddr(s1.p2p[0]))
    await net.call(s1.id, { cis: 'membership', unwatch: true }, 5000)
    await net.call(s1.id, { cis: 'membership', unwatch: true }, 5000)
    assert.equal(await counted('received', 'unwatch'), before + 2, 'both counted as received, kind unwatch')
    assert.equal((await api(s1.url, '/v1/health')).body.ok, true, 'the node keeps running')
  } finally { await net.stop() }
})

test('R1-1: a peer that stays connected but sends no heartbeat is hung up on (a dead gossip stream heals by reconnecting)', async () => {
  const [s1, s2] = c.agents
  const net = await rogue(await readSwarmKey(c.keyFile))
  try {
    const { multiaddr } = await import('@multiformats/multiaddr')
    await net.node.dial(multiaddr(s1.p2p[0]))
    await waitFor('the silent peer to be connected', () => net.connectedPeers().includes(s1.id))
    // It never sends a heartbeat: after the silence limit (10 s here) s1 closes the connection.
    await waitFor('s1 to hang up on the silent peer', () => !net.connectedPeers().includes(s1.id), 30_000, 200)
    // (Its log line comes through a pipe, which may be read after the close is seen here.)
    await waitFor('s1 to say why it hung up', () => /sent no heartbeat for too long: hanging up/.test(s1.output()), 10_000, 100).catch(() => {})
    assert.match(s1.output(), /sent no heartbeat for too long: hanging up/)
    // The members, who do send heartbeats, stay connected and alive.
    const nodes = (await api(s1.url, '/v1/nodes')).body.nodes as Array<{ name: string, alive: boolean }>
    assert.deepEqual(nodes.filter(n => n.alive).map(n => n.name).sort(), ['s1', 's2'])
    assert.equal((await api(s2.url, '/v1/health')).body.ok, true)
  } finally { await net.stop() }
})
