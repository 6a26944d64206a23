// R1-5 / issue 12: the events of one gossip message go to the node as one batch (one apply,
// one store write, one reaction for the message, not one an event), with exactly the checks
// and the order the intake gives events one by one: per origin in seq order, duplicates and
// bad signatures dropped, events ahead of a gap held (and pulled for) until the gap fills.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CisEvent } from '../../src/events/types.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CHAIN_START, signBatch, signatureChecks } from '../../src/identity/keys.js'
import { recordingIntake as intake, signingOrigin } from '../helpers/intake.js'

async function origin (): Promise<{ id: string, event: (seq: number) => CisEvent }> {
  const o = await signingOrigin()
  return { id: o.id, event: seq => o.event(seq, 'master', { term: seq }) }
}

const keys = (es: CisEvent[]): string[] => es.map(e => `${e.origin.slice(-4)}:${e.seq}`)

test('R1-5 issue 12: a message\'s events are delivered as one batch, per origin in seq order, with duplicates and forgeries dropped', async () => {
  const a = await origin()
  const b = await origin()
  const x = intake()
  const forged = { ...b.event(3), body: { term: 99 } }
  // a: 1, 2, 3 (3 before 2 in the message), b: 1, 2, a duplicate of b:1, a forged b:3, then b:4 (held: b:3 missing).
  x.i.receiveMany([a.event(1), a.event(3), b.event(1), a.event(2), b.event(2), b.event(1), forged, b.event(4)], 'peer')
  assert.equal(x.batches.length, 1, 'one delivery for the message')
  assert.deepEqual(keys(x.batches[0]), keys([a.event(1), b.event(1), a.event(2), a.event(3), b.event(2)]))
  assert.deepEqual(x.pulls, ['peer', 'peer'], 'a:3 and b:4 came ahead of a gap: a pull each')
  // The next message fills b's gap: b:3 and the held b:4 go together.
  x.i.receiveMany([b.event(3)], 'peer')
  assert.deepEqual(x.batches.map(keys), [keys([a.event(1), b.event(1), a.event(2), a.event(3), b.event(2)]), keys([b.event(3), b.event(4)])])
  // A message of nothing new delivers nothing.
  x.i.receiveMany([a.event(2), b.event(4)], 'peer')
  assert.equal(x.batches.length, 2)
})

test('R1-5 issue 12: taken as one message or one by one, the intake delivers the same events in the same order', async () => {
  const os = [await origin(), await origin(), await origin()]
  // A shuffled stream with repeats (seeded): as one message each 7 events, and one by one.
  let seed = 7
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
  const stream: CisEvent[] = []
  for (let k = 0; k < 300; k++) { const o = os[Math.floor(rnd() * 3)]; stream.push(o.event(1 + Math.floor(rnd() * 40))) }
  const whole = intake()
  for (let k = 0; k < stream.length; k += 7) whole.i.receiveMany(stream.slice(k, k + 7), 'peer')
  const single = intake()
  for (const e of stream) single.i.receive(e, 'peer')
  assert.ok(single.batches.flat().length > 20, 'the stream delivers something')
  assert.deepEqual(keys(whole.batches.flat()), keys(single.batches.flat()))
})

test('R1-4 issue 12: a message of several chained write batches of one origin costs one Ed25519 check, and a forged one among them is still dropped', async () => {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  let link = CHAIN_START
  const batches = [2, 1, 3, 2].map((n, k) => {
    const from = [1, 3, 4, 7][k]
    const b = Array.from({ length: n }, (_, i) => ({ origin: id, seq: from + i, ts: 1000 + from + i, lc: 0, type: 'master', body: { term: from + i }, sig: '' }) as CisEvent)
    link = signBatch(key as never, b, link) as Buffer
    return b
  })
  const x = intake()
  const before = signatureChecks()
  x.i.receiveMany(JSON.parse(JSON.stringify(batches.flat())) as unknown[], 'peer')
  assert.equal(signatureChecks() - before, 1, 'one check for four batches')
  assert.deepEqual(x.delivered.map(e => e.seq), [1, 2, 3, 4, 5, 6, 7, 8])
  // The same shape again, with the body of an event of an older batch changed on the way: it and what follows it are held back.
  let link2 = CHAIN_START
  const again = [2, 2].map((n, k) => {
    const b = Array.from({ length: n }, (_, i) => ({ origin: id, seq: 9 + 2 * k + i, ts: 2000 + k + i, lc: 0, type: 'master', body: { term: 9 + 2 * k + i }, sig: '' }) as CisEvent)
    link2 = signBatch(key as never, b, link2) as Buffer
    return b
  })
  const sent = JSON.parse(JSON.stringify(again.flat())) as CisEvent[]
  sent[1] = { ...sent[1], body: { term: 1000 } }
  x.i.receiveMany(sent, 'peer')
  assert.deepEqual(x.delivered.map(e => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'seq 10 forged: dropped; 11 and 12 wait behind the gap')
  assert.deepEqual(x.pulls, ['peer', 'peer'], 'and the gap is pulled for (a pull for each event ahead of it)')
})

test('R1-4 issue 12: the agent\'s intake takes the messages of one turn together: chained batches of an origin sent as several messages cost one Ed25519 check; a lone event or a flush takes what waits first, in order', async () => {
  const { setImmediate: turn } = await import('node:timers/promises')
  // An origin of chained write batches (a fresh key each: nothing of it verified before).
  const chain = async (): Promise<(n: number) => CisEvent[]> => {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key as never).toString()
    let link = CHAIN_START
    let seq = 0
    return n => {
      const b = Array.from({ length: n }, () => { seq++; return { origin: id, seq, ts: 1000 + seq, lc: 0, type: 'master', body: { term: seq }, sig: '' } as CisEvent })
      link = signBatch(key as never, b, link) as Buffer
      return JSON.parse(JSON.stringify(b)) as CisEvent[]
    }
  }
  const seqs = (es: CisEvent[]): number[] => es.map(e => e.seq)
  // One message a turn (the intake as the simulator has it): a check each.
  let batch = await chain()
  const apart = intake()
  let before = signatureChecks()
  for (const m of [batch(2), batch(1), batch(3), batch(2)]) apart.i.receiveMany(m, 'peer')
  assert.equal(signatureChecks() - before, 4, 'without coalesce: one check a message')
  // The agent's: the four messages of one turn, delivered at its end, one check for all.
  batch = await chain()
  const x = intake({ coalesce: true })
  before = signatureChecks()
  for (const m of [batch(2), batch(1), batch(3), batch(2)]) x.i.receiveMany(m, 'peer')
  assert.equal(x.delivered.length, 0, 'nothing taken before the turn ends')
  await turn()
  assert.equal(signatureChecks() - before, 1, 'one check for the four messages')
  assert.deepEqual(x.batches.map(seqs), [[1, 2, 3, 4, 5, 6, 7, 8]], 'one delivery, in seq order')
  // A forged event in a message of the turn: dropped, and what follows it waits behind the gap.
  const more = [batch(2), batch(2)]
  more[0][1] = { ...more[0][1], body: { term: 1000 } }
  x.i.receiveMany(more[0], 'peer')
  x.i.receiveMany(more[1], 'peer')
  await turn()
  assert.deepEqual(seqs(x.delivered), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'seq 10 forged: dropped; 11 and 12 wait')
  assert.deepEqual(x.pulls, ['peer', 'peer'])
  // A lone event (a sync pull's) after a message waiting in the turn: the message is taken first.
  batch = await chain()
  const y = intake({ coalesce: true })
  const first = batch(2)
  const lone = batch(1)
  y.i.receiveMany(first, 'peer')
  y.i.receive(lone[0], 'peer')
  assert.deepEqual(seqs(y.delivered), [1, 2, 3], 'in order, at once, no gap pulled')
  assert.deepEqual(y.pulls, [])
  // drain() (the node's flush) takes what waits now, and the turn's end finds nothing left.
  y.i.receiveMany(batch(2), 'peer')
  y.i.drain()
  assert.deepEqual(seqs(y.delivered), [1, 2, 3, 4, 5])
  await turn()
  assert.deepEqual(seqs(y.delivered), [1, 2, 3, 4, 5], 'nothing twice')
})
