// The pure scheduler alone: one pass over 1,000 / 10,000 / 100,000 queued joblists on
// 100 / 1,000 nodes. Time per pass and placements per second, on one core.
import { apply } from '../src/state/reducer.js'
import { emptyState } from '../src/state/types.js'
import type { ClusterState } from '../src/state/types.js'
import { schedule } from '../src/scheduler/schedule.js'

export interface PassFigure { joblists: number, nodes: number, slotsPerNode: number, placements: number, passMs: number, placementsPerSec: number, msPerThousandJoblists: number }

function build (joblists: number, nodes: number, slotsPerNode: number): ClusterState {
  const state = emptyState()
  let ts = 1
  for (let i = 0; i < nodes; i++) {
    apply(state, { origin: `node-${String(i).padStart(5, '0')}`, seq: 1, ts: ts++, lc: 0, type: 'node', body: { name: `n${i}`, priority: 0, profiles: i % 10 === 0 ? ['gpu'] : [], resources: { slot: Array.from({ length: slotsPerNode }, (_, k) => `s${k}`), ...(i % 10 === 0 ? { gpu: ['g0', 'g1'] } : {}) }, api: '', addresses: [], version: 'b' } })
  }
  let seq = 0
  for (let i = 0; i < joblists; i++) {
    const needs: Record<string, number> = i % 7 === 0 ? { slot: 1, gpu: 1 } : i % 5 === 0 ? { slot: 2 } : { slot: 1 }
    apply(state, { origin: 'client', seq: ++seq, ts: ts++, lc: 0, type: 'submit', body: { owner: 'b', spec: { name: `jl${i}`, priority: 0, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs, env: {}, retries: 0, replace: {}, files: [] }] }] } } })
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
 * Two series: `scarce` (4 slots a node: most joblists wait, which measures the cost of the
 * queue scan and reservations) and `ample` (room for every joblist: placement throughput).
 */
export function schedulerBench (log: (m: string) => void): { scarce: PassFigure[], ample: PassFigure[] } {
  const scarce: PassFigure[] = []
  const ample: PassFigure[] = []
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
  return { scarce, ample }
}
