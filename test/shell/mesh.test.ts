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
