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
  const once = small.pulls()
  await rounds(small.r, 4) // (rounds 13-16: the 15th is a backstop)
  assert.equal(small.pulls() - once, 1, 'a peer ahead in its last heartbeat only (the event may be on its way, or in its batch window): only the backstop')
  small.r.peerVector('p', { a: 6, b: 3 })
  assert.equal(small.pulls() - once, 2, 'ahead in two heartbeats in a row: a pull at once')
  const ahead = small.pulls()
  await rounds(small.r, 4)
  assert.equal(small.pulls() - ahead, 4, 'a peer ahead one heartbeat ago still: a pull each round')
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

/** A Replication of peers m, x, o with a batch window of 50 ms on a hand-driven clock; it records every message and whom it went to. */
function batching (windowMs = 50): { r: Replication, sent: Array<{ seqs: number[], to: string[] }>, at: (ms: number) => void, fire: () => void } {
  const sent: Array<{ seqs: number[], to: string[] }> = []
  let now = 0
  let timers: Array<() => void> = []
  const none = async (): Promise<void> => {}
  const peers = ['m', 'x', 'o']
  const r = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => ({}), receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [], batchMs: () => windowMs, now: () => now, after: (_ms, fn) => { timers.push(fn) } }, {
    publishRaw: async (_topic: string, json: string, to?: readonly string[]) => {
      const data = JSON.parse(json) as CisEvent | CisEvent[]
      sent.push({ seqs: (Array.isArray(data) ? data : [data]).map(e => e.seq), to: [...(to ?? peers)] })
    },
    request: none,
    connectedPeers: () => peers,
    dial: none,
    dialAddr: none
  })
  return { r, sent, at: ms => { now = ms }, fire: () => { const t = timers; timers = []; for (const f of t) f() } }
}

/** What each peer received, in order (seqs), and in how many messages. */
function byPeer (sent: Array<{ seqs: number[], to: string[] }>): Record<string, { seqs: number[], messages: number }> {
  const out: Record<string, { seqs: number[], messages: number }> = {}
  for (const m of sent) for (const p of m.to) { const x = (out[p] ??= { seqs: [], messages: 0 }); x.seqs.push(...m.seqs); x.messages++ }
  return out
}

test('R1-5 issue 12: under load, events a peer does not need at once wait for the batch window and go in one message; those who need them get them at once; order kept per peer', () => {
  const { r, sent, at, fire } = batching()
  r.publishEvents([event(1, 1), event(2, 1)], new Set(['m']))
  assert.deepEqual(sent, [{ seqs: [1, 2], to: ['m', 'x', 'o'] }], 'nothing went to anyone within the window: to every peer at once, in one message')
  at(10)
  r.publishEvents([event(3, 1)], new Set(['m']))
  assert.deepEqual(sent.slice(1), [{ seqs: [3], to: ['m'] }], 'within the window: only the master at once')
  at(20)
  r.publishEvents([event(4, 1)], new Set(['m', 'x']))
  assert.deepEqual(sent.slice(2), [{ seqs: [3, 4], to: ['x'] }, { seqs: [4], to: ['m'] }], 'x is named now: what waited for it goes first, with the new events, in one message')
  fire()
  assert.deepEqual(sent.slice(4), [{ seqs: [3, 4], to: ['o'] }], 'the window ends: o gets what waited, in one message')
  at(30)
  r.publishEvents([event(5, 1)], new Set(['m']))
  at(40)
  r.publishEvents([event(6, 1)], 'all')
  assert.deepEqual(sent.slice(5), [{ seqs: [5], to: ['m'] }, { seqs: [5, 6], to: ['x'] }, { seqs: [5, 6], to: ['o'] }, { seqs: [6], to: ['m'] }], 'an event every peer needs at once takes what waited along, in order')
  fire()
  assert.equal(sent.length, 9, 'nothing waits any more: the timer sends nothing')
  const got = byPeer(sent)
  for (const p of ['m', 'x', 'o']) assert.deepEqual(got[p].seqs, [1, 2, 3, 4, 5, 6], `${p} got every event once, in seq order`)
  assert.ok(got.o.messages < got.m.messages, `the bystander o got fewer messages (${got.o.messages}) than the master (${got.m.messages})`)
})

test('R1-5 issue 12: with no batch window, every write batch goes to every peer at once, as one message', () => {
  const { r, sent, at } = batching(0)
  r.publishEvents([event(1, 1)], new Set(['m']))
  at(5)
  r.publishEvents([event(2, 1), event(3, 1)], new Set(['m']))
  assert.deepEqual(sent, [{ seqs: [1], to: ['m', 'x', 'o'] }, { seqs: [2, 3], to: ['m', 'x', 'o'] }])
})

test('R1-3 issue 12: pullBehind pulls from each alive peer whose last heartbeat shows events we lack, and from no other', async () => {
  const pulled: string[] = []
  const none = async (): Promise<void> => {}
  const r = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => ({ a: 5 }), receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [] }, {
    publishRaw: none,
    request: async (peer: string) => { pulled.push(peer) },
    connectedPeers: () => ['p', 'q', 'gone'],
    dial: none,
    dialAddr: none
  })
  r.peerVector('p', { a: 6 })
  r.peerVector('q', { a: 5 })
  r.peerVector('gone', { a: 9 })
  r.pullBehind(new Set(['me', 'p', 'q']))
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(pulled, ['p'])
})

test('R1-3 issue 12: in a small cluster, a new peer\'s pull waits for the pull in flight, then goes only if the peer may have events we lack (its heartbeat shows them, or none came); a peer gone meanwhile is not pulled', async () => {
  const pulled: string[] = []
  const answers = new Map<string, () => void>()
  const none = async (): Promise<void> => {}
  let connected = ['p', 'q', 'r', 's', 'gone']
  const r = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => ({ a: 5 }), receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [] }, {
    publishRaw: none,
    request: async (peer: string) => { pulled.push(peer); await new Promise<void>(resolve => answers.set(peer, resolve)) },
    connectedPeers: () => connected,
    dial: none,
    dialAddr: none
  })
  const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
  r.pullNew('p')
  for (const peer of ['q', 'r', 's', 'gone']) r.pullNew(peer)
  await settle()
  assert.deepEqual(pulled, ['p'], 'one pull at a time after a burst of new connections')
  // Their heartbeats, sent as the connections opened: q has nothing we lack, r has; s said nothing yet.
  r.peerVector('q', { a: 5 })
  r.peerVector('r', { a: 7 })
  r.peerVector('gone', { a: 9 })
  connected = ['p', 'q', 'r', 's']
  answers.get('p')?.()
  await settle()
  assert.deepEqual(pulled.slice(1).sort(), ['r', 's'])
  // With no pull in flight, a new peer is pulled from at once.
  for (const peer of ['r', 's']) answers.get(peer)?.()
  await settle()
  r.pullNew('q')
  await settle()
  assert.deepEqual(pulled.at(-1), 'q')
})

test('R1-3 issue 12: in a large cluster, a new peer is pulled from at once, pulls in flight or not', async () => {
  const pulled: string[] = []
  const none = async (): Promise<void> => {}
  const r = new Replication({ self: 'me', log: pino({ level: 'silent' }), eventsTopic: EVENTS_TOPIC, bootstrap: [], vector: () => ({ a: 5 }), receive: () => {}, eventsAfter: async function * () {}, skip: () => {}, proof: () => {}, gapProof: async () => undefined, knownPeers: () => [], targetPeers: () => 8 }, {
    publishRaw: none,
    request: async (peer: string) => { pulled.push(peer); await new Promise<void>(() => {}) },
    connectedPeers: () => ['p', 'q'],
    dial: none,
    dialAddr: none
  })
  r.pullNew('p')
  r.pullNew('q')
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(pulled, ['p', 'q'])
})
