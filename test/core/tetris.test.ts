// Scenario tests of the Tetris scheduler (issue: targets, logical jobs, policies, reasons).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, job, joblist } from '../helpers/harness.js'
import { planJoblist, waitReasons } from '../../src/scheduler/plan.js'

const gpuJob = (name: string, n: number): ReturnType<typeof job> => job(name, { needs: { gpu: n } })

test('R3-5: a big earlier joblist waiting for 2 GPUs is not delayed by later 1-GPU joblists', () => {
  const h = new Harness()
  h.node('A', { gpu: ['g0', 'g1'], slot: ['s0', 's1'] })
  const busy = h.submit(joblist('busy', [['s', [gpuJob('hold', 1)]]]))
  h.settle()
  const big = h.submit(joblist('big', [['s', [gpuJob('train', 2)]]]))
  const small = [1, 2, 3].map(i => h.submit(joblist(`small-${i}`, [['s', [gpuJob('infer', 1)]]])))
  const cpu = h.submit(joblist('cpu', [['s', [job('build', { needs: { slot: 1 } })]]]))
  const first = h.assigns(h.settle())
  const placedLists = first.map(d => h.state.jobs[d.jobId].joblistId)
  for (const s of small) assert.ok(!placedLists.includes(h.joblistId(s)), 'no small GPU job takes the GPU the big one waits for')
  assert.ok(placedLists.includes(h.joblistId(cpu)), 'the CPU-only joblist still runs while the GPU one waits')
  const holdId = `${h.joblistId(busy)}.1`
  h.start(holdId); h.finish(holdId)
  const next = h.assigns(h.settle())
  assert.deepEqual(next.filter(d => d.resources.gpu !== undefined).map(d => h.state.jobs[d.jobId].joblistId), [h.joblistId(big)], 'the big joblist gets both GPUs first')
})

test('R3-5: a later joblist may use an instance on a node where the waiting earlier job cannot fit anyway', () => {
  const h = new Harness()
  h.node('A', { gpu: ['a0', 'a1'] })
  h.node('B', { gpu: ['b0'] })
  h.submit(joblist('busy', [['s', [gpuJob('hold', 1)]]]))
  h.settle(['A'])
  const big = h.submit(joblist('big', [['s', [gpuJob('train', 2)]]]))
  const small = h.submit(joblist('small', [['s', [gpuJob('infer', 1)]]]))
  const ds = h.assigns(h.settle(['A', 'B']))
  assert.equal(ds.length, 1)
  assert.equal(h.state.jobs[ds[0].jobId].joblistId, h.joblistId(small))
  assert.equal(ds[0].node, 'B', 'B can never run the 2-GPU job: its GPU is fair game')
  const why = waitReasons({ state: h.state, now: h.now, alive: new Set(['A', 'B']), queue: h.queue })
  assert.match(why[`${h.joblistId(big)}.1`], /needs gpu:2; on A: a0 held by busy\/hold/)
})

test('why waiting: a pending job says what it needs and who holds or reserved it', () => {
  const h = new Harness()
  h.node('A', { gpu: ['g0', 'g1'] })
  h.submit(joblist('nightly', [['s', [gpuJob('hold', 1)]]]))
  h.settle()
  const big = h.submit(joblist('big', [['s', [gpuJob('train', 2)]]]))
  const later = h.submit(joblist('later', [['s', [gpuJob('x', 1)]]]))
  h.settle()
  const why = waitReasons({ state: h.state, now: h.now, alive: new Set(['A']), queue: h.queue })
  assert.match(why[`${h.joblistId(big)}.1`], /^needs gpu:2; on A: g0 held by nightly\/hold \(.+\)$/)
  assert.match(why[`${h.joblistId(later)}.1`], /g1 reserved for earlier joblist big \(/)
  const none = h.submit(joblist('tpu', [['s', [job('t', { needs: { tpu: 1 } })]]]))
  h.settle()
  assert.match(waitReasons({ state: h.state, now: h.now, alive: new Set(['A']), queue: h.queue })[`${h.joblistId(none)}.1`], /no alive node has that much/)
})

test('R3-5: a second waiting job of the same size still reserves on another node, and a long queue of waiting jobs is passed over', () => {
  const h = new Harness()
  h.node('A', { slot: ['a0', 'a1'] })
  h.node('B', { slot: ['b0', 'b1'] })
  h.submit(joblist('hold', [['s', [job('x', { target: { node: 'A' } }), job('y', { target: { node: 'B' } })]]]))
  assert.deepEqual(h.assigns(h.settle()).map(d => d.node).sort(), ['A', 'B'], 'one slot held on each node')
  const big1 = h.submit(joblist('big1', [['s', [job('b', { needs: { slot: 2 } })]]]))
  const big2 = h.submit(joblist('big2', [['s', [job('b', { needs: { slot: 2 } })]]]))
  const small = h.submit(joblist('small', [['s', [job('s')]]]))
  // big1 reserves the free slot of one node, big2 that of the other: small must not take either.
  assert.deepEqual(h.assigns(h.settle()), [])
  const why = waitReasons({ state: h.state, now: h.now, alive: new Set(['A', 'B']), queue: h.queue })
  assert.match(why[`${h.joblistId(small)}.1`], /reserved for earlier joblist big/)
  // Behind a long queue of waiting jobs, a job that needs nothing is still placed.
  for (let i = 0; i < 50; i++) h.submit(joblist(`wait-${i}`, [['s', [job('w', { needs: { slot: 2 } })]]]))
  const free = h.submit(joblist('free', [['s', [job('n', { needs: {} })]]]))
  assert.deepEqual(h.assigns(h.settle()).map(d => h.state.jobs[d.jobId].joblistId), [h.joblistId(free)])
  assert.ok(h.joblistId(big1) !== undefined && h.joblistId(big2) !== undefined)
})

test('D-4/P-3: the priority policy serves higher priority first; aging lets old low-priority work overtake', () => {
  const h = new Harness()
  h.queue = { policy: 'priority', agingPerMinute: 1 }
  h.node('A', { slot: ['s0'] })
  h.submit(joblist('running', [['s', [job('r')]]]))
  h.settle()
  const low = h.submit(joblist('low', [['s', [job('l')]]], { priority: 0 }))
  h.settle()
  const high = h.submit(joblist('high', [['s', [job('h')]]], { priority: 5 }))
  h.settle()
  h.runAll()
  const next = h.assigns(h.settle())
  assert.equal(h.state.jobs[next[0].jobId].joblistId, h.joblistId(high), 'higher priority goes first')
  // Another high one arrives; meanwhile `low` has waited 10 minutes: 0 + 10 > 5.
  h.now += 10 * 60_000
  const high2 = h.submit(joblist('high2', [['s', [job('h')]]], { priority: 5 }))
  h.settle()
  h.runAll()
  const after = h.assigns(h.settle())
  assert.equal(h.state.jobs[after[0].jobId].joblistId, h.joblistId(low), 'aged low-priority work overtakes')
  assert.ok(h.joblistId(high2) !== undefined)
  const fifo = new Harness()
  fifo.node('A', { slot: ['s0'] })
  fifo.submit(joblist('r', [['s', [job('r')]]]))
  fifo.settle()
  const a = fifo.submit(joblist('a', [['s', [job('x')]]], { priority: 0 }))
  fifo.submit(joblist('b', [['s', [job('x')]]], { priority: 9 }))
  fifo.settle(); fifo.runAll()
  assert.equal(fifo.state.jobs[fifo.assigns(fifo.settle())[0].jobId].joblistId, fifo.joblistId(a), 'fifo ignores priority')
})

test('S-1: a job targeted at one node runs only there, and waits while it is offline', () => {
  const h = new Harness()
  h.node('A', { slot: ['a0', 'a1'] })
  h.node('B', { slot: ['b0'] })
  const req = h.submit(joblist('pinned', [['s', [job('only-b', { target: { node: 'B' } })]]]))
  const ds = h.assigns(h.settle(['A']))
  assert.equal(ds.length, 0, 'B is offline: nothing else may run it')
  const logical = h.state.jobs[`${h.joblistId(req)}.1`]
  assert.equal(logical.physical?.length, 1)
  const later = h.assigns(h.settle(['A', 'B']))
  assert.deepEqual(later.map(d => d.node), ['B'])
})

test('S-2/S-4: a job for all nodes is one logical job of one physical job per node; it succeeds only if all do', () => {
  const h = new Harness()
  for (const n of ['A', 'B', 'C']) h.node(n, { slot: ['s0'] })
  const req = h.submit(joblist('everywhere', [['s', [job('patch', { target: { all: true } })]], ['after', [job('report')]]]))
  const ds = h.assigns(h.settle())
  assert.deepEqual(ds.map(d => d.node).sort(), ['A', 'B', 'C'])
  const id = `${h.joblistId(req)}.1`
  const physical = h.state.jobs[id].physical as string[]
  assert.equal(physical.length, 3)
  for (const p of physical.slice(0, 2)) { h.start(p); h.finish(p) }
  assert.equal(h.state.jobs[id].state, 'running')
  h.start(physical[2]); h.finish(physical[2], 'failed')
  assert.equal(h.state.jobs[id].state, 'failed', 'one failed physical job fails the logical job')
  assert.equal(h.state.joblists[h.joblistId(req)].state, 'failed')

  const ok = new Harness()
  for (const n of ['A', 'B']) ok.node(n, { slot: ['s0'] })
  const r2 = ok.submit(joblist('everywhere', [['s', [job('patch', { target: { all: true } })]]]))
  ok.settle(); ok.runAll()
  assert.equal(ok.state.jobs[`${ok.joblistId(r2)}.1`].state, 'succeeded')
  assert.equal(ok.state.joblists[ok.joblistId(r2)].state, 'succeeded')
})

test('S-3: a job for a profile runs on every alive node that advertises it', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] }, 0, ['linux', 'gpu-box'])
  h.node('B', { slot: ['s0'] }, 0, ['linux'])
  h.node('C', { slot: ['s0'] }, 0, ['windows'])
  h.submit(joblist('linux-only', [['s', [job('update', { target: { profile: 'linux' } })]]]))
  assert.deepEqual(h.assigns(h.settle()).map(d => d.node).sort(), ['A', 'B'])
})

test('plan: a dry run shows where the first stage would run or why it would wait, and changes nothing', () => {
  const h = new Harness()
  h.node('A', { gpu: ['g0'], slot: ['s0'] })
  h.submit(joblist('holder', [['s', [job('g', { needs: { gpu: 1 } })]]]))
  h.settle()
  const before = JSON.stringify(h.state)
  const p = planJoblist({ state: h.state, now: h.now, alive: new Set(['A']), queue: h.queue }, joblist('try', [['first', [job('cpu'), job('gpu', { needs: { gpu: 1 } })]], ['second', [job('z')]]]))
  assert.equal(p.stage, 'first')
  assert.deepEqual(p.jobs.map(j => [j.name, j.node]), [['cpu', 'A'], ['gpu', null]])
  assert.match(p.jobs[1].waiting ?? '', /g0 held by holder\/g/)
  assert.equal(JSON.stringify(h.state), before)
})
