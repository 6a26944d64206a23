// Issue 12: the master's standing order of the queue under the priority and fairshare policies
// (src/scheduler/served-order.ts, kept by the queue's index) serves exactly what a heap of the
// whole queue serves (servedInOrder), and a pass with it does not read the whole queue.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Harness, job, joblist } from '../helpers/harness.js'
import { QueueIndex } from '../../src/scheduler/queue-index.js'
import { ServedOrder } from '../../src/scheduler/served-order.js'
import { effectivePriority, servedInOrder } from '../../src/scheduler/queue.js'
import type { QueueOptions } from '../../src/scheduler/queue.js'
import type { OwnerUsage } from '../../src/scheduler/fairshare.js'
import { schedulePass } from '../../src/scheduler/schedule.js'
import { comparePositions } from '../../src/state/position.js'
import { emptyState } from '../../src/state/types.js'
import type { ClusterState, JoblistRecord } from '../../src/state/types.js'
import { QueueList } from '../../src/state/queue-list.js'

const MINUTE = 60_000
const NOW = 1_000 * MINUTE

/** A bare joblist record of the queue (what the order and servedInOrder read of it). */
function record (id: string, priority: number, owner: string, acceptedAt: number, ts: number, seq: number): JoblistRecord {
  return { id, priority, owner, acceptedAt, position: [ts, 0, 'm', seq], state: 'queued' } as unknown as JoblistRecord
}

/** Put `id` into the state's queue (kept in position order, as the reducer keeps it). */
function enqueue (state: ClusterState, jl: JoblistRecord): void {
  state.joblists[jl.id] = jl
  state.queue = QueueList.from([...state.queue.filter(x => x !== jl.id), jl.id].sort((a, b) => comparePositions(state.joblists[a].position, state.joblists[b].position)))
}

const drain = (next: () => JoblistRecord | undefined): string[] => {
  const out: string[] = []
  for (let jl = next(); jl !== undefined; jl = next()) out.push(jl.id)
  return out
}

/** Fair-share factors as a usage source gives them (the order reads only `factor`). */
const factorsSource = (factors: Record<string, number>): NonNullable<NonNullable<QueueOptions['fairShare']>['index']> => ({
  usage: () => Object.entries(factors).map(([owner, factor]) => ({ owner, factor }) as unknown as OwnerUsage)
})

const op = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), n: fc.nat(40), priority: fc.constantFrom(-2, 0, 1, 3, 2 ** 52), owner: fc.constantFrom('a', 'b', 'c'), at: fc.integer({ min: -3, max: 3 }), sub: fc.constantFrom(0, 0, 1), ts: fc.nat(6), seq: fc.nat(1000) }),
  fc.record({ kind: fc.constant('remove' as const), n: fc.nat(40) }),
  fc.record({ kind: fc.constant('priority' as const), n: fc.nat(40), priority: fc.constantFrom(-1, 0, 2, 3) }),
  fc.record({ kind: fc.constant('reaccept' as const), n: fc.nat(40), at: fc.integer({ min: -3, max: 3 }), ts: fc.nat(6) })
)

test('issue 12 / D-4 (property): the standing order, kept as the queue changes, serves exactly what a heap of the whole queue serves (priority and fairshare, aging or none, accepts after now, equal times, roundings)', () => {
  let compared = 0
  let mixedRuns = 0
  fc.assert(fc.property(fc.array(op, { maxLength: 80 }), fc.constantFrom(0, 1e-9, 0.5, 1, 3), fc.constantFrom<QueueOptions['policy']>('priority', 'fairshare'),
    fc.record({ a: fc.constantFrom(0, 0.25, 1), b: fc.constantFrom(0, 0.5, 1), c: fc.constantFrom(0.125, 1) }), (ops, aging, policy, factors) => {
      const state = emptyState()
      const order = new ServedOrder()
      const o: QueueOptions = { policy, agingPerMinute: aging, fairShare: { halfLifeMs: MINUTE, shares: {}, index: factorsSource(factors) } }
      // The order is built from the queue at the first pass (here, after a few changes), then kept.
      const ask = (now: number): void => {
        const next = order.served(state, now, o)
        assert.ok(next !== undefined)
        const kept = drain(next)
        assert.deepEqual(kept, drain(servedInOrder(state, now, o)), `served at ${now}`)
        assert.deepEqual(order.differences(state), [])
        compared++
      }
      ops.forEach((x, i) => {
        const id = `m-${x.n}`
        const jl = state.joblists[id]
        if (x.kind === 'add') {
          // Accepted a whole or a part of a minute from now (equal times often; some after now: a clock ahead).
          enqueue(state, record(id, x.priority, x.owner, NOW + x.at * MINUTE + x.sub, x.ts, x.seq * 100 + x.n))
        } else if (x.kind === 'remove') {
          state.queue = QueueList.from(state.queue.filter(q => q !== id))
          delete state.joblists[id]
        } else if (jl !== undefined && x.kind === 'priority') {
          jl.priority = x.priority
        } else if (jl !== undefined && x.kind === 'reaccept') {
          // (An accept with a lower position won: the record takes its time and position.)
          enqueue(state, { ...jl, acceptedAt: NOW + x.at * MINUTE, position: [x.ts, 1, 'n', i] })
        }
        order.update(state, id, state.queue.includes(id))
        if (i % 9 === 4) ask(NOW)
      })
      for (const now of [NOW - 2 * MINUTE, NOW, NOW + 1, NOW + 5 * MINUTE]) ask(now)
      // (How often two different accept times of one group met at one effective priority: the case the runs are for.)
      const f = (jl: JoblistRecord): number => policy === 'fairshare' ? factors[jl.owner as 'a' | 'b' | 'c'] : 1
      const queued = state.queue.map(id => state.joblists[id])
      if (queued.some((a, i) => queued.some((b, j) => i < j && a.priority === b.priority && f(a) === f(b) && a.acceptedAt !== b.acceptedAt &&
        effectivePriority(a, NOW, o, f(a)) === effectivePriority(b, NOW, o, f(b))))) mixedRuns++
    }), { seed: 31, numRuns: 400 })
  assert.ok(compared > 400)
  assert.ok(mixedRuns > 20, `runs of accepts after now: ${mixedRuns}`)
})

test('issue 12: the order\'s audit tells a change it was not told of', () => {
  const state = emptyState()
  const order = new ServedOrder()
  const o: QueueOptions = { policy: 'priority', agingPerMinute: 1 }
  for (let i = 1; i <= 3; i++) enqueue(state, record(`m-${i}`, 0, 'a', NOW + i, i, i))
  assert.deepEqual(drain(order.served(state, NOW + 10, o) ?? (() => undefined)), ['m-1', 'm-2', 'm-3'])
  state.joblists['m-3'].priority = 5
  assert.deepEqual(order.differences(state), ['served order: m-3 kept as 0 at 60000003, in the state 5 at 60000003'])
  enqueue(state, record('m-4', 0, 'a', NOW + 4, 4, 4))
  assert.match(order.differences(state).join('\n'), /m-4 of the queue is not in it/)
  order.update(state, 'm-3', true)
  order.update(state, 'm-4', true)
  assert.deepEqual(order.differences(state), [])
  assert.deepEqual(drain(order.served(state, NOW + 10, o) ?? (() => undefined)), ['m-3', 'm-1', 'm-2', 'm-4'])
  assert.equal(order.served(state, NOW, { policy: 'fifo', agingPerMinute: 1 }), undefined, 'fifo serves the queue as it is')
})

for (const aging of [1, 0]) test(`issue 12 / D-4: under the priority policy (aging ${aging}), with the index, a pass over a saturated cluster reads the joblists it serves, not the whole queue`, () => {
  const h = new Harness()
  h.queue = { policy: 'priority', agingPerMinute: aging }
  h.node('A', { slot: ['s0', 's1'] })
  const index = new QueueIndex()
  index.view(h.state)
  h.applied = ids => index.update(h.state, ids)
  h.index = index
  for (let i = 0; i < 60; i++) h.submit(joblist(`jl${i}`, [['s', [job('j')]]], { priority: (i + 1) % 3 }))
  h.settle()
  assert.equal(Object.keys(h.state.attempts).length, 2, 'two jobs run, 58 joblists wait')
  assert.deepEqual(index.differences(h.state), [])
  const input = { state: h.state, now: h.now, self: 'M', selfCode: 'm', alive: new Set(['A']), policy: { onLost: 'retry' as const, maxLost: 2 }, queue: h.queue }
  // The queue's last joblist (priority 0, accepted last: served last) can no longer be read.
  const last = h.state.queue.at(-1) as string
  assert.equal(h.state.joblists[last].priority, 0)
  const value = h.state.joblists[last]
  Object.defineProperty(h.state.joblists, last, { get () { throw new Error(`the pass read ${last}`) }, configurable: true })
  assert.deepEqual(schedulePass({ ...input, index }).decisions, [])
  assert.throws(() => schedulePass(input), new RegExp(`the pass read ${last}`), 'without the index the pass reads the whole queue (the control)')
  Object.defineProperty(h.state.joblists, last, { value, configurable: true, enumerable: true, writable: true })
  // And a higher priority submitted now comes first when a slot frees.
  h.submit(joblist('urgent', [['s', [job('j')]]], { priority: 9 }))
  h.settle()
  const urgent = Object.values(h.state.joblists).find(jl => jl.name === 'urgent')
  assert.ok(urgent !== undefined)
  const running = Object.keys(h.state.attempts).filter(id => id.endsWith('.1'))
  h.finishQuick(running[0], 'succeeded')
  h.settle()
  assert.ok(h.state.attempts[`${urgent.id}.1`] !== undefined, 'the urgent joblist took the freed slot')
  assert.deepEqual(index.differences(h.state), [])
})
