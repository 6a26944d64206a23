// Stream fan-out for `npm run bench` (P-5): 100 SSE clients on one agent during a run of
// one-job joblists. Side by side in one run, on fresh agents alike: the throughput without
// clients, then with them, and the delay from a joblist's end (the agent's own clock, on
// this machine) to the moment the slowest of the clients has that change.
import { performance } from 'node:perf_hooks'
import { readSse } from '../src/live/sse.js'
import { api, cleanup, startAgent, waitFor } from '../test/helpers/agent.js'
import { cpuMeter } from './cpu.js'
import { pct } from './mesh.js'

const oneJob = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })

/** One run's throughput, and CPU ms a job of the agent and of this process (the clients, when there are any, and the submitters). */
interface Run { jobsPerSec: number, agentMs: number, benchMs: number }

async function run (url: string, pid: number, n: number, tag: string): Promise<Run> {
  const meter = cpuMeter([pid])
  const t0 = performance.now()
  let sent = 0
  const submitter = async (): Promise<void> => {
    while (sent < n) {
      const i = sent++
      const r = await api(url, '/v1/joblists', { body: oneJob(`${tag}-${i}`) })
      if (r.status !== 201) throw new Error(`submit failed: ${r.status}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, submitter))
  await waitFor('all to finish', async () => {
    const s = (await api(url, '/v1/stats')).body
    return (s.joblists.succeeded ?? 0) >= n
  }, 600_000, 20)
  const jobsPerSec = n / ((performance.now() - t0) / 1000)
  const cpu = meter(n)
  return { jobsPerSec, agentMs: cpu.agents, benchMs: cpu.client }
}

export interface FanoutResult {
  clients: number
  jobs: number
  jobsPerSecWithout: number
  jobsPerSecWith: number
  runsWithout: number[]
  runsWith: number[]
  slowdownPct: number
  /**
   * CPU ms a job (medians of the runs): the agent's, and this process's (the submitters, and
   * with clients their reading of the stream): the clients share the two cores with the agent,
   * so the throughput also falls by what they take. The agent's own cost of serving them is
   * agent.with - agent.without.
   */
  cpuMsPerJob: { agent: { without: number, with: number }, bench: { without: number, with: number } }
  delayMs: { p50: number, p99: number, samples: number }
}

const median = (xs: number[]): number => pct(xs, 50)

/** Without and with clients, alternated (A B A B) so a noisy machine weighs on both alike; medians. */
export async function fanoutBench (progress: (m: string) => void, n = 1000, clients = 100, slots = 2, rounds = 2): Promise<FanoutResult> {
  const without: Run[] = []
  const withC: Run[] = []
  let delays: number[] = []
  for (let r = 0; r < rounds; r++) {
    without.push(await withoutClients(progress, n, slots))
    const w = await withClients(progress, n, clients, slots)
    withC.push(w.run)
    delays = delays.concat(w.delays)
  }
  const runsWithout = without.map(r => r.jobsPerSec)
  const runsWith = withC.map(r => r.jobsPerSec)
  const of = (runs: Run[], k: 'agentMs' | 'benchMs'): number => Number(median(runs.map(r => r[k])).toFixed(2))
  return {
    clients,
    jobs: n,
    jobsPerSecWithout: Number(median(runsWithout).toFixed(1)),
    jobsPerSecWith: Number(median(runsWith).toFixed(1)),
    runsWithout: runsWithout.map(x => Number(x.toFixed(1))),
    runsWith: runsWith.map(x => Number(x.toFixed(1))),
    slowdownPct: Number(((1 - median(runsWith) / median(runsWithout)) * 100).toFixed(1)),
    cpuMsPerJob: { agent: { without: of(without, 'agentMs'), with: of(withC, 'agentMs') }, bench: { without: of(without, 'benchMs'), with: of(withC, 'benchMs') } },
    delayMs: { p50: pct(delays, 50), p99: pct(delays, 99), samples: delays.length }
  }
}

async function withoutClients (progress: (m: string) => void, n: number, slots: number): Promise<Run> {
  progress(`stream fan-out: ${n} one-job joblists without clients`)
  const a = await startAgent({ name: 'fan-a', args: ['--resource', `slot=${slots}`] })
  try { return await run(a.url, a.proc.pid as number, n, 'plain') } finally { await a.stop(); cleanup(a.dataDir) }
}

async function withClients (progress: (m: string) => void, n: number, clients: number, slots: number): Promise<{ run: Run, delays: number[] }> {
  progress(`stream fan-out: ${n} one-job joblists with ${clients} SSE clients`)
  const b = await startAgent({ name: 'fan-b', args: ['--resource', `slot=${slots}`] })
  const ctrl = new AbortController()
  /** joblist ID -> when each client saw it succeeded (ms), and its end time. */
  const seen = new Map<string, { count: number, last: number, endedAt: number }>()
  try {
    let connected = 0
    const readers = Array.from({ length: clients }, async () => {
      const res = await fetch(`${b.url}/v1/events?topic=joblists`, { headers: { accept: 'text/event-stream' }, signal: ctrl.signal })
      connected++
      try {
        for await (const m of readSse(res.body as ReadableStream<Uint8Array>, ctrl.signal)) {
          // (Parse only what matters: the clients share the cores with the agent.)
          if (m.event !== 'change' || !m.data.includes('"state":"succeeded"')) continue
          const j = (JSON.parse(m.data) as { joblist?: { id: string, state: string, endedAt: string | null } }).joblist
          if (j === undefined || j.state !== 'succeeded' || j.endedAt === null) continue
          const now = Date.now()
          const s = seen.get(j.id) ?? { count: 0, last: 0, endedAt: new Date(j.endedAt).getTime() }
          s.count++
          s.last = now
          seen.set(j.id, s)
        }
      } catch { /* aborted at the end */ }
    })
    await waitFor('every client connected', () => connected === clients, 30_000)
    const withClients = await run(b.url, b.proc.pid as number, n, 'fan')
    await waitFor('every client to have every end', () => seen.size >= n && [...seen.values()].every(s => s.count === clients), 60_000, 50)
    ctrl.abort()
    await Promise.all(readers)
    return { run: withClients, delays: [...seen.values()].map(s => s.last - s.endedAt) }
  } finally {
    ctrl.abort()
    await b.stop()
    cleanup(b.dataDir)
  }
}

const isMain = process.argv[1]?.endsWith('fanout.js') === true
if (isMain) {
  const r = await fanoutBench(m => process.stderr.write(`bench: ${m}\n`))
  console.log(JSON.stringify(r))
}
