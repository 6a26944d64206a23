// P-4 (issue 12): the master's index of fair-share usage (src/scheduler/usage-index.ts), kept
// as events change the joblists, answers what fairShareUsage computes from every joblist in
// memory (up to the rounding of sums made in another order), through submits, placements,
// starts and ends, stops, losses, priority changes, purges, the archive's moves out of memory
// (their usage going to the past) and back, time going by (half-lives, the 40 half-lives after
// which an ended joblist counts nothing); and a pass under fairshare with the index orders the
// queue as one without it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { addPastUsage, fairShareUsage, joblistUsage } from '../../src/scheduler/fairshare.js'
import type { FairShareOptions, PastUsage } from '../../src/scheduler/fairshare.js'
import { UsageIndex, settledAt, usageDifferences } from '../../src/scheduler/usage-index.js'
import { orderQueue } from '../../src/scheduler/queue.js'
import { activeJoblists } from '../../src/scheduler/schedule.js'
import { purgeCandidates } from '../../src/state/purge.js'
import { extract, restore } from '../../src/state/archive.js'
import type { Bundle } from '../../src/state/archive.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { seededRandom } from '../../src/util/seeded-random.js'

const H = 3_600_000

for (const seed of [1, 3, 4, 5, 6, 7, 8, 9]) {
  test(`P-4 (issue 12, property): the index of fair-share usage kept as events apply answers as a walk of every joblist, at every step (seed ${seed})`, () => {
    const rnd = seededRandom(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
    const h = new Harness()
    h.queue = { policy: 'fairshare', agingPerMinute: 0 }
    const index = new UsageIndex()
    h.applied = ids => index.update(h.state, ids)
    h.node('A', { slot: ['s0', 's1', 's2'] })
    h.node('B', { slot: ['s0'], gpu: ['g0'] })
    const past: Record<string, PastUsage> = {}
    const o = (): FairShareOptions => ({ halfLifeMs: H, shares: { ann: 2, bob: 1 }, past: { ...past } })
    const archived = new Map<string, Bundle>()
    const did = { settled: 0, live: 0, stop: 0, purge: 0, archive: 0, back: 0, update: 0, forgotten: 0, ownersGone: 0 }
    let lastOwners = 0
    for (let step = 0; step < 150; step++) {
      const r = rnd()
      if (r < 0.25) {
        const jobs = Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => job(`j${i}`, { needs: rnd() < 0.2 ? { gpu: 1 } : { slot: 1 } }))
        h.emit(pick(['A', 'B']), 'submit', { spec: joblist(`s${step}`, [['s', jobs]], { priority: Math.floor(rnd() * 100) }), owner: pick(['ann', 'bob', 'cy']) })
      } else if (r < 0.4) {
        h.settle()
      } else if (r < 0.6) {
        const open = Object.entries(h.state.attempts).flatMap(([jobId, as]) => Object.values(as).filter(a => a.state === 'assigned' || a.state === 'running').map(() => jobId))
        if (open.length > 0) {
          const id = pick(open)
          if (Object.values(h.state.attempts[id]).some(a => a.state === 'assigned')) h.start(id)
          h.now += Math.floor(rnd() * 600_000)
          if (rnd() < 0.8) h.finish(id, pick(['succeeded', 'failed', 'succeeded', 'lost'] as const))
        }
      } else if (r < 0.66) {
        const live = Object.values(h.state.joblists).filter(jl => jl.endedAt === undefined)
        if (live.length > 0) { h.emit('A', 'stop', { joblistId: pick(live).id }); h.settle(); did.stop++ }
      } else if (r < 0.7) {
        // (Mostly one that ended: its part of its owner's sum changes.)
        const settled = Object.values(h.state.joblists).filter(jl => settledAt(h.state, jl) !== undefined)
        const any = rnd() < 0.7 && settled.length > 0 ? settled : Object.values(h.state.joblists)
        if (any.length > 0) { h.emit('A', 'update', { joblistId: pick(any).id, priority: Math.floor(rnd() * 100) }); did.update++ }
      } else if (r < 0.76) {
        const c = purgeCandidates(h.state, h.now)
        if (c.ids.length > 0) { h.emit('P', 'purge', { before: h.now, ...c }); did.purge++ }
      } else if (r < 0.81) {
        // Ended joblists leave memory for the archive (what the event log's snapshot does): their usage goes to the past.
        const ended = Object.values(h.state.joblists).filter(jl => settledAt(h.state, jl) !== undefined).map(jl => jl.id)
        if (ended.length > 0) {
          // (Mostly one: its owner's other joblists stay in the sums.)
          const ids = rnd() < 0.7 ? [pick(ended)] : ended.slice(0, 1 + Math.floor(rnd() * ended.length))
          for (const id of ids) { const jl = h.state.joblists[id]; addPastUsage(past, jl.owner, joblistUsage(h.state, jl, h.now, H), h.now, H) }
          for (const x of extract(h.state, ids)) archived.set(x.bundle.id, x.bundle)
          index.update(h.state, ids)
          did.archive++
        }
      } else if (r < 0.85 && archived.size > 0) {
        const b = pick([...archived.values()])
        archived.delete(b.id)
        restore(h.state, b)
        const jl = h.state.joblists[b.id]
        if (jl !== undefined) addPastUsage(past, jl.owner, joblistUsage(h.state, jl, h.now, H), h.now, H, -1)
        index.update(h.state, [b.id])
        did.back++
      } else if (r < 0.97) {
        h.now += Math.floor(rnd() * 2 * H)
      } else {
        // Long enough for everything ended to count nothing (40 half-lives).
        h.now += 41 * H
        did.forgotten++
      }
      const indexed = index.usage(h.state, h.now, o())
      const walked = fairShareUsage(h.state, h.now, o())
      assert.deepEqual(usageDifferences(indexed, walked), [], `step ${step}`)
      if (walked.length < lastOwners) did.ownersGone++
      lastOwners = walked.length
      const ended = Object.values(h.state.joblists).filter(jl => settledAt(h.state, jl) !== undefined).length
      if (ended > 0) did.settled++
      if (Object.values(h.state.attempts).some(as => Object.values(as).some(a => a.state === 'running'))) did.live++
      // The queue in the order the policy serves it: the same with the index as without.
      const q = activeJoblists(h.state)
      const by = (fs: FairShareOptions): string[] => orderQueue(q, h.now, { ...h.queue, fairShare: fs }, h.state).map(jl => jl.id)
      assert.deepEqual(by({ ...o(), index }), by(o()), `step ${step}: the order served`)
    }
    // The run went through what matters (or the comparison proved little).
    for (const [what, n] of Object.entries(did)) if (what !== 'ownersGone') assert.ok(n > 0, `no ${what} in this run: ${JSON.stringify(did)}`)
  })
}

test('P-4 (issue 12): an index never told of a change differs from the walk, and the audit says where (the test can fail)', () => {
  const h = new Harness()
  h.queue = { policy: 'fairshare', agingPerMinute: 0 }
  const index = new UsageIndex()
  h.node('A', { slot: ['s0'] })
  const o: FairShareOptions = { halfLifeMs: H, shares: {} }
  const req = h.submit(joblist('one', [['s', [job('x')]]], { priority: 50 }), 'A', 'ann')
  h.settle()
  assert.deepEqual(usageDifferences(index.usage(h.state, h.now, o), fairShareUsage(h.state, h.now, o)), [], 'counted at the first ask')
  // Not told (no update): the job runs and ends, the index does not know.
  const id = h.joblistId(req)
  h.start(`${id}.1`)
  h.now += 600_000
  h.finish(`${id}.1`)
  const differences = usageDifferences(index.usage(h.state, h.now, o), fairShareUsage(h.state, h.now, o))
  assert.ok(differences.some(d => d.startsWith('owners seen') || d.includes('ann')), differences.join('; '))
  index.recount(h.state)
  assert.deepEqual(usageDifferences(index.usage(h.state, h.now, o), fairShareUsage(h.state, h.now, o)), [], 'recounted: the same')
})

test('P-4 (issue 12): a pass\'s fair-share usage reads the settled joblists from the index, not every joblist in memory (the walk reads them all: the control)', () => {
  const h = new Harness()
  const index = new UsageIndex()
  h.applied = ids => index.update(h.state, ids)
  h.node('A', { slot: ['s0'] })
  const o: FairShareOptions = { halfLifeMs: H, shares: {} }
  for (let i = 0; i < 30; i++) {
    const req = h.submit(joblist(`j${i}`, [['s', [job('x')]]], { priority: 10 }), 'A', i % 2 === 0 ? 'ann' : 'bob')
    h.settle()
    const id = h.joblistId(req)
    h.start(`${id}.1`)
    h.now += 60_000
    h.finish(`${id}.1`)
  }
  index.usage(h.state, h.now, o) // (settles what ended into the sums)
  // Every joblist's attempts made unreadable: a walk needs them, the index no longer does.
  const attempts = h.state.attempts
  h.state.attempts = new Proxy(attempts, { get: (t, k) => { if (typeof k === 'string' && k.includes('.')) throw new Error(`read ${k}`); return Reflect.get(t, k) } })
  assert.throws(() => fairShareUsage(h.state, h.now + 1000, o), /read /, 'the walk reads every joblist\'s attempts')
  const later = index.usage(h.state, h.now + 1000, o)
  h.state.attempts = attempts
  assert.deepEqual(usageDifferences(later, fairShareUsage(h.state, h.now + 1000, o)), [])
  assert.deepEqual(later.map(u => u.owner), ['ann', 'bob'])
})

/** A harness with `n` settled joblists of two owners (a minute's work each), the index told as events apply. */
function settledCluster (n: number, minutes = 1): { h: Harness, index: UsageIndex } {
  const h = new Harness()
  const index = new UsageIndex()
  h.applied = ids => index.update(h.state, ids)
  h.node('A', { slot: ['s0'] })
  index.usage(h.state, h.now, { halfLifeMs: H, shares: {} })
  for (let i = 0; i < n; i++) {
    const req = h.submit(joblist(`j${i}`, [['s', [job('x')]]], { priority: 10 }), 'A', i % 2 === 0 ? 'ann' : 'bob')
    h.settle()
    const id = h.joblistId(req)
    h.start(`${id}.1`)
    h.now += minutes * 60_000
    h.finish(`${id}.1`)
  }
  return { h, index }
}

test('P-4 (issue 12): the index agrees with the walk when the clock steps back, after a purge that leaves a small part of an owner\'s usage, and over 200,000 passes', () => {
  // (A long half-life: the huge joblist below weighs a hundred million times the others.)
  const o: FairShareOptions = { halfLifeMs: 400 * 24 * H, shares: {} }
  const same = (h: Harness, index: UsageIndex, now: number, what: string): void => assert.deepEqual(usageDifferences(index.usage(h.state, now, o), fairShareUsage(h.state, now, o)), [], what)
  const { h, index } = settledCluster(6)
  same(h, index, h.now, 'now')
  same(h, index, h.now - 30_000, 'the clock a step back (counted afresh)')
  same(h, index, h.now + 1, 'and on again')
  // ann's first joblist made huge (a long job on many instances), then purged: what is left of
  // ann's sum is small beside what went.
  const ann = Object.values(h.state.joblists).filter(jl => jl.owner === 'ann')
  const big = ann[0]
  const attempt = Object.values(h.state.attempts[`${big.id}.1`])[0]
  attempt.startedAt = h.now - 400 * 24 * 3600_000
  attempt.resources = { slot: Array.from({ length: 500 }, (_, i) => `s${i}`) }
  index.update(h.state, [big.id])
  same(h, index, h.now + 2, 'with the huge joblist')
  h.emit('P', 'purge', { before: h.now, ids: [big.id], requests: [big.request] })
  same(h, index, h.now + 3, 'the huge joblist purged: what is left summed again')
  // Many passes a millisecond apart: the sums are not decayed at each (no drift).
  let now = h.now + 4
  for (let i = 0; i < 200_000; i++) index.usage(h.state, now += 7, o)
  same(h, index, now, 'after 200,000 passes')
  same(h, index, now + 30 * o.halfLifeMs, 'thirty half-lives on (the epoch moved on)')
})

test('P-4 (issue 12): an index no longer read (this node not the master) forgets what it holds after 10,000 changes, and counts afresh if asked again', () => {
  const { h, index } = settledCluster(4)
  const o: FairShareOptions = { halfLifeMs: H, shares: {} }
  index.usage(h.state, h.now, o)
  const held = (): number => (index as unknown as { dirty: Set<string>, parts: Map<string, unknown> }).dirty.size + (index as unknown as { parts: Map<string, unknown> }).parts.size
  assert.ok(held() > 0)
  for (let i = 0; i < 10_001; i++) index.update(h.state, [`x-${i}`])
  assert.equal(held(), 0, 'let go')
  index.update(h.state, ['y-1'])
  assert.equal(held(), 0, 'and no longer kept')
  assert.deepEqual(usageDifferences(index.usage(h.state, h.now, o), fairShareUsage(h.state, h.now, o)), [], 'asked again: counted afresh')
})
