// Cluster figures for `npm run bench`: failover after SIGKILL and after a silent stop
// (SIGSTOP), gossip convergence on 10 nodes, and throughput on 3 nodes.
import type { ClusterAgent } from '../test/helpers/cluster.js'
import { mastersSeen, startCluster, waitForMaster } from '../test/helpers/cluster.js'
import { api, waitFor } from '../test/helpers/agent.js'
import { cpuMeter } from './cpu.js'
import type { CpuPerJob } from './cpu.js'

function progress (msg: string): void { process.stderr.write(`bench: ${msg}\n`) }
/** The p-th percentile by nearest rank: the smallest value with at least p % of the values at or below it. */
export const pct = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] }
const median = (xs: number[]): number => pct(xs, 50)
const oneJob = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })

/** Poll every survivor until all name `expected` as master; ms since `t0`. */
async function agreeOn (agents: ClusterAgent[], expected: string, t0: number): Promise<number> {
  await waitFor('survivors to agree on the new master', async () => (await mastersSeen(agents)).every(m => m === expected), 30_000, 2)
  return performance.now() - t0
}

export interface FailoverResult { killAgreeMs: number[], killJobStartMs: number[], stopAgreeMs: number[], heartbeatTimeoutMs: number }

export async function failover (runs: number): Promise<FailoverResult> {
  const out: FailoverResult = { killAgreeMs: [], killJobStartMs: [], stopAgreeMs: [], heartbeatTimeoutMs: 800 }
  for (let i = 0; i < runs; i++) {
    // Default heartbeat settings (150 ms / 750 ms): what a user gets.
    const c = await startCluster([{ name: 'f1', priority: 3 }, { name: 'f2', priority: 2 }, { name: 'f3', priority: 1 }], [], { fast: false })
    try {
      await waitForMaster(c.agents, 'f1')
      const [f1, f2, f3] = c.agents
      const t0 = performance.now()
      const wall0 = Date.now()
      f1.proc.kill('SIGKILL')
      const submitted = api(f3.url, '/v1/joblists', { body: oneJob(`after-kill-${i}`) })
      out.killAgreeMs.push(await agreeOn([f2, f3], 'f2', t0))
      const r = await submitted
      const started = await waitFor('the new job to start', async () => {
        const list = (await api(f3.url, '/v1/joblists?name=' + `after-kill-${i}`)).body.joblists
        if (list.length === 0) return undefined
        const jl = (await api(f3.url, `/v1/joblists/${list[0].id as string}`)).body
        const at = jl.stages[0].jobs[0].attempts[0]?.startedAt
        return at == null ? undefined : new Date(at).getTime()
      }, 30_000, 5)
      out.killJobStartMs.push(started - wall0)
      if (r.status !== 201 && r.status !== 202) throw new Error(`submit after kill: ${r.status}`)
      // A silent stop: f2 freezes (connections stay open); only the heartbeat timeout tells.
      await waitForMaster([f2, f3], 'f2')
      const t1 = performance.now()
      f2.proc.kill('SIGSTOP')
      out.stopAgreeMs.push(await agreeOn([f3], 'f3', t1))
      f2.proc.kill('SIGKILL')
      f2.proc.kill('SIGCONT')
      progress(`failover run ${i + 1}/${runs}: kill→agree ${out.killAgreeMs[i].toFixed(0)} ms, kill→job start ${out.killJobStartMs[i]} ms, silent stop→agree ${out.stopAgreeMs[i].toFixed(0)} ms`)
    } finally {
      await c.stopAll()
    }
  }
  return out
}

export async function convergence (nodes: number, samples: number): Promise<{ p50: number, p99: number, samples: number }> {
  const c = await startCluster(Array.from({ length: nodes }, (_, i) => ({ name: `c${i}`, priority: nodes - i })), [], { fast: false })
  try {
    const xs: number[] = []
    for (let i = 0; i < samples; i++) {
      const src = c.agents[i % nodes]
      // Each node notes the local time it applied an event; all run on this one clock.
      const r = await api(src.url, '/v1/joblists', { body: oneJob(`conv-${i}`) })
      if (r.status !== 201 && r.status !== 202) throw new Error(`submit: ${r.status}`)
      const key = r.body.request as string
      // Each node records when it applied the event, so asking late changes nothing measured;
      // asking rarely keeps the measuring from loading the nodes it measures.
      await new Promise(resolve => setTimeout(resolve, 150))
      const times = await waitFor('the event to reach every node', async () => {
        const ts = await Promise.all(c.agents.map(async a => (await api(a.url, `/v1/state?event=${encodeURIComponent(key)}`)).body.appliedAt as number | null))
        return ts.every(t => t !== null) ? ts as number[] : undefined
      }, 30_000, 100)
      const created = times[c.agents.indexOf(src)]
      xs.push(Math.max(...times) - created)
    }
    progress(`convergence on ${nodes} nodes: p50 ${median(xs).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms`)
    return { p50: Number(median(xs).toFixed(1)), p99: Number(pct(xs, 99).toFixed(1)), samples }
  } finally {
    await c.stopAll()
  }
}

export async function clusterThroughput (nodes: number, n: number, slotsPerNode: number): Promise<{ jobsPerSec: number, seconds: number, cpuMsPerJob: CpuPerJob }> {
  const c = await startCluster(Array.from({ length: nodes }, (_, i) => ({ name: `t${i}`, priority: nodes - i, args: ['--resource', `slot=${slotsPerNode}`] })), [], { fast: false })
  try {
    await waitForMaster(c.agents, 't0')
    const cpu = cpuMeter(c.agents.map(a => a.proc.pid as number))
    const t0 = performance.now()
    let sent = 0
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      while (sent < n) {
        const i = sent++
        const r = await api(c.agents[(i + w) % nodes].url, '/v1/joblists', { body: oneJob(`tp-${i}`) })
        if (r.status !== 201 && r.status !== 202) throw new Error(`submit: ${r.status}`)
      }
    }))
    await waitFor('all joblists to finish', async () => ((await api(c.agents[0].url, '/v1/stats')).body.joblists.succeeded ?? 0) >= n, 600_000, 50)
    const seconds = (performance.now() - t0) / 1000
    const cpuMsPerJob = cpu(n)
    progress(`${nodes} nodes: ${n} joblists in ${seconds.toFixed(2)} s; CPU ms a job: ${JSON.stringify(cpuMsPerJob)}`)
    return { jobsPerSec: Number((n / seconds).toFixed(1)), seconds: Number(seconds.toFixed(2)), cpuMsPerJob }
  } finally {
    await c.stopAll()
  }
}
