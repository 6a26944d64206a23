// Issue 12 (R1-5, R1-3): a large cluster's liveness gossip goes over one long-lived stream per
// neighbour (Net.tell), not a stream per message. Messages arrive in order on one stream; a
// hostile peer's bad frame ends its stream and nothing else; after the connection closes the
// next message opens a new stream.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as lp from 'it-length-prefixed'
import { peerIdFromString } from '@libp2p/peer-id'
import { newSwarmKey } from '../../src/net/swarm-key.js'
import { Net, TELL_PROTOCOL } from '../../src/net/p2p.js'
import { Outbox } from '../../src/net/outbox.js'
import { COALESCE_BYTES, FrameError, MAX_FRAME_BYTES, lpEncode, lpEncodeBatches } from '../../src/net/frames.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'
import { startNet as startNetOn } from '../helpers/net.js'

const startNet = async (dir: string, psk: Uint8Array, told: Array<{ msg: unknown, from: string }>): Promise<Net> =>
  await startNetOn(dir, psk, { tell: (msg, from) => { told.push({ msg, from }) } })

const tellStreams = (net: Net, peer: string): number =>
  net.node.getConnections(peerIdFromString(peer)).flatMap(c => c.streams).filter(s => s.protocol === TELL_PROTOCOL).length

test('R1-5 issue 12: Net.tell sends one-way messages in order over one stream; a bad frame ends only that stream; a new connection gets a new stream', async () => {
  const dirs = [tempDir(), tempDir()]
  const psk = newSwarmKey()
  const toA: Array<{ msg: unknown, from: string }> = []
  const toB: Array<{ msg: unknown, from: string }> = []
  const a = await startNet(dirs[0], psk, toA)
  const b = await startNet(dirs[1], psk, toB)
  try {
    assert.equal(await a.dial(b.peerId, b.addresses()), 'connected')
    for (let i = 0; i < 100; i++) a.tell(b.peerId, { n: i })
    await waitFor('100 messages at B', () => toB.length === 100, 20_000)
    assert.deepEqual(toB.map(x => (x.msg as { n: number }).n), Array.from({ length: 100 }, (_, i) => i), 'in order')
    assert.ok(toB.every(x => x.from === a.peerId), 'from A')
    assert.equal(tellStreams(a, b.peerId), 1, 'one stream carried them all')
    for (let i = 100; i < 110; i++) a.tell(b.peerId, { n: i })
    await waitFor('10 more', () => toB.length === 110, 20_000)
    assert.equal(tellStreams(a, b.peerId), 1, 'still the same one stream')

    // A hostile peer: a frame that is not JSON on its tell stream. B drops that stream, keeps running.
    const bad = await b.node.dialProtocol(peerIdFromString(a.peerId), TELL_PROTOCOL)
    const frames = new Outbox<Uint8Array>(4)
    frames.push(new TextEncoder().encode('{not json'))
    const sent = bad.sink(lp.encode((async function * () { for await (const f of frames) yield f })()))
    const inbound = (): number => a.node.getConnections(peerIdFromString(b.peerId)).flatMap(c => c.streams).filter(s => s.protocol === TELL_PROTOCOL && s.direction === 'inbound').length
    await waitFor('the bad stream closed by A', () => inbound() === 0, 20_000)
    frames.end()
    await sent.catch(() => {})
    assert.equal(toA.length, 0, 'nothing handled from the bad frame')
    b.tell(a.peerId, { fine: true })
    await waitFor('a good message after it', () => toA.length === 1, 20_000)
    assert.deepEqual(toA[0].msg, { fine: true })

    // The connection closes: the next message opens a new connection's stream (after a dial).
    await a.hangUp(b.peerId)
    await waitFor('A and B apart', () => !a.connectedPeers().includes(b.peerId), 20_000)
    assert.equal(await a.dial(b.peerId, b.addresses()), 'connected')
    let n = 200
    await waitFor('a message over the new connection', () => { a.tell(b.peerId, { n: n++ }); return toB.length > 110 }, 20_000, 100)
    assert.ok((toB[110].msg as { n: number }).n >= 200)
    assert.equal(tellStreams(a, b.peerId), 1, 'one stream again')
  } finally {
    await a.stop()
    await b.stop()
    for (const d of dirs) cleanup(d)
  }
})

test('R1-5 issue 12: an Outbox drops past its bound and after end, and yields in order', async () => {
  const box = new Outbox<number>(3)
  assert.deepEqual([box.push(1), box.push(2), box.push(3), box.push(4)], [true, true, true, false])
  const got: number[] = []
  const reading = (async () => { for await (const x of box) got.push(x) })()
  await new Promise(resolve => setTimeout(resolve, 10))
  assert.deepEqual(got, [1, 2, 3])
  box.push(5)
  await new Promise(resolve => setTimeout(resolve, 10))
  box.end()
  assert.equal(box.push(6), false)
  await reading
  assert.deepEqual(got, [1, 2, 3, 5])
})

test('R1-5 issue 12: frames go out length-prefixed in one buffer each, and what a stream had queued at once in one write, read back the same by the length-prefixed decoder', async () => {
  const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
  const decode = async (chunks: Uint8Array[]): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = []
    for await (const f of lp.decode((async function * () { yield * chunks })())) out.push(f.subarray())
    return out
  }
  // One frame a buffer: the prefix is not a write of its own (sizes across the varint's 1/2/3-byte steps).
  const frames = [bytes(0, 0), bytes(1, 1), bytes(127, 2), bytes(128, 3), bytes(300, 4), bytes(20_000, 5)]
  const single: Uint8Array[] = []
  for await (const c of lpEncode(frames)) single.push(c)
  assert.equal(single.length, frames.length, 'one buffer a frame')
  assert.deepEqual(await decode(single), frames)
  // A batch: small frames in one buffer; a batch past COALESCE_BYTES in several, none over it
  // unless one frame alone is; order kept.
  const small = Array.from({ length: 50 }, (_, i) => bytes(200, i))
  const big = Array.from({ length: 5 }, (_, i) => bytes(COALESCE_BYTES / 2, 100 + i))
  const box = new Outbox<Uint8Array>(100)
  for (const f of small) box.push(f)
  const chunks: Uint8Array[] = []
  const writing = (async () => { for await (const c of lpEncodeBatches(box.batches())) chunks.push(c) })()
  await new Promise(resolve => setTimeout(resolve, 10))
  assert.equal(chunks.length, 1, 'fifty queued frames: one write')
  for (const f of big) box.push(f)
  await new Promise(resolve => setTimeout(resolve, 10))
  box.end()
  await writing
  assert.ok(chunks.length >= 3 && chunks.length <= 5, `five half-buffer frames: a few writes (${chunks.length})`)
  assert.ok(chunks.slice(1).every(c => c.byteLength <= COALESCE_BYTES + 8), 'none much over the bound')
  assert.deepEqual(await decode(chunks), [...small, ...big], 'every frame, in order')
  // A frame over the limit is refused (the peer would refuse it).
  await assert.rejects(async () => { for await (const _ of lpEncode([new Uint8Array(MAX_FRAME_BYTES + 1)])) { /* none */ } }, FrameError)
})
