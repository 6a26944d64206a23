// R1-5 / issue 12: the events of one gossip message go to the node as one batch (one apply,
// one store write, one reaction for the message, not one an event), with exactly the checks
// and the order the intake gives events one by one: per origin in seq order, duplicates and
// bad signatures dropped, events ahead of a gap held (and pulled for) until the gap fills.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CisEvent } from '../../src/events/types.js'
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
