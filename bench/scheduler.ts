// The pure scheduler alone: one pass over 1,000 / 10,000 / 100,000 queued joblists on
// 100 / 1,000 nodes. Time per pass and placements per second, on one core.
import { apply } from '../src/state/reducer.js'
import { emptyState } from '../src/state/types.js'
import type { ClusterState } from '../src/state/types.js'
import { schedule, schedulePass } from '../src/scheduler/schedule.js'
import { decisionEvent } from '../src/scheduler/decision-event.js'
import { QueueIndex } from '../src/scheduler/queue-index.js'
import type { QueuePolicy } from '../src/scheduler/queue.js'
import { UsageIndex, usageDifferences } from '../src/scheduler/usage-index.js'
import { fairShareUsage } from '../src/scheduler/fairshare.js'
import type { FairShareOptions } from '../src/scheduler/fairshare.js'

export interface PassFigure { joblists: number, nodes: number, slotsPerNode: number, placements: number, passMs: number, placementsPerSec: number, msPerThousandJoblists: number }

/** `levels`: the joblists' priorities cycle through 0..levels-1; `owners`: their owners through that many. */
function build (joblists: number, nodes: number, slotsPerNode: number, levels = 1, owners = 1): ClusterState {
  const state = emptyState()
  let ts = 1
  for (let i = 0; i < nodes; i++) {
    apply(state, { origin: `node-${String(i).padStart(5, '0')}`, seq: 1, ts: ts++, lc: 0, type: 'node', body: { name: `n${i}`, priority: 0, profiles: i % 10 === 0 ? ['gpu'] : [], resources: { slot: Array.from({ length: slotsPerNode }, (_, k) => `s${k}`), ...(i % 10 === 0 ? { gpu: ['g0', 'g1'] } : {}) }, api: '', addresses: [], version: 'b' } })
  }
  let seq = 0
  for (let i = 0; i < joblists; i++) {
    const needs: Record<string, number> = i % 7 === 0 ? { slot: 1, gpu: 1 } : i % 5 === 0 ? { slot: 2 } : { slot: 1 }
    apply(state, { origin: 'client', seq: ++seq, ts: ts++, lc: 0, type: 'submit', body: { owner: owners === 1 ? 'b' : `owner${i % owners}`, spec: { name: `jl${i}`, priority: i % levels, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs, env: {}, retries: 0, replace: {}, files: [] }] }] } } })
  }
  let mseq = 0
  for (let i = 1; i <= joblists; i++) {
    apply(state, { origin: 'master', seq: ++mseq, ts: ts++, lc: 0, type: 'accept', body: { request: `client:${i}`, id: `m-${i}`, term: 1, onLost: 'retry', maxLost: 3 } })
  }
  return state
}

export function schedulerPass (joblists: number, nodes: number, slotsPerNode = 4): PassFigure {
  const state = build(joblists, nodes, slotsPerNode)
  const alive = new Set(Object.keys(state.nodes))
  const input = { state, now: 1e9, self: 'master', selfCode: 'm', alive, policy: { onLost: 'retry' as const, maxLost: 3 } }
  // Warm up (the first series pays for compiling the scheduler), then the median of 5 passes.
  schedule(input)
  schedule(input)
  const runs: number[] = []
  let placements = 0
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    placements = schedule(input).filter(d => d.type === 'assign').length
    runs.push(performance.now() - t0)
  }
  const passMs = runs.sort((a, b) => a - b)[2]
  return { joblists, nodes, slotsPerNode, placements, passMs: Number(passMs.toFixed(2)), placementsPerSec: Math.round(placements / (passMs / 1000)), msPerThousandJoblists: Number((passMs / (joblists / 1000)).toFixed(3)) }
}

/**
 * A saturated cluster with a deep queue, the steady state of a busy one: every instance held
 * by a running job, `joblists` queued behind them. The pass that follows a job's end (here:
 * nothing ended, nothing to place) as the master made it before its index of the queue (a
 * walk of every queued joblist) and with the index (queue-index.ts; under priority and
 * fairshare its standing order, served-order.ts; under fairshare the usage index too,
 * usage-index.ts), median of 9 each.
 */
export interface SaturatedFigure { joblists: number, nodes: number, policy: QueuePolicy, levels: number, owners: number, running: number, walkMs: number, indexedMs: number }

export function saturatedPass (joblists: number, nodes: number, policy: QueuePolicy = 'fifo', slotsPerNode = 4, levels = 1, owners = 1): SaturatedFigure {
  const state = build(joblists, nodes, slotsPerNode, levels, owners)
  const alive = new Set(Object.keys(state.nodes))
  const input = { state, now: 1e9, self: 'master', selfCode: 'm', alive, policy: { onLost: 'retry' as const, maxLost: 3 }, queue: { policy, agingPerMinute: 1 } }
  let seq = state.applied.master ?? 0
  let ts = state.clock.ts
  let running = 0
  for (const d of schedule(input)) {
    if (d.type !== 'assign') continue
    const e = decisionEvent(d, 1)
    apply(state, { origin: 'master', seq: ++seq, ts: ++ts, lc: 0, type: e.type, body: e.body } as Parameters<typeof apply>[1])
    running++
  }
  const index = new QueueIndex()
  index.view(state)
  // Under fairshare the indexed pass reads the owners' usage from the master's usage index too.
  const usage = new UsageIndex()
  const withIndexes = policy === 'fairshare' ? { ...input, queue: { ...input.queue, fairShare: { halfLifeMs: 7 * 24 * 3600_000, shares: {}, index: usage } } } : input
  const median = (f: () => unknown): number => {
    f()
    f()
    const runs: number[] = []
    for (let r = 0; r < 9; r++) {
      const t0 = performance.now()
      f()
      runs.push(performance.now() - t0)
    }
    return Number(runs.sort((a, b) => a - b)[4].toFixed(3))
  }
  const walkMs = median(() => schedulePass(input))
  const indexedMs = median(() => schedulePass({ ...withIndexes, index }))
  if (schedulePass({ ...withIndexes, index }).decisions.length !== 0 || schedulePass(input).decisions.length !== 0) throw new Error('a saturated pass decided something')
  return { joblists, nodes, policy, levels, owners, running, walkMs, indexedMs }
}

export interface FairShareFigure { held: number, owners: number, walkMs: number, indexedMs: number }

/**
 * What a pass under the fairshare policy pays for the owners' usage with `held` ended joblists
 * in memory (an agent keeps them 10 minutes: 60,000 at 100 jobs a second) and 50 running:
 * computed from every joblist (fairShareUsage's walk) vs the master's index (usage-index.ts),
 * the clock a millisecond later at each pass. Median of 9.
 */
export function fairSharePass (held: number, owners = 20): FairShareFigure {
  const state = emptyState()
  let ts = 1000
  let xseq = 0
  let mseq = 0
  apply(state, { origin: 'X', seq: ++xseq, ts: ts++, lc: 0, type: 'node', body: { name: 'X', priority: 0, profiles: [], resources: { slot: Array.from({ length: 64 }, (_, i) => `s${i}`) }, api: '', addresses: [], version: 'bench' } })
  const index = new UsageIndex()
  for (let i = 0; i < held + 50; i++) {
    const spec = { name: `j${i}`, priority: 50, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 }, env: {}, retries: 0, replace: {}, files: [] }] }] }
    apply(state, { origin: 'C', seq: i + 1, ts: ts++, lc: 0, type: 'submit', body: { spec, owner: `owner${i % owners}` } })
    apply(state, { origin: 'M', seq: ++mseq, ts: ts++, lc: 0, type: 'accept', body: { request: `C:${i + 1}`, id: `m-${i + 1}`, term: 1, onLost: 'retry', maxLost: 3, assign: [{ jobId: `m-${i + 1}.1`, attempt: 1, node: 'X', resources: { slot: [`s${i % 64}`] } }] } })
    if (i < held) apply(state, { origin: 'X', seq: ++xseq, ts: ts++, lc: 0, type: 'finished', body: { jobId: `m-${i + 1}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, started: { at: ts - 1, pid: 1 } } })
    else apply(state, { origin: 'X', seq: ++xseq, ts: ts++, lc: 0, type: 'started', body: { jobId: `m-${i + 1}.1`, attempt: 1, pid: 1 } })
  }
  const o: FairShareOptions = { halfLifeMs: 7 * 24 * 3600_000, shares: {} }
  let now = ts + 1000
  const median = (f: () => unknown): number => {
    const runs: number[] = []
    for (let r = 0; r < 11; r++) {
      now++
      const t0 = performance.now()
      f()
      if (r >= 2) runs.push(performance.now() - t0)
    }
    return Number(runs.sort((a, b) => a - b)[4].toFixed(3))
  }
  const walkMs = median(() => fairShareUsage(state, now, o))
  const indexedMs = median(() => index.usage(state, now, o))
  const differences = usageDifferences(index.usage(state, now, o), fairShareUsage(state, now, o))
  if (differences.length > 0) throw new Error(`the index of usage differs from the walk: ${differences.join('; ')}`)
  return { held, owners, walkMs, indexedMs }
}

/**
 * Two series: `scarce` (4 slots a node: most joblists wait, which measures the cost of the
 * queue scan and reservations) and `ample` (room for every joblist: placement throughput).
 */
export function schedulerBench (log: (m: string) => void): { scarce: PassFigure[], ample: PassFigure[], saturated: SaturatedFigure[], fairShare: FairShareFigure[] } {
  const scarce: PassFigure[] = []
  const ample: PassFigure[] = []
  const saturated: SaturatedFigure[] = []
  for (const nodes of [100, 1000]) {
    for (const joblists of [1000, 10_000, 100_000]) {
      const f = schedulerPass(joblists, nodes, 4)
      log(`scheduler pass, scarce: ${joblists} joblists x ${nodes} nodes: ${f.passMs} ms (${f.msPerThousandJoblists} ms per 1k joblists), ${f.placements} placed`)
      scarce.push(f)
      const g = schedulerPass(joblists, nodes, Math.max(4, Math.ceil(2 * joblists / nodes)))
      log(`scheduler pass, ample:  ${joblists} joblists x ${nodes} nodes: ${g.passMs} ms, ${g.placements} placed: ${g.placementsPerSec} placements/s`)
      ample.push(g)
    }
  }
  // (fifo and priority with one priority and owner, as before Dec 4; then 10 priorities, and under fairshare 20 owners too.)
  for (const [policy, levels, owners] of [['fifo', 1, 1], ['priority', 1, 1], ['priority', 10, 1], ['fairshare', 10, 20]] as const) {
    for (const joblists of [1000, 10_000, 100_000]) {
      const f = saturatedPass(joblists, 100, policy, 4, levels, owners)
      log(`scheduler pass, saturated, ${policy}${levels > 1 ? ` (${levels} priorities${owners > 1 ? `, ${owners} owners` : ''})` : ''}: ${f.running} running, ${joblists - f.running} queued x 100 nodes: ${f.walkMs} ms walking the queue, ${f.indexedMs} ms with the master's indexes`)
      saturated.push(f)
    }
  }
  const fairShare: FairShareFigure[] = []
  for (const held of [1000, 10_000, 60_000]) {
    const f = fairSharePass(held)
    log(`fair-share usage of a pass, ${held} ended joblists in memory, ${f.owners} owners: ${f.walkMs} ms from every joblist, ${f.indexedMs} ms with the master's index`)
    fairShare.push(f)
  }
  return { scarce, ample, saturated, fairShare }
}
