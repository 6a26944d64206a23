// G-6: skips from peers (seqs a purge took out of their logs, src/state/cuts.ts) at the intake.
// A skip is taken only where the cuts applied here, or a signed purge event the peer sent as
// proof, cover every seq of it; a hostile or stale skip is refused and nothing moves; a skip
// ahead of what is applied waits for a pull; events buffered behind a skip follow it.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addCut } from '../../src/state/cuts.js'
import { recordingIntake as intake, signingOrigin as origin } from '../helpers/intake.js'

test('G-6: a skip is taken only where cuts cover it: the ones applied here, or a signed purge sent as proof', async () => {
  const a = await origin()
  const p = await origin()
  const x = intake()
  // No cut covers a's 1..3: refused.
  x.i.skip({ origin: a.id, from: 1, to: 3 }, 'peer')
  assert.deepEqual(x.skips, [])
  // A proof covering 1..2 only: still refused (3 is in no cut).
  x.i.proof(p.event(1, 'purge', { before: 1, ids: [], requests: [], cut: { [a.id]: [[1, 2]] } }), 'peer')
  x.i.skip({ origin: a.id, from: 1, to: 3 }, 'peer')
  assert.deepEqual(x.skips, [])
  // 1..2 is covered: taken.
  x.i.skip({ origin: a.id, from: 1, to: 2 }, 'peer')
  assert.deepEqual(x.skips, [[a.id, 2]])
  // A cut applied here (in the state) covers 3..5; an event buffered at 6 follows the skip.
  x.i.receive(a.event(6, 'master', { term: 1 }), 'peer')
  assert.equal(x.delivered.length, 0, 'seq 6 waits for 3..5')
  addCut(x.cuts, `${p.id}:2`, { [a.id]: [[3, 5]] })
  x.i.skip({ origin: a.id, from: 3, to: 5 }, 'peer')
  assert.deepEqual(x.skips, [[a.id, 2], [a.id, 5]])
  assert.deepEqual(x.delivered.map(e => e.seq), [6], 'the buffered event follows the skip')
})

test('G-6: a forged proof, a proof that is not a purge, a malformed or stale skip are refused; a skip ahead of what is applied waits for a pull', async () => {
  const a = await origin()
  const p = await origin()
  const x = intake()
  const forged = { ...p.event(1, 'purge', { before: 1, ids: [], requests: [], cut: { [a.id]: [[1, 9]] } }) }
  ;(forged.body as { cut: Record<string, Array<[number, number]>> }).cut = { [a.id]: [[1, 99]] }
  x.i.proof(forged, 'peer')
  x.i.skip({ origin: a.id, from: 1, to: 50 }, 'peer')
  assert.deepEqual(x.skips, [], 'a proof whose signature does not match proves nothing')
  x.i.proof(p.event(2, 'master', { term: 1 }), 'peer')
  x.i.proof(p.event(3, 'purge', { before: 1, ids: ['x-1'], requests: [] }), 'peer')
  x.i.skip({ origin: a.id, from: 1, to: 1 }, 'peer')
  assert.deepEqual(x.skips, [], 'neither a master event nor a purge without a cut proves anything')
  for (const bad of [null, 'x', { origin: a.id, from: 0, to: 1 }, { origin: a.id, from: 3, to: 2 }, { origin: 7, from: 1, to: 1 }, { origin: a.id, from: 1.5, to: 2 }]) x.i.skip(bad, 'peer')
  assert.deepEqual(x.skips, [])
  x.i.proof(p.event(4, 'purge', { before: 1, ids: [], requests: [], cut: { [a.id]: [[1, 9]] } }), 'peer')
  x.i.skip({ origin: a.id, from: 4, to: 9 }, 'peer')
  assert.deepEqual(x.skips, [], 'ahead of what is applied (0)')
  assert.deepEqual(x.pulls, ['peer'], 'so the peer is asked again')
  x.i.skip({ origin: a.id, from: 1, to: 9 }, 'peer')
  assert.deepEqual(x.skips, [[a.id, 9]])
  x.i.skip({ origin: a.id, from: 1, to: 9 }, 'peer')
  assert.deepEqual(x.skips, [[a.id, 9]], 'stale: already applied')
  x.i.skip({ origin: 'me', from: 1, to: 1 }, 'peer')
  assert.deepEqual(x.skips, [[a.id, 9]], 'never a skip of our own log')
})
