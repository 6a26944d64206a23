// Schedule figures for `npm run bench` (S-1): how late after its cron instant a run is
// launched and started, on one agent and across a SIGKILL of the master just before the
// instant; and what the master's recurrence pass costs with many schedules (pure).
import { performance } from 'node:perf_hooks'
import { recurrences } from '../src/scheduler/recurrence.js'
import { apply } from '../src/state/reducer.js'
import { emptyState } from '../src/state/types.js'
import { validateJoblist } from '../src/spec/validate.js'
import type { ClusterAgent } from '../test/helpers/cluster.js'
import { startCluster, waitForMaster, waitForMembers } from '../test/helpers/cluster.js'
import { api, cleanup, sleep, startAgent, waitFor } from '../test/helpers/agent.js'
import { pct } from './mesh.js'

const body = (name: string, cron: string): unknown => ({ name, schedule: { cron, overlap: 'allow' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })

interface Lateness { launchMs: number[], startMs: number[] }

/** For each ended run: ms from its instant to its submit (the master's launch) and to its job's start. */
async function lateness (url: string, name: string): Promise<Lateness> {
  const v = (await api(url, `/v1/schedules/${name}?limit=100000`)).body as { runs: Array<{ id: string | null, instant: string, endedAt: string | null }> }
  const out: Lateness = { launchMs: [], startMs: [] }
  for (const r of v.runs) {
    if (r.id === null || r.endedAt === null) continue
    const jl = (await api(url, `/v1/joblists/${r.id}`)).body
    const at = new Date(r.instant).getTime()
    out.launchMs.push(new Date(jl.submittedAt as string).getTime() - at)
    const started = jl.stages[0].jobs[0].attempts[0]?.startedAt as string | undefined
    if (started !== undefined) out.startMs.push(new Date(started).getTime() - at)
  }
  return out
}

const summary = (xs: number[]): { p50: number, p99: number, n: number } => ({ p50: pct(xs, 50), p99: pct(xs, 99), n: xs.length })

export interface ScheduleBench {
  oneAgent: { launchMs: { p50: number, p99: number, n: number }, startMs: { p50: number, p99: number, n: number } }
  afterKill: { launchMs: number[], startMs: number[] }
  passUsPer1000Schedules: number
}

export async function scheduleBench (progress: (m: string) => void, seconds = 12, kills = 3): Promise<ScheduleBench> {
  progress(`schedules: a run every second on one agent for ${seconds} s`)
  const agent = await startAgent({ name: 'sched-bench', args: ['--resource', 'slot=4'] })
  let one: Lateness
  try {
    await api(agent.url, '/v1/joblists', { body: body('every-second', '* * * * * *') })
    await sleep(seconds * 1000)
    await api(agent.url, '/v1/schedules/every-second', { method: 'DELETE' })
    await sleep(500)
    one = await lateness(agent.url, 'every-second')
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
  }

  progress(`schedules: SIGKILL the master 300 ms before an instant (${kills} runs)`)
  const afterKill: Lateness = { launchMs: [], startMs: [] }
  for (let i = 0; i < kills; i++) {
    const c = await startCluster([{ name: 's1', priority: 3 }, { name: 's2', priority: 2 }, { name: 's3', priority: 1 }], [], { fast: false })
    try {
      await waitForMaster(c.agents, 's1')
      const [s1, s2, s3] = c.agents as [ClusterAgent, ClusterAgent, ClusterAgent]
      await api(s2.url, '/v1/joblists', { body: body('every5', '*/5 * * * * *') })
      await waitFor('a first run', async () => ((await api(s2.url, '/v1/schedules/every5')).body.runs as unknown[]).length > 0, 30_000)
      const next = new Date((await api(s2.url, '/v1/schedules/every5')).body.next as string).getTime()
      await sleep(Math.max(0, next - 300 - Date.now()))
      await s1.kill()
      await waitForMembers([s2, s3], 2)
      const l = await waitFor('the instant after the kill', async () => {
        const x = await lateness(s3.url, 'every5')
        const v = (await api(s3.url, '/v1/schedules/every5')).body as { runs: Array<{ id: string, instant: string, endedAt: string | null }> }
        const k = v.runs.findIndex(r => new Date(r.instant).getTime() === next && r.endedAt !== null)
        if (k < 0) return undefined
        return { launch: new Date((await api(s3.url, `/v1/joblists/${v.runs[k].id}`)).body.submittedAt as string).getTime() - next, all: x }
      }, 30_000, 100)
      afterKill.launchMs.push(l.launch)
      const started = l.all.startMs[l.all.launchMs.indexOf(l.launch)]
      if (started !== undefined) afterKill.startMs.push(started)
    } finally {
      await c.stopAll()
    }
  }

  progress('schedules: the master\'s recurrence pass over 1,000 schedules (pure)')
  const state = emptyState()
  let seq = 0
  for (let i = 0; i < 1000; i++) {
    const r = validateJoblist({ name: `s${i}`, schedule: { cron: `${i % 60} * * * *` }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
    if (!r.ok) throw new Error('bad bench schedule')
    apply(state, { origin: 'bench', seq: ++seq, ts: 1_000, lc: 0, type: 'schedule', body: { spec: r.spec, owner: 'bench' } })
  }
  const now = 1_000 + 30_000 // nothing due: the common pass
  recurrences({ state, now, masterSince: 0 })
  const rounds = 50
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) recurrences({ state, now, masterSince: 0 })
  const passUs = (performance.now() - t0) * 1000 / rounds

  return {
    oneAgent: { launchMs: summary(one.launchMs), startMs: summary(one.startMs) },
    afterKill,
    passUsPer1000Schedules: Math.round(passUs)
  }
}
