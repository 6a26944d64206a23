// When this node applied its recent events (GET /v1/state?event=ORIGIN:SEQ): a ring of the last
// `capacity` events (src/node/recent-applied.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RecentApplied } from '../../src/node/recent-applied.js'

test('R1-5: the time each of the last events was applied is found by origin and seq; older ones, and slots never written, are not', () => {
  const r = new RecentApplied(100)
  assert.equal(r.at('', 0), undefined, 'an empty slot matches nothing')
  // 250 events from three origins, each applied at its own time.
  const origins = ['A', 'B', 'C']
  for (let i = 0; i < 250; i++) r.add(origins[i % 3], Math.floor(i / 3) + 1, 1_000 + i)
  for (let i = 0; i < 250; i++) {
    const got = r.at(origins[i % 3], Math.floor(i / 3) + 1)
    if (i >= 150) assert.equal(got, 1_000 + i, `event ${i} is among the last 100`)
    else assert.equal(got, undefined, `event ${i} is older than the last 100`)
  }
  assert.equal(r.at('A', 999), undefined)
  assert.equal(r.at('D', 60), undefined)
  assert.equal(r.at('', 0), undefined)
})
