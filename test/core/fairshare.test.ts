// Fair share (P-4, D-4): usage per owner from the events, and the fairshare queue policy.
// Pure: the harness steps the scheduler and the time is passed in.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Harness, job, joblist } from '../helpers/harness.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { decayedSeconds, fairShareUsage } from '../../src/scheduler/fairshare.js'
import type { OwnerUsage } from '../../src/scheduler/fairshare.js'
import { place } from '../../src/scheduler/placement.js'
import { orderQueue } from '../../src/scheduler/queue.js'
import type { QueueOptions } from '../../src/scheduler/queue.js'
import { activeJoblists } from '../../src/scheduler/schedule.js'
import type { JoblistSpec } from '../../src/spec/types.js'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'

const S = 1000
const MIN = 60 * S
const DAY = 24 * 60 * MIN

function submitAs (h: Harness, owner: string, spec: JoblistSpec): string {
  const e = h.emit(h.master, 'submit', { spec, owner })
  return `${e.origin}:${e.seq}`
}

const byOwner = (us: OwnerUsage[], owner: string): OwnerUsage => {
  const u = us.find(x => x.owner === owner)
  assert.ok(u !== undefined, `owner ${owner} is seen`)
  return u
}
const near = (a: number, b: number, eps = 1e-9): void => assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} ≈ ${b}`)

test('P-4: usage = instances x seconds x priority/100, decayed by the half-life; priority 0 is free; running attempts count up to now', () => {
  const h = new Harness()
  h.node('N', { slot: ['s0', 's1', 's2', 's3'] })
  const paid = submitAs(h, 'alice', joblist('paid', [['s', [job('two', { needs: { slot: 2 } })]]], { priority: 150 }))
  const free = submitAs(h, 'bob', joblist('free', [['s', [job('one')]]], { priority: 0 }))
  h.settle()
  const t0 = 10 * MIN
  h.now = t0 - 1
  h.start(`${h.joblistId(paid)}.1`)
  h.start(`${h.joblistId(free)}.1`)
  const start = h.now
  const H = DAY
  const o = { halfLifeMs: H, shares: {} }
  // Running: counts up to now.
  for (const secs of [5, 8]) {
    const us = fairShareUsage(h.state, start + secs * S, o)
    const began = h.state.attempts[`${h.joblistId(paid)}.1`][1].startedAt as number
    near(byOwner(us, 'alice').resourceSeconds, 2 * decayedSeconds(began, start + secs * S, start + secs * S, H))
    assert.ok(Math.abs(byOwner(us, 'alice').resourceSeconds - 2 * secs) < 1e-2)
    near(byOwner(us, 'alice').usage, 1.5 * byOwner(us, 'alice').resourceSeconds)
    assert.equal(byOwner(us, 'bob').usage, 0, 'priority 0 costs nothing')
    assert.ok(Math.abs(byOwner(us, 'bob').resourceSeconds - secs) < 1e-2)
  }
  // Finished after 10 s: stays 10 s of 2 instances, then halves every half-life.
  h.now = start + 10 * S - 1
  h.finish(`${h.joblistId(paid)}.1`)
  h.finish(`${h.joblistId(free)}.1`)
  const end = h.now
  const at = (t: number): OwnerUsage => byOwner(fairShareUsage(h.state, t, o), 'alice')
  assert.ok(Math.abs(at(end).usage - 1.5 * 2 * 10) < 1e-2)
  near(at(end + 60 * MIN).usage, at(end + 60 * MIN + 1).usage, 1e-6)
  near(at(end + H).usage, at(end).usage / 2)
  near(at(end + 3 * H).usage, at(end).usage / 8)
  // Shares: equal by default; weights from the config; the target is share x all work done.
  const eq = fairShareUsage(h.state, end, o)
  assert.deepEqual(eq.map(u => [u.owner, u.share]), [['alice', 0.5], ['bob', 0.5]])
  const total = eq.reduce((t, u) => t + u.resourceSeconds, 0)
  near(byOwner(eq, 'alice').target, total / 2)
  // alice: usage 30 over a target of 15: her priority counts nothing now. bob is free: factor 1.
  assert.equal(byOwner(eq, 'alice').factor, 0)
  assert.equal(byOwner(eq, 'bob').factor, 1)
  const weighted = fairShareUsage(h.state, end, { halfLifeMs: H, shares: { alice: 3 } })
  assert.equal(byOwner(weighted, 'alice').share, 0.75)
  assert.equal(byOwner(weighted, 'bob').share, 0.25)
  // factor = max(0, 1 - usage/target): alice (priority 150) is charged 30 for 20 of the 30
  // resource-seconds done; with 9 times bob's weight her target is 27: still over it.
  const big = fairShareUsage(h.state, end, { halfLifeMs: H, shares: { alice: 9 } })
  near(byOwner(big, 'alice').target, 0.9 * total)
  assert.equal(byOwner(big, 'alice').factor, 0)
})

test('P-4: an attempt that never started, and a state with no work, cost nothing; factors start at 1', () => {
  const h = new Harness()
  h.node('N', { slot: ['s0'] })
  submitAs(h, 'carol', joblist('c', [['s', [job('x')]]], { priority: 500 }))
  h.settle()
  const us = fairShareUsage(h.state, h.now + DAY, { halfLifeMs: DAY, shares: {} })
  assert.deepEqual(us.map(u => [u.owner, u.usage, u.share, u.factor]), [['carol', 0, 1, 1]])
})

// ---- the property: two owners, the same stream of equal jobs, one at a high priority ----

interface Run { firstA: number, firstB: number, fractionA: number, runsA: number, runsB: number }

/**
 * Owners `hi` (priority p) and `lo` (priority 0) each submit `slots` one-slot jobs every round
 * (a job runs one round, L): together twice what the cluster can do. Jobs start and end at
 * round boundaries. Returns the rounds at which each first finished work and hi's fraction
 * of the resource-seconds done in `rounds` rounds.
 */
function simulate (o: { slots: number, priority: number, halfLifeRounds: number, aging: number, rounds: number, loFirst: boolean[], policy?: QueueOptions['policy'] }): Run {
  const L = 10 * MIN
  const h = new Harness()
  h.queue = { policy: o.policy ?? 'fairshare', agingPerMinute: o.aging, fairShare: { halfLifeMs: o.halfLifeRounds * L, shares: {} } }
  h.node('N', { slot: Array.from({ length: o.slots }, (_, i) => `s${i}`) })
  const owner = new Map<string, string>()
  let firstA = -1
  let firstB = -1
  for (let r = 0; r <= o.rounds; r++) {
    h.now = Math.max(h.now, r * L)
    // Whatever runs ends now.
    for (const [jobId, byN] of Object.entries(h.state.attempts)) {
      for (const a of Object.values(byN)) {
        if (a.state !== 'running') continue
        h.emit(a.node, 'finished', { jobId, attempt: a.n, state: 'succeeded', exitCode: 0, signal: null })
        const who = owner.get(h.state.jobs[jobId].joblistId)
        if (who === 'hi' && firstA < 0) firstA = r
        if (who === 'lo' && firstB < 0) firstB = r
      }
    }
    if (r === o.rounds) break
    const order = o.loFirst[r % o.loFirst.length] ? ['lo', 'hi'] : ['hi', 'lo']
    const reqs: Array<[string, string]> = []
    for (let k = 0; k < o.slots; k++) {
      for (const who of order) reqs.push([submitAs(h, who, joblist(`${who}-${r}-${k}`, [['s', [job('j')]]], { priority: who === 'hi' ? o.priority : 0 })), who])
    }
    h.settle()
    for (const [req, who] of reqs) owner.set(h.joblistId(req), who)
    for (const [jobId, byN] of Object.entries(h.state.attempts)) {
      for (const a of Object.values(byN)) if (a.state === 'assigned') h.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
    }
  }
  let runsA = 0
  let runsB = 0
  for (const [jobId, byN] of Object.entries(h.state.attempts)) {
    for (const a of Object.values(byN)) {
      if (a.state !== 'succeeded') continue
      if (owner.get(h.state.jobs[jobId].joblistId) === 'hi') runsA++
      else runsB++
    }
  }
  return { firstA, firstB, fractionA: runsA / (runsA + runsB), runsA, runsB }
}

const figures: string[] = []

test('P-4 (property): a high-priority owner gets its first work done sooner, and over a long run no more than its share (≤ 1/2 + 0.05)', () => {
  let worst = 0
  let n = 0
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 3 }), fc.integer({ min: 100, max: 1000 }), fc.integer({ min: 2, max: 200 }), fc.constantFrom(0, 0.5, 1),
    fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }),
    (slots, priority, halfLifeRounds, aging, loFirst) => {
      const r = simulate({ slots, priority, halfLifeRounds, aging, rounds: 60, loFirst })
      n++
      worst = Math.max(worst, r.fractionA)
      assert.ok(r.firstA >= 0 && r.firstA < r.firstB, `hi finished first work in round ${r.firstA}, lo in ${r.firstB}`)
      // hi's share is 1/2 (two owners, equal weights); priority >= 100 charges at least a
      // resource-second per resource-second, so hi stays within its share.
      assert.ok(r.fractionA <= 0.5 + 0.05, `hi got ${r.fractionA} of the work (${r.runsA} vs ${r.runsB} runs; ${slots} slots, priority ${priority}, half-life ${halfLifeRounds} rounds, aging ${aging})`)
      assert.equal(r.runsA + r.runsB, 60 * slots, 'the cluster is never idle')
    }), { seed: 11, numRuns: 25 })
  figures.push(`fairshare, ${n} runs of 60 rounds: hi's largest fraction of the resource-seconds ${worst.toFixed(3)}`)
})

test('P-4/D-4: the same stream under the priority policy gives the high-priority owner nearly everything (the control)', t => {
  const fair = simulate({ slots: 2, priority: 200, halfLifeRounds: 20, aging: 0, rounds: 60, loFirst: [true] })
  const prio = simulate({ slots: 2, priority: 200, halfLifeRounds: 20, aging: 0, rounds: 60, loFirst: [true], policy: 'priority' })
  const fifo = simulate({ slots: 2, priority: 200, halfLifeRounds: 20, aging: 0, rounds: 60, loFirst: [true], policy: 'fifo' })
  assert.ok(prio.fractionA >= 0.95, 'priority: lo hardly ever runs')
  assert.ok(fair.fractionA <= 0.55)
  assert.ok(fair.firstA < fair.firstB && fifo.firstB === fifo.firstA, `fairshare: hi's first work ends before lo's (round ${fair.firstA} vs ${fair.firstB}); in fifo together (${fifo.firstA}, ${fifo.firstB})`)
  figures.push(`2 slots, priority 200 vs 0, half-life 20 rounds, 60 rounds: hi's fraction fairshare ${fair.fractionA.toFixed(3)} (first done round ${fair.firstA}, lo's ${fair.firstB}), priority ${prio.fractionA.toFixed(3)}, fifo ${fifo.fractionA.toFixed(3)} (first done: both round ${fifo.firstA})`)
  for (const f of figures) t.diagnostic(f)
})

// ---- order independence ----

/** The events of a small run with two owners, some work done and some running. */
function history (): { events: UnsignedEvent[], now: number } {
  const h = new Harness()
  h.queue = { policy: 'fairshare', agingPerMinute: 1, fairShare: { halfLifeMs: DAY, shares: {} } }
  h.node('N1', { slot: ['s0', 's1'] })
  h.node('N2', { slot: ['s0'], gpu: ['g0'] })
  for (let r = 0; r < 6; r++) {
    submitAs(h, 'alice', joblist(`a${r}`, [['s', [job('x', { needs: { slot: 1, gpu: r % 2 } })]]], { priority: 100 * r }))
    submitAs(h, 'bob', joblist(`b${r}`, [['s', [job('y'), job('z')]]], { priority: r % 3 === 0 ? 0 : 300 }))
    h.settle()
    h.now += 37 * S
    for (const [jobId, byN] of Object.entries(h.state.attempts)) {
      for (const a of Object.values(byN)) {
        if (a.state === 'assigned') h.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
        else if (a.state === 'running' && (r + jobId.length) % 2 === 0) h.emit(a.node, 'finished', { jobId, attempt: a.n, state: 'succeeded', exitCode: 0, signal: null })
      }
    }
    h.now += 23 * S
  }
  return { events: h.events, now: h.now + 5 * MIN }
}

test('P-4 (property): usage from the same events in any order (each origin in its own order) is the same', () => {
  const { events, now } = history()
  const o = { halfLifeMs: DAY, shares: {} }
  const want = fairShareUsage(reduce(events), now, o)
  assert.ok(want.length === 2 && want.every(u => u.resourceSeconds > 0))
  const origins = [...new Set(events.map(e => e.origin))]
  fc.assert(fc.property(fc.array(fc.nat(), { minLength: events.length, maxLength: events.length }), picks => {
    const queues = origins.map(o => events.filter(e => e.origin === o))
    const order: UnsignedEvent[] = []
    for (const p of picks) {
      const open = queues.filter(q => q.length > 0)
      order.push(open[p % open.length].shift() as UnsignedEvent)
    }
    const state = reduce(order)
    assert.equal(stateHash(state), stateHash(reduce(events)))
    assert.deepEqual(fairShareUsage(state, now, o), want)
  }), { seed: 5, numRuns: 60 })
})

// ---- R3-5 and P-3 under fairshare ----

test('R3-5 (property): under fairshare, a later joblist (in the policy order) never changes what an earlier one gets', () => {
  const listArb = fc.record({ owner: fc.constantFrom('a', 'b', 'c'), priority: fc.constantFrom(0, 50, 100, 400), slot: fc.integer({ min: 1, max: 2 }), gpu: fc.integer({ min: 0, max: 1 }), jobs: fc.integer({ min: 1, max: 3 }) })
  fc.assert(fc.property(fc.array(fc.record({ slots: fc.integer({ min: 1, max: 3 }), gpus: fc.integer({ min: 0, max: 1 }) }), { minLength: 1, maxLength: 3 }),
    fc.array(listArb, { minLength: 2, maxLength: 10 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 8, maxLength: 8 }), (nodes, lists, outcomes) => {
      const h = new Harness()
      h.queue = { policy: 'fairshare', agingPerMinute: 0.5, fairShare: { halfLifeMs: 30 * MIN, shares: { a: 2 } } }
      nodes.forEach((n, i) => h.node(`N${i}`, { slot: Array.from({ length: n.slots }, (_, k) => `s${k}`), gpu: Array.from({ length: n.gpus }, (_, k) => `g${k}`) }))
      lists.forEach((l, i) => submitAs(h, l.owner, joblist(`jl${i}`, [['s', Array.from({ length: l.jobs }, (_, k) => job(`j${k}`, { needs: { slot: l.slot, gpu: l.gpu } }))]], { priority: l.priority })))
      for (const o of outcomes) {
        h.settle()
        const input = { state: h.state, now: h.now, alive: new Set(Object.keys(h.state.nodes)), queue: h.queue }
        const queue = orderQueue(activeJoblists(h.state), h.now, h.queue, h.state)
        const full = place(input, queue)
        for (let k = 0; k < queue.length; k++) {
          // Drop the later joblists that wait (queued). Later ones already running keep what
          // they hold (they started while ahead: the order moves as usage and aging change).
          const prefix = new Set(queue.slice(0, k + 1).map(j => j.id))
          const alone = place(input, queue.filter(j => prefix.has(j.id) || j.state !== 'queued')).assigns
          const mine = (as: typeof alone): typeof alone => as.filter(a => prefix.has(h.state.jobs[a.jobId].joblistId))
          assert.deepEqual(mine(full.assigns), mine(alone), `joblists up to ${queue[k].id} get the same with or without the later waiting ones`)
        }
        h.now += (o + 1) * MIN
        for (const [jobId, byN] of Object.entries(h.state.attempts)) {
          for (const a of Object.values(byN)) {
            if (a.state === 'assigned') h.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
            else if (a.state === 'running' && (o + jobId.length) % 2 === 0) h.emit(a.node, 'finished', { jobId, attempt: a.n, state: 'succeeded', exitCode: 0, signal: null })
          }
        }
      }
    }), { seed: 9, numRuns: 80 })
})

test('D-4/P-3: under fairshare, an owner over its share is served like free work, and aging still lets old work overtake', () => {
  const h = new Harness()
  h.queue = { policy: 'fairshare', agingPerMinute: 1, fairShare: { halfLifeMs: DAY, shares: {} } }
  h.node('A', { slot: ['s0'] })
  // alice uses the slot for 10 minutes at priority 100: her usage is all the work done.
  const first = submitAs(h, 'alice', joblist('first', [['s', [job('r')]]], { priority: 100 }))
  h.settle()
  h.start(`${h.joblistId(first)}.1`)
  h.now += 10 * MIN
  const free = submitAs(h, 'bob', joblist('free', [['s', [job('f')]]], { priority: 0 }))
  h.settle()
  h.now += 2 * MIN
  const paid = submitAs(h, 'alice', joblist('paid', [['s', [job('p')]]], { priority: 500 }))
  h.settle()
  assert.equal(byOwner(fairShareUsage(h.state, h.now, h.queue.fairShare), 'alice').factor, 0)
  h.finish(`${h.joblistId(first)}.1`)
  let next = h.assigns(h.settle())
  assert.equal(h.state.jobs[next[0].jobId].joblistId, h.joblistId(free), "alice's 500 counts nothing over her share: bob's older free work goes first")
  // The same under the priority policy: 500 wins.
  const p = new Harness()
  p.queue = { policy: 'priority', agingPerMinute: 1 }
  p.node('A', { slot: ['s0'] })
  const f2 = submitAs(p, 'alice', joblist('first', [['s', [job('r')]]], { priority: 100 }))
  p.settle(); p.start(`${p.joblistId(f2)}.1`); p.now += 10 * MIN
  submitAs(p, 'bob', joblist('free', [['s', [job('f')]]], { priority: 0 }))
  p.settle(); p.now += 2 * MIN
  const paid2 = submitAs(p, 'alice', joblist('paid', [['s', [job('p')]]], { priority: 500 }))
  p.settle(); p.finish(`${p.joblistId(f2)}.1`)
  next = p.assigns(p.settle())
  assert.equal(p.state.jobs[next[0].jobId].joblistId, p.joblistId(paid2))
  // Aging: with no usage, bob at priority 0 waiting 20 minutes overtakes carol's fresh priority 10.
  const a = new Harness()
  a.queue = { policy: 'fairshare', agingPerMinute: 1, fairShare: { halfLifeMs: DAY, shares: {} } }
  a.node('A', { slot: ['s0'] })
  const hold = submitAs(a, 'dave', joblist('hold', [['s', [job('h')]]], { priority: 0 }))
  a.settle(); a.start(`${a.joblistId(hold)}.1`)
  const old = submitAs(a, 'bob', joblist('old', [['s', [job('o')]]], { priority: 0 }))
  a.settle(); a.now += 20 * MIN
  submitAs(a, 'carol', joblist('fresh', [['s', [job('c')]]], { priority: 10 }))
  a.settle(); a.finish(`${a.joblistId(hold)}.1`)
  next = a.assigns(a.settle())
  assert.equal(a.state.jobs[next[0].jobId].joblistId, a.joblistId(old), 'aged free work overtakes')
  assert.ok(h.joblistId(paid) !== undefined)
})
