// Stream fan-out for `npm run bench` (P-5): 100 SSE clients on one agent during a run of
// one-job joblists. Side by side in one run, on fresh agents alike: the throughput without
// clients, then with them, and the delay from a joblist's end (the agent's own clock, on
// this machine) to the moment the slowest of the clients has that change.
import { performance } from 'node:perf_hooks'
import { readSse } from '../src/live/sse.js'
import { api, cleanup, startAgent, waitFor } from '../test/helpers/agent.js'
import { pct } from './mesh.js'

const oneJob = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })

async function run (url: string, n: number, tag: string): Promise<number> {
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
  return n / ((performance.now() - t0) / 1000)
}

export interface FanoutResult { clients: number, jobs: number, jobsPerSecWithout: number, jobsPerSecWith: number, runsWithout: number[], runsWith: number[], slowdownPct: number, delayMs: { p50: number, p99: number, samples: number } }

const median = (xs: number[]): number => pct(xs, 50)

/** Without and with clients, alternated (A B A B) so a noisy machine weighs on both alike; medians. */
export async function fanoutBench (progress: (m: string) => void, n = 1000, clients = 100, slots = 2, rounds = 2): Promise<FanoutResult> {
  const runsWithout: number[] = []
  const runsWith: number[] = []
  let delays: number[] = []
  for (let r = 0; r < rounds; r++) {
    runsWithout.push(await withoutClients(progress, n, slots))
    const w = await withClients(progress, n, clients, slots)
    runsWith.push(w.jobsPerSec)
    delays = delays.concat(w.delays)
  }
  const without = median(runsWithout)
  const withC = median(runsWith)
  return {
    clients,
    jobs: n,
    jobsPerSecWithout: Number(without.toFixed(1)),
    jobsPerSecWith: Number(withC.toFixed(1)),
    runsWithout: runsWithout.map(x => Number(x.toFixed(1))),
    runsWith: runsWith.map(x => Number(x.toFixed(1))),
    slowdownPct: Number(((1 - withC / without) * 100).toFixed(1)),
    delayMs: { p50: pct(delays, 50), p99: pct(delays, 99), samples: delays.length }
  }
}

async function withoutClients (progress: (m: string) => void, n: number, slots: number): Promise<number> {
  progress(`stream fan-out: ${n} one-job joblists without clients`)
  const a = await startAgent({ name: 'fan-a', args: ['--resource', `slot=${slots}`] })
  try { return await run(a.url, n, 'plain') } finally { await a.stop(); cleanup(a.dataDir) }
}

async function withClients (progress: (m: string) => void, n: number, clients: number, slots: number): Promise<{ jobsPerSec: number, delays: number[] }> {
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
    const withClients = await run(b.url, n, 'fan')
    await waitFor('every client to have every end', () => seen.size >= n && [...seen.values()].every(s => s.count === clients), 60_000, 50)
    ctrl.abort()
    await Promise.all(readers)
    return { jobsPerSec: withClients, delays: [...seen.values()].map(s => s.last - s.endedAt) }
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
