// The hybrid logical clock (src/events/hlc.ts): properties with fast-check.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { Hlc } from '../../src/events/hlc.js'
import { receive, tick } from '../../src/events/hlc.js'

/** (ts, lc) compared lexicographically. */
const cmp = (a: Hlc, b: Hlc): number => a.ts !== b.ts ? a.ts - b.ts : a.lc - b.lc
const show = (h: Hlc): string => `(${h.ts}, ${h.lc})`

// Milliseconds in a few narrow ranges, so that equal timestamps (the logical counter's case)
// come up often, and today's epoch values too.
const ms = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_005 }))
const hlc = fc.record({ ts: ms, lc: fc.integer({ min: 0, max: 1000 }) })
const RUNS = { seed: 2024, numRuns: 1000 }

test('hlc: tick gives the wall clock with counter 0 when it moved on, else the same ts with the counter + 1', () => {
  assert.deepEqual(tick({ ts: 100, lc: 5 }, 101), { ts: 101, lc: 0 })
  assert.deepEqual(tick({ ts: 100, lc: 5 }, 100), { ts: 100, lc: 6 })
  assert.deepEqual(tick({ ts: 100, lc: 5 }, 40), { ts: 100, lc: 6 }, 'the wall clock went back')
})

test('hlc: a local tick is strictly greater than the last clock (property)', () => {
  fc.assert(fc.property(hlc, ms, (last, now) => {
    const next = tick(last, now)
    assert.ok(cmp(next, last) > 0, `${show(next)} > ${show(last)}`)
    assert.ok(next.ts >= now, 'it is not behind the wall clock')
  }), RUNS)
})

test('hlc: receive is strictly greater than both the local and the remote clock (property)', () => {
  fc.assert(fc.property(hlc, hlc, ms, (local, remote, now) => {
    const next = receive(local, remote, now)
    assert.ok(cmp(next, local) > 0, `${show(next)} > local ${show(local)}`)
    assert.ok(cmp(next, remote) > 0, `${show(next)} > remote ${show(remote)}`)
    assert.equal(next.ts, Math.max(local.ts, remote.ts, now), 'ts is the latest physical time seen')
  }), RUNS)
})

test('hlc: ts never goes backwards, and every event is later than the one before, when the wall clock does go back (property)', () => {
  // A run of local ticks and receives, with a wall clock that jumps back and forth.
  const step = fc.oneof(
    fc.record({ now: ms }),
    fc.record({ now: ms, remote: hlc })
  )
  fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 50 }), steps => {
    let clock: Hlc = { ts: 0, lc: 0 }
    for (const s of steps) {
      const next = 'remote' in s ? receive(clock, s.remote, s.now) : tick(clock, s.now)
      assert.ok(next.ts >= clock.ts, `ts went back from ${clock.ts} to ${next.ts}`)
      assert.ok(cmp(next, clock) > 0, `${show(next)} after ${show(clock)}`)
      assert.ok(Number.isSafeInteger(next.ts) && Number.isSafeInteger(next.lc) && next.lc >= 0)
      clock = next
    }
  }), RUNS)
})

test('hlc: two nodes exchanging events: every received event happens before what follows it (property)', () => {
  // Causality: an event sent by A and received by B is smaller than B's next events.
  fc.assert(fc.property(fc.array(fc.record({ from: fc.boolean(), nowA: ms, nowB: ms }), { minLength: 1, maxLength: 40 }), steps => {
    let a: Hlc = { ts: 0, lc: 0 }
    let b: Hlc = { ts: 0, lc: 0 }
    for (const s of steps) {
      if (s.from) {
        const sent = a = tick(a, s.nowA)
        b = receive(b, sent, s.nowB)
        assert.ok(cmp(tick(b, s.nowB), sent) > 0)
      } else {
        const sent = b = tick(b, s.nowB)
        a = receive(a, sent, s.nowA)
        assert.ok(cmp(tick(a, s.nowA), sent) > 0)
      }
    }
  }), RUNS)
})
