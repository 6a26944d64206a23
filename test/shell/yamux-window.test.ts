// Yamux window updates once half the receive window is consumed (src/net/yamux-window.ts),
// not after every message read; frames that open or end a stream still go at once. And a
// transfer many times the window still completes over real libp2p.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'
import { installYamuxWindowUpdates } from '../../src/net/yamux-window.js'
import { newSwarmKey } from '../../src/net/swarm-key.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'
import { startNet } from '../helpers/net.js'

const WINDOW = 256 * 1024

function fakeStream (capacity: number, state = StreamState.Established): { stream: { sendWindowUpdate: () => void }, frames: Array<{ type: number, flag: number, length: number }> } {
  const frames: Array<{ type: number, flag: number, length: number }> = []
  const stream = Object.assign(Object.create(YamuxStream.prototype), {
    recvWindow: WINDOW,
    recvWindowCapacity: capacity,
    state,
    getRTT: () => -1,
    epochStart: 0,
    config: { maxStreamWindowSize: 16 * 1024 * 1024 },
    _id: 7,
    sendFrame: (f: { type: number, flag: number, length: number }) => { frames.push(f) }
  })
  return { stream, frames }
}

test('R1-5 (issue 12): a yamux window update goes once half the window is consumed, or with a flag', () => {
  installYamuxWindowUpdates()
  const small = fakeStream(WINDOW - 1000)
  small.stream.sendWindowUpdate()
  assert.equal(small.frames.length, 0, 'one small message read: no update')
  const half = fakeStream(WINDOW / 2)
  half.stream.sendWindowUpdate()
  assert.equal(half.frames.length, 1, 'half the window consumed: the update goes')
  assert.equal(half.frames[0].length, WINDOW / 2, 'granting what was consumed')
  const opening = fakeStream(WINDOW, StreamState.Init)
  opening.stream.sendWindowUpdate()
  assert.equal(opening.frames.length, 1, 'the frame that opens a stream (SYN) goes at once')
  assert.equal(opening.frames[0].flag, 1)
})

test('R1-5 (issue 12): a stream carries many times the yamux window over real libp2p, and a beat after it', { timeout: 60_000 }, async () => {
  const dirs = [tempDir(), tempDir()]
  const psk = newSwarmKey()
  const chunk = 'x'.repeat(60_000)
  const received: unknown[] = []
  const a = await startNet(dirs[0], psk)
  const b = await startNet(dirs[1], psk, { tell: msg => { received.push(msg) } })
  try {
    assert.equal(await a.dial(b.peerId, b.addresses()), 'connected')
    // 64 frames of 60 kB: 3.8 MB, about 15 windows of 256 kB (the outbox holds 256).
    for (let i = 0; i < 64; i++) a.tell(b.peerId, { i, chunk })
    await waitFor('64 large frames at B', () => received.length === 64, 45_000)
    assert.deepEqual(received.map(m => (m as { i: number }).i), Array.from({ length: 64 }, (_, i) => i))
    assert.ok(received.every(m => (m as { chunk: string }).chunk.length === chunk.length))
    a.tell(b.peerId, { beat: true })
    await waitFor('a small message after them', () => received.length === 65, 20_000)
  } finally {
    await a.stop()
    await b.stop()
    for (const d of dirs) cleanup(d)
  }
})
