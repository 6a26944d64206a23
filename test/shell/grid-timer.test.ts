import { test, mock } from 'node:test'
import assert from 'node:assert/strict'
import { everyOnGrid, gridTimerLateness } from '../../src/util/grid-timer.js'
import { phaseOf } from '../../src/cluster/mesh-core.js'

// The node's periodic timers (heartbeats, anti-entropy, archive checks) run on the wall clock's
// grid, so one wake-up serves all of them and the peers' beats (issue 12: idle CPU).

/** Advance the mocked clock a millisecond at a time (a timer set in a callback sees the time it ran at, as on a real clock). */
function advance (ms: number): void { for (let i = 0; i < ms; i++) mock.timers.tick(1) }

test('R1-1 issue 12: a grid timer fires at the multiples of its period on the clock, whenever it was started, until stopped', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_234 })
  try {
    const at: number[] = []
    const t = everyOnGrid(200, () => at.push(Date.now()))
    advance(165)
    assert.deepEqual(at, [], 'not before the first grid point (1,400)')
    advance(1)
    assert.deepEqual(at, [1_400])
    advance(600)
    assert.deepEqual(at, [1_400, 1_600, 1_800, 2_000])
    t.stop()
    advance(1_000)
    assert.deepEqual(at, [1_400, 1_600, 1_800, 2_000], 'nothing after stop')
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: timers whose periods divide each other fire at the same instants (one wake-up), whatever order and time they were started in', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 7_777 })
  try {
    const beats: number[] = []
    const syncs: number[] = []
    const s = everyOnGrid(2_000, () => syncs.push(Date.now()))
    advance(333)
    const b = everyOnGrid(200, () => beats.push(Date.now()))
    advance(10_000)
    s.stop(); b.stop()
    assert.deepEqual(syncs, [8_000, 10_000, 12_000, 14_000, 16_000, 18_000])
    assert.ok(syncs.every(x => x === 8_000 || beats.includes(x)), 'every sync after the beats began fell on a beat')
    assert.ok(beats.every(x => x % 200 === 0) && beats.length === 50, `beats on the grid: ${beats.length}`)
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a grid timer with a phase fires at the multiples of its period plus the phase; a node\'s phases of two periods, one dividing the other, fall together (phaseOf)', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_234 })
  try {
    const at: number[] = []
    const t = everyOnGrid(200, () => at.push(Date.now()), Date.now, 37)
    advance(600)
    t.stop()
    assert.deepEqual(at, [1_237, 1_437, 1_637])
  } finally { mock.timers.reset() }
  const ids = Array.from({ length: 50 }, (_, i) => `12D3KooWnode${i}`)
  const beats = ids.map(id => phaseOf(id, 200))
  for (const [k, id] of ids.entries()) {
    assert.ok(beats[k] >= 0 && beats[k] < 200 && Number.isInteger(beats[k]))
    assert.equal(phaseOf(id, 200), beats[k], 'the same at every call')
    assert.equal(phaseOf(id, 2_000) % 200, beats[k], 'the sync round falls on a heartbeat round')
  }
  assert.ok(new Set(beats).size > 30, `spread over the interval: ${new Set(beats).size} phases of 50 nodes`)
})

test('R1-1 issue 12: a timer that runs before its grid point by the wall clock (stepped back after it was set) does not fire twice for that point', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000 })
  try {
    const at: number[] = []
    let behind = 0
    const wall = (): number => Date.now() - behind
    const t = everyOnGrid(100, () => {
      at.push(wall())
      if (at.length === 2) behind = 3 // (the clock steps back 3 ms: the next run sees itself 3 ms early)
    }, wall)
    advance(1_000)
    t.stop()
    // Each grid point once: 1,100 and 1,200 by the old clock, then 1,297 (the run set for 1,300 by the old clock), 1,400, …
    const points = at.map(x => Math.ceil(x / 100) * 100)
    assert.deepEqual(points, [...new Set(points)], `each grid point once: ${at.join(', ')}`)
    assert.equal(at.length, 9, `runs: ${at.join(', ')}`)
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a wall clock stepped back by much more than a period does not stop the timer: it fires on the new clock\'s grid', () => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 10_000 })
  try {
    const at: number[] = []
    let behind = 0
    const wall = (): number => Date.now() - behind
    const t = everyOnGrid(200, () => {
      at.push(wall())
      if (at.length === 2) behind = 5_000 // (an NTP step of 5 s back)
    }, wall)
    advance(1_000)
    t.stop()
    // 10,200 and 10,400 by the old clock; then on the new grid, every 200 ms, from the point the stepped run came at.
    assert.deepEqual(at.slice(0, 2), [10_200, 10_400])
    assert.ok(at.length >= 5, `it kept firing: ${at.join(', ')}`)
    for (let i = 3; i < at.length; i++) assert.equal(at[i] - at[i - 1], 200, `every period after the step: ${at.join(', ')}`)
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a period longer than setTimeout\'s limit (about 24.8 days) waits it out in parts instead of firing at once', () => {
  const day = 24 * 3600_000
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 })
  try {
    const at: number[] = []
    const t = everyOnGrid(30 * day, () => at.push(Date.now()))
    mock.timers.tick(10)
    assert.deepEqual(at, [], 'not at once')
    mock.timers.tick(25 * day)
    assert.deepEqual(at, [], 'not when the first part of the wait ends')
    mock.timers.tick(5 * day - 20)
    assert.deepEqual(at, [], 'not before 30 days')
    mock.timers.tick(20)
    assert.equal(at.length, 1, 'once, at 30 days')
    t.stop()
  } finally { mock.timers.reset() }
})

test('R1-1 issue 12: a grid timer refuses a period that is not a positive number of milliseconds', () => {
  for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => everyOnGrid(bad, () => {}), /period above 0/)
})

/** Keep the event loop busy for `ms` (a stall). */
function stall (ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) { /* busy */ }
}

test('P-5 issue 12: a grid timer on the wall clock records how late it ran (the event loop\'s delay, read by the metrics) without a timer of its own', async () => {
  const late = gridTimerLateness()
  late.reset()
  let fired = 0
  const t = everyOnGrid(10, () => { fired++ })
  try {
    // Its first grid point is at most 10 ms away; the loop is busy for 150: it runs at least 140 ms late.
    stall(150)
    await waitUntil(() => fired >= 2)
  } finally { t.stop() }
  assert.ok(late.count >= 2, `${late.count} samples`)
  assert.ok(late.max >= 140e6, `the stall shows: at most ${late.max / 1e6} ms late`)
  assert.ok(late.min >= 1, 'a timer on time counts as 1 ns')
  // A timer on another clock (a test's, a simulation's) records nothing.
  late.reset()
  let other = 0
  const fake = everyOnGrid(10, () => { other++ }, () => Date.now() - 5)
  try { await waitUntil(() => other >= 2) } finally { fake.stop() }
  assert.equal(late.count, 0)
})

async function waitUntil (ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.ok(ok(), 'the timer fired')
}
