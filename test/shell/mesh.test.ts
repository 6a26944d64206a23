// The gossip fast path sends one message per write batch, split so no message is too large.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { Replication } from '../../src/cluster/replication.js'
import type { CisEvent } from '../../src/events/types.js'
import { EVENTS_TOPIC } from '../../src/net/p2p.js'

function meshWithRecorder (): { mesh: Replication, sent: Array<{ topic: string, json: string }> } {
  const sent: Array<{ topic: string, json: string }> = []
  const none = async (): Promise<void> => {}
  const mesh = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => ({}), receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [] }, {
    publishRaw: async (topic: string, json: string) => { sent.push({ topic, json }) },
    request: none,
    connectedPeers: () => [],
    dial: none,
    dialAddr: none
  })
  return { mesh, sent }
}

const event = (seq: number, pad: number): CisEvent => ({ origin: 'o', seq, ts: seq, lc: 0, type: 'stop', body: { joblistId: 'x'.repeat(pad) }, sig: 's' }) as never

test('R1-5: a write batch goes out as one gossip message, in seq order; a single event as itself', () => {
  const { mesh, sent } = meshWithRecorder()
  mesh.publishEvents([event(1, 10), event(2, 10), event(3, 10)])
  mesh.publishEvents([event(4, 10)])
  assert.equal(sent.length, 2)
  assert.ok(sent.every(m => m.topic === EVENTS_TOPIC))
  assert.deepEqual((JSON.parse(sent[0].json) as CisEvent[]).map(e => e.seq), [1, 2, 3])
  assert.equal((JSON.parse(sent[1].json) as CisEvent).seq, 4)
})

test('R1-5: a large write batch is split into messages of at most about 1 MiB, losing and reordering nothing', () => {
  const { mesh, sent } = meshWithRecorder()
  const events = Array.from({ length: 40 }, (_, i) => event(i + 1, 100_000)) // ~4 MB in all
  mesh.publishEvents(events)
  assert.ok(sent.length >= 4, `split into ${sent.length} messages`)
  for (const m of sent) assert.ok(m.json.length <= 1024 * 1024, `a message of ${m.json.length} bytes`)
  const seqs = sent.flatMap(m => { const v = JSON.parse(m.json) as CisEvent | CisEvent[]; return (Array.isArray(v) ? v : [v]).map(e => e.seq) })
  assert.deepEqual(seqs, events.map(e => e.seq))
})

/** A Replication connected to one peer `p`, with a vector of its own; it counts its pulls (each answered at once). */
function pulling (large: boolean): { r: Replication, pulls: () => number, mine: Record<string, number> } {
  let pulls = 0
  const mine: Record<string, number> = { a: 5, b: 3 }
  const none = async (): Promise<void> => {}
  const r = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => mine, receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [], ...(large ? { targetPeers: () => 8 } : {}) }, {
    publishRaw: none,
    request: async () => { pulls++ },
    connectedPeers: () => ['p'],
    dial: none,
    dialAddr: none
  })
  return { r, pulls: () => pulls, mine }
}

const rounds = async (r: Replication, n: number): Promise<void> => {
  for (let k = 0; k < n; k++) { r.antiEntropy(); await new Promise(resolve => setImmediate(resolve)) }
}

test('R1-5 issue 12: the periodic pull goes to a peer whose heartbeat shows it ahead, and to any peer every fifth round', async () => {
  // A small cluster: heartbeats carry the whole vector.
  const small = pulling(false)
  await rounds(small.r, 2)
  assert.equal(small.pulls(), 2, 'nothing heard of the peer yet: a pull each round')
  small.r.peerVector('p', { a: 5, b: 3 })
  const before = small.pulls()
  await rounds(small.r, 10)
  assert.equal(small.pulls() - before, 2, 'a peer with nothing more: only the backstop, every fifth round')
  small.r.peerVector('p', { a: 6, b: 3 })
  const ahead = small.pulls()
  await rounds(small.r, 4)
  assert.equal(small.pulls() - ahead, 4, 'a peer ahead: a pull each round')
  // A large cluster: beat batches carry only the vector's sum; another sum, either way, is a reason to pull.
  const large = pulling(true)
  large.r.peerSum('p', 8)
  const even = large.pulls()
  await rounds(large.r, 10)
  assert.equal(large.pulls() - even, 2, 'the same sum: only the backstop')
  large.r.peerSum('p', 7)
  const other = large.pulls()
  await rounds(large.r, 3)
  assert.equal(large.pulls() - other, 3, 'another sum: a pull each round')
})
