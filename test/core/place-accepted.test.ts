// R3-5 and the master's pass (src/node/master-role.ts): the joblists a pass accepts are placed
// in it, by a second placement once the accepts are applied; `mayPlaceAccepted` skips that
// placement when it cannot assign anything. Property: whenever it says so, placing again after
// the pass's decisions are applied assigns nothing; and it does say so on a saturated cluster.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mayPlaceAccepted, schedule, schedulePass } from '../../src/scheduler/schedule.js'
import type { ScheduleInput } from '../../src/scheduler/schedule.js'
import { decisionEvent } from '../../src/scheduler/decision-event.js'
import type { JobSpec } from '../../src/spec/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { seededRandom } from '../../src/util/seeded-random.js'

const input = (h: Harness, alive: string[]): ScheduleInput => ({
  state: h.state, now: h.now, self: h.master, selfCode: h.master.toLowerCase(), alive: new Set(alive),
  silent: new Map(), lostAfterMs: 0, policy: { onLost: 'retry', maxLost: 2 }, queue: h.queue
})

/** Record a pass's decisions as the master does: the accepts last. */
function record (h: Harness, decisions: ReturnType<typeof schedule>): void {
  for (const d of [...decisions.filter(d => d.type !== 'accept'), ...decisions.filter(d => d.type === 'accept')]) {
    const e = decisionEvent(d, 1)
    h.emit(h.master, e.type, e.body)
  }
}

test('R3-5: when the master skips placing what a pass accepted (mayPlaceAccepted false), placing again would have assigned nothing; it skips on a saturated cluster (property, 400 random clusters)', () => {
  let skipped = 0
  let placedAfter = 0
  let lost = 0
  for (let seed = 1; seed <= 400; seed++) {
    const rnd = seededRandom(seed)
    const h = new Harness()
    if (rnd() < 0.5) h.queue = { policy: 'priority', agingPerMinute: 1 }
    h.node('A', { slot: Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => `s${i}`), ...(rnd() < 0.5 ? { gpu: ['g0'] } : {}) })
    if (rnd() < 0.5) h.node('B', { slot: ['s0'] })
    const alive = Object.keys(h.state.nodes)
    const needs = (): JobSpec['needs'] => {
      const r = rnd()
      return r < 0.1 ? {} : r < 0.25 ? { gpu: 1 } : r < 0.35 ? { slot: 2 } : { slot: 1 }
    }
    const submit = (): void => {
      const jobs = Array.from({ length: 1 + Math.floor(rnd() * 2) }, (_, i) => job(`j${i}`, { needs: needs() }))
      h.submit(joblist(`l${h.now}`, [['s', jobs]], { priority: Math.floor(rnd() * 3) }), 'A')
    }
    // A cluster some way into its work: joblists accepted and placed, some started or ended.
    for (let i = 0, n = Math.floor(rnd() * 6); i < n; i++) submit()
    h.settle()
    for (const [id, as] of Object.entries(h.state.attempts)) {
      for (const a of Object.values(as)) {
        if (a.state !== 'assigned') continue
        const r = rnd()
        if (r < 0.3) h.start(id)
        else if (r < 0.5) { h.start(id); h.finish(id) }
      }
    }
    if (rnd() < 0.2) {
      const live = Object.values(h.state.joblists).filter(jl => jl.endedAt === undefined)
      if (live.length > 0) h.emit('A', 'stop', { joblistId: live[Math.floor(rnd() * live.length)].id })
    }
    // New requests arrive; the pass accepts them.
    for (let i = 0, n = 1 + Math.floor(rnd() * 3); i < n; i++) submit()
    // Now and then node B is gone: its attempts are declared lost (and their jobs pending again).
    const now = 'B' in h.state.nodes && rnd() < 0.3 ? { alive: ['A'], silent: new Map([['B', Infinity]]) } : { alive, silent: new Map<string, number>() }
    const pass = schedulePass({ ...input(h, now.alive), silent: now.silent })
    if (pass.decisions.some(d => d.type === 'lose')) lost++
    record(h, pass.decisions)
    const again = schedule({ ...input(h, now.alive), silent: now.silent }).filter(d => d.type === 'assign')
    if (!mayPlaceAccepted(h.state, pass)) {
      skipped++
      assert.deepEqual(again, [], `seed ${seed}: skipped, yet placing again assigns ${JSON.stringify(again)}`)
    } else if (again.length > 0) placedAfter++
  }
  // Both sides were seen: skips, and passes whose second placement does assign.
  assert.ok(skipped >= 40, `skipped only ${skipped} times`)
  assert.ok(placedAfter >= 40, `the second placement assigned in only ${placedAfter} passes`)
  assert.ok(lost >= 20, `attempts were declared lost in only ${lost} passes`)
  console.log(`# ${skipped} skipped, ${placedAfter} placed again, ${lost} with attempts lost`)
})

test('R3-5: a joblist accepted on a saturated cluster whose job needs nothing is still placed with its accept (mayPlaceAccepted true)', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  h.submit(joblist('busy', [['s', [job('x')]]]), 'A')
  record(h, schedulePass(input(h, ['A'])).decisions)
  h.submit(joblist('waits', [['s', [job('y')]]]), 'A')
  h.submit(joblist('free', [['s', [job('z', { needs: {} })]]]), 'A')
  const pass = schedulePass(input(h, ['A']))
  assert.equal(pass.allTaken, true)
  record(h, pass.decisions)
  assert.equal(mayPlaceAccepted(h.state, pass), true)
  const again = schedule(input(h, ['A'])).filter(d => d.type === 'assign')
  assert.equal(again.length, 1, 'the job that needs nothing runs now')
  // Without it, the same pass is skipped: the one that waits cannot start.
  const h2 = new Harness()
  h2.node('A', { slot: ['s0'] })
  h2.submit(joblist('busy', [['s', [job('x')]]]), 'A')
  record(h2, schedulePass(input(h2, ['A'])).decisions)
  h2.submit(joblist('waits', [['s', [job('y')]]]), 'A')
  const pass2 = schedulePass(input(h2, ['A']))
  record(h2, pass2.decisions)
  assert.equal(mayPlaceAccepted(h2.state, pass2), false)
  assert.deepEqual(schedule(input(h2, ['A'])).filter(d => d.type === 'assign'), [])
})

test('R3-5, D-3: a pass that declares an attempt lost places again (its job, pending again, may run on no instance); without the loss it would be skipped', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  h.node('B', { slot: ['s0'] })
  const x = h.submit(joblist('x', [['s', [job('x')]]]), 'A')
  h.settle(['A'])
  const n = h.submit(joblist('n', [['s', [job('n', { needs: {} })]]]), 'A')
  h.settle(['B'])
  assert.equal(h.attempt(`${h.joblistId(x)}.1`).node, 'A')
  assert.equal(h.attempt(`${h.joblistId(n)}.1`).node, 'B')
  h.submit(joblist('w', [['s', [job('w')]]]), 'A')
  // B is gone: its attempt is lost; A's only instance is held.
  const gone = { ...input(h, ['A']), silent: new Map([['B', Infinity]]) }
  const pass = schedulePass(gone)
  assert.ok(pass.decisions.some(d => d.type === 'lose'))
  assert.equal(pass.allTaken, true)
  record(h, pass.decisions)
  assert.equal(mayPlaceAccepted(h.state, pass), true, 'a loss may free work to place')
  const again = schedule({ ...gone, state: h.state }).filter(d => d.type === 'assign')
  assert.deepEqual(again.map(d => d.type === 'assign' ? [d.jobId, d.node] : []), [[`${h.joblistId(n)}.1`, 'A']], 'the lost job that needs nothing runs again on A at once')
  assert.equal(mayPlaceAccepted(h.state, { ...pass, decisions: pass.decisions.filter(d => d.type !== 'lose') }), false, 'the same pass without the loss is skipped')
})
