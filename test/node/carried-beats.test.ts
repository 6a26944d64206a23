// Heartbeats carried on event frames (issue 12): a busy node's peers get its beats inside the
// frames of events they read anyway; the timer's own beat goes only where none went lately.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CarriedBeats } from '../../src/cluster/carried-beats.js'
import { seededRandom } from '../../src/util/seeded-random.js'

/**
 * Ten seconds of one node's beats to two peers, R (reads carried beats) and O (an older
 * version): heartbeat ticks on the 200 ms grid, frames of events at random times (bursts and
 * pauses). Returns, per peer, the times a beat went and how it went.
 */
function simulate (seed: number): Record<'R' | 'O', Array<{ at: number, how: 'carried' | 'own' }>> {
  const I = 200
  const c = new CarriedBeats(I, 4 * I)
  c.heard('R', { carried: true })
  c.heard('O', {})
  const rnd = seededRandom(seed)
  const out: Record<'R' | 'O', Array<{ at: number, how: 'carried' | 'own' }>> = { R: [], O: [] }
  let nextFrame = 0
  for (let t = 0; t <= 10_000; t++) {
    if (t >= nextFrame) {
      for (const p of ['R', 'O'] as const) if (c.carryTo(p, t)) { c.sent(p, t); out[p].push({ at: t, how: 'carried' }) }
      // Busy spells (a frame every 1-20 ms) and quiet ones (up to 700 ms).
      nextFrame = t + (rnd() < 0.98 ? 1 + Math.floor(rnd() * 20) : Math.floor(rnd() * 700))
    }
    if (t % I === 0) for (const p of ['R', 'O'] as const) if (c.beatTo(p, t)) { c.sent(p, t); out[p].push({ at: t, how: 'own' }) }
  }
  return out
}

test('R1-1 issue 12: a peer that reads carried beats gets one at least every 1.5 heartbeat intervals, mostly carried while frames flow; a peer of an older version gets every tick\'s own beat and nothing carried', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const beats = simulate(seed)
    const r = beats.R
    for (let i = 1; i < r.length; i++) assert.ok(r[i].at - r[i - 1].at <= 300, `seed ${seed}: a gap of ${r[i].at - r[i - 1].at} ms to R at ${r[i].at}`)
    assert.ok(r[r.length - 1].at >= 9_700, `seed ${seed}: beats to R until the end`)
    const carried = r.filter(b => b.how === 'carried').length
    const own = r.filter(b => b.how === 'own').length
    assert.ok(carried > own, `seed ${seed}: mostly carried (${carried} carried, ${own} of its own)`)
    assert.ok(own < 51, `seed ${seed}: fewer own beats than ticks (${own} of 51)`)
    // Never two beats within half an interval (a carried beat and the tick's own on top of it).
    for (let i = 1; i < r.length; i++) assert.ok(r[i].at - r[i - 1].at >= 100, `seed ${seed}: two beats ${r[i].at - r[i - 1].at} ms apart`)
    assert.deepEqual(beats.O.map(b => b.how), Array(51).fill('own'), `seed ${seed}: O, every tick's beat, none carried`)
  }
})

test('R1-1 issue 12: a peer that stops reading carried beats (its heartbeat no longer says so), or went and came back, gets the timer\'s beats again', () => {
  const c = new CarriedBeats(200, 800)
  c.heard('P', { carried: true })
  assert.equal(c.carryTo('P', 0), true)
  c.sent('P', 0)
  assert.equal(c.beatTo('P', 50), false, 'a carried beat 50 ms ago: the tick skips P')
  c.heard('P', { carried: false })
  assert.equal(c.carryTo('P', 300), false)
  assert.equal(c.beatTo('P', 60), true, 'no longer a reader: every tick')
  c.heard('P', { carried: true })
  c.sent('P', 100)
  c.forget('P')
  assert.equal(c.beatTo('P', 120), true, 'forgotten on disconnect: every tick until it says it reads them again')
  assert.equal(c.carryTo('P', 400), false)
})

test('R1-1 issue 12: with a timeout under four heartbeat intervals nothing is carried and every tick beats (a skipped tick would leave too little of the timeout)', () => {
  const c = new CarriedBeats(200, 700)
  c.heard('P', { carried: true })
  assert.equal(c.on, false)
  assert.equal(c.carryTo('P', 0), false)
  c.sent('P', 0)
  assert.equal(c.beatTo('P', 10), true)
  assert.equal(new CarriedBeats(200, 800).on, true)
})
