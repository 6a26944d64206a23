// `npm run bench`: figures measured side by side in one run; writes bench/results/latest.json.
//  1. raw spawn rate: a fresh Node process spawning `sh -c true` with the agent's concurrency (the physical limit)
//  2. agent throughput: 1,000 one-job joblists running `true` on one agent
//  3. submit-to-start latency of a single job on an idle agent (p50, p99)
//  4. idle agent memory (RSS)
//  5. CLI start-up: `cis --version` and `cis status` against the idle agent (bench/cli-start.ts)
// and (issue 12) what a snapshot costs (bench/snapshot.ts), a master's notification passes (bench/notify.ts), a message's steps cold vs warm (bench/cold.ts), CPU ms a job per role on 3 agents (bench/roles.ts), the ingest rate of one agent
// (bench/ingest.ts) and of its own path without the network (bench/ingest-core.ts), each role's own
// path in one process without the network (bench/roles-core.ts: the proxy for the per-role targets), idle
// clusters of 10 and 20 agents (bench/idle.ts) and the fork server's CPU a job (bench/fork-server.ts); --quick runs these short (200 jobs, 10,000
// events over the network and 5,000 without, 10 agents only).
import '../src/polyfill.js'
import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { api, cleanup, ROOT, startAgent, waitFor } from '../test/helpers/agent.js'
import { clusterThroughput, convergence, failover, pct } from './mesh.js'
import { schedulerBench } from './scheduler.js'
import { scheduleBench } from './schedules.js'
import { fanoutBench } from './fanout.js'
import { formatRecords, recordsBench } from './records.js'
import { exportBench } from './export.js'
import { cpuMeter } from './cpu.js'
import { cliStart, formatCliStart } from './cli-start.js'
import type { CpuPerJob } from './cpu.js'
import { formatRoles, rolesBench } from './roles.js'
import { formatIngest, ingestBench } from './ingest.js'
import { formatIngestCore, ingestCoreBench } from './ingest-core.js'
import { formatRolesCore, rolesCoreBench } from './roles-core.js'
import { formatIdle, idleBench } from './idle.js'
import { forkServerBench, formatForkServer } from './fork-server.js'
import { formatSnapshot, formatSnapshotGrowth, snapshotBench, snapshotGrowth } from './snapshot.js'
import { formatNotify, notifyBench } from './notify.js'
import { coldBench, formatCold, machineMitigation } from './cold.js'

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const N = arg('jobs', 1000)
const LATENCY_SAMPLES = arg('samples', 100)
const CONCURRENCY = arg('concurrency', availableParallelism())
const MESH = !process.argv.includes('--no-mesh')
const QUICK = process.argv.includes('--quick')
/**
 * How long the agent sits idle before its RSS is read. Its start grows V8's young generation to
 * its cap (16 MB: two semi-spaces of 8), and V8's memory reducer shrinks it back to 1 MB some
 * 5-20 s later, when it sees the agent idle: read at 15 s (until Dec 7), the figure was 77-80 MB
 * or 92 MB as the reducer had run or not (docs/benchmarks.md, Dec 7 13:10). At 45 s it has.
 */
const IDLE_SETTLE_MS = 45_000

function progress (msg: string): void { process.stderr.write(`bench: ${msg}\n`) }

const median = (xs: number[]): number => pct(xs, 50)

/** The raw spawn rate, in a fresh process (see raw-spawn.ts). */
async function rawSpawnRate (n: number, concurrency: number): Promise<{ rate: number, cpuMsPerSpawn: number }> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [join(ROOT, 'dist', 'bench', 'raw-spawn.js'), String(n), String(concurrency)], { timeout: 600_000 }, (err, stdout) => err !== null ? reject(err) : resolve(stdout))
  })
  return JSON.parse(out) as { rate: number, cpuMsPerSpawn: number }
}

function rssMb (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1]) / 1024
}

const oneJob = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })

async function finishedCount (url: string): Promise<number> {
  const s = (await api(url, '/v1/stats')).body
  return (s.joblists.succeeded ?? 0) + (s.joblists.failed ?? 0)
}

async function throughput (url: string, pid: number, n: number): Promise<{ jobsPerSec: number, seconds: number, cpuMsPerJob: CpuPerJob }> {
  const baseline = await finishedCount(url)
  const cpu = cpuMeter([pid])
  const t0 = performance.now()
  let sent = 0
  const submitter = async (): Promise<void> => {
    while (sent < n) {
      const i = sent++
      const r = await api(url, '/v1/joblists', { body: oneJob(`tp-${i}`) })
      if (r.status !== 201) throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body)}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, submitter))
  progress(`submitted ${n} joblists in ${((performance.now() - t0) / 1000).toFixed(2)} s; waiting for them to finish`)
  let last = -1
  await waitFor('all joblists to finish', async () => {
    const done = await finishedCount(url) - baseline
    if (Math.floor(done / 250) !== Math.floor(last / 250)) progress(`${done}/${n} finished`)
    last = done
    return done >= n
  }, 600_000, 20)
  const seconds = (performance.now() - t0) / 1000
  return { jobsPerSec: n / seconds, seconds, cpuMsPerJob: cpu(n) }
}

async function latency (url: string, samples: number): Promise<{ p50: number, p99: number, mean: number }> {
  const xs: number[] = []
  // The first few jobs warm up the code paths (JIT, the fork server); they are not counted.
  const WARMUP = 5
  for (let i = -WARMUP; i < samples; i++) {
    const t0 = Date.now()
    const r = await api(url, '/v1/joblists', { body: oneJob(`lat-${i}`) })
    const id = r.body.id as string
    const jl = await waitFor('the job to start', async () => {
      const b = (await api(url, `/v1/joblists/${id}`)).body
      return b.stages[0].jobs[0].attempts[0]?.startedAt != null && ['succeeded', 'failed'].includes(b.state) ? b : undefined
    }, 30_000, 5)
    if (i >= 0) xs.push(new Date(jl.stages[0].jobs[0].attempts[0].startedAt).getTime() - t0)
  }
  return { p50: pct(xs, 50), p99: pct(xs, 99), mean: xs.reduce((a, b) => a + b, 0) / xs.length }
}

async function main (): Promise<void> {
  progress('the pure scheduler: one pass over large queues')
  const sched = schedulerBench(progress)
  const snapshots = snapshotBench(progress, QUICK ? [1000] : [1000, 10_000], QUICK ? [10_000] : [10_000, 100_000], [10_000])
  const snapshotGrowthFigures = snapshotGrowth(progress, QUICK ? 2000 : 10_000)
  const notifyFigures = notifyBench(progress, QUICK ? [1000] : [1000, 4000])
  progress('a message\'s steps, cold vs warm')
  const cold = coldBench()
  progress(`raw spawn rate: ${N} x sh -c true, concurrency ${CONCURRENCY}`)
  const rawRun = await rawSpawnRate(N, CONCURRENCY)
  const raw = rawRun.rate
  progress(`raw spawn rate: ${raw.toFixed(1)}/s (${rawRun.cpuMsPerSpawn} CPU ms a spawn)`)

  const agent = await startAgent({ name: 'bench', args: ['--resource', `slot=${CONCURRENCY}`] })
  try {
    // Idle means settled: the start's garbage collected (V8 does it in idle time; at 1 s an agent
    // still held ~10 MB of it), as idle.ts measures it after the cluster formed and a window passed.
    await new Promise(resolve => setTimeout(resolve, IDLE_SETTLE_MS))
    const idleRss = rssMb(agent.proc.pid as number)
    progress(`idle agent RSS: ${idleRss.toFixed(1)} MB`)
    const cli = await cliStart(agent.url, 7, progress)
    progress(`submit-to-start latency: ${LATENCY_SAMPLES} single jobs on an idle agent`)
    const lat = await latency(agent.url, LATENCY_SAMPLES)
    progress(`latency p50 ${lat.p50} ms, p99 ${lat.p99} ms`)
    progress(`throughput: ${N} one-job joblists`)
    const tp = await throughput(agent.url, agent.proc.pid as number, N)
    const busyRss = rssMb(agent.proc.pid as number)
    await agent.stop()
    let mesh: Record<string, unknown> | undefined
    if (MESH) {
      progress('failover: 3 agents, SIGKILL the master (5 runs), then SIGSTOP the next one')
      const fo = await failover(5)
      progress('gossip convergence: 10 agents')
      const conv = await convergence(10, 100)
      progress(`throughput on 3 agents (${CONCURRENCY} slots each): ${N} one-job joblists`)
      const three = await clusterThroughput(3, N, CONCURRENCY)
      mesh = {
        failover: {
          killToAgreeMs: { median: Number(median(fo.killAgreeMs).toFixed(1)), runs: fo.killAgreeMs.map(x => Number(x.toFixed(1))) },
          killToJobStartMs: { median: median(fo.killJobStartMs), runs: fo.killJobStartMs },
          silentStopToAgreeMs: { median: Number(median(fo.stopAgreeMs).toFixed(1)), runs: fo.stopAgreeMs.map(x => Number(x.toFixed(1))), heartbeatTimeoutMs: fo.heartbeatTimeoutMs }
        },
        convergence10: conv,
        threeNodes: three
      }
    }
    const schedules = await scheduleBench(progress)
    const fanout = await fanoutBench(progress, N, 100, CONCURRENCY)
    const records = await recordsBench(progress)
    const exportFigures = await exportBench(progress)
    const roles = await rolesBench(progress, { jobs: QUICK ? Math.min(N, 200) : N, slots: CONCURRENCY, ...(QUICK ? { warmup: 200 } : {}) })
    const ingest = await ingestBench(progress, { jobs: QUICK ? 2000 : 10_000, rounds: QUICK ? 1 : 3 })
    const ingestCore = await ingestCoreBench(progress, { jobs: QUICK ? 1000 : 4000 })
    const rolesCore = await rolesCoreBench(progress, QUICK ? { jobs: 500, warm: 500, rounds: 1 } : {})
    const idle = await idleBench(progress, { quick: QUICK })
    const forkServer = await forkServerBench(progress, { jobs: QUICK ? 100 : 200, concurrency: CONCURRENCY })
    const rawAfterRun = await rawSpawnRate(Math.min(N, 500), CONCURRENCY)
    const rawAfter = rawAfterRun.rate
    const rawMean = (raw + rawAfter) / 2
    const report = {
      at: new Date().toISOString(),
      node: process.version,
      cores: availableParallelism(),
      concurrency: CONCURRENCY,
      jobs: N,
      rawSpawnPerSec: Number(rawMean.toFixed(1)),
      rawSpawnRuns: [Number(raw.toFixed(1)), Number(rawAfter.toFixed(1))],
      // CPU ms one job costs, per process: raw spawn (the loop and its sh) next to the agents.
      cpuMsPerJob: {
        rawSpawn: Number(((rawRun.cpuMsPerSpawn + rawAfterRun.cpuMsPerSpawn) / 2).toFixed(2)),
        oneAgent: tp.cpuMsPerJob,
        ...(mesh !== undefined ? { threeAgents: (mesh.threeNodes as { cpuMsPerJob: CpuPerJob }).cpuMsPerJob } : {})
      },
      agentJobsPerSec: Number(tp.jobsPerSec.toFixed(1)),
      agentSeconds: Number(tp.seconds.toFixed(2)),
      ratio: Number((tp.jobsPerSec / rawMean).toFixed(3)),
      latencyMs: { p50: lat.p50, p99: lat.p99, mean: Number(lat.mean.toFixed(2)), samples: LATENCY_SAMPLES },
      idleRssMb: Number(idleRss.toFixed(1)),
      rssAfterMb: Number(busyRss.toFixed(1)),
      scheduler: sched,
      snapshots,
      snapshotGrowth: snapshotGrowthFigures,
      notify: notifyFigures,
      cold,
      machine: machineMitigation(),
      schedules,
      streamFanout: fanout,
      records,
      export: exportFigures,
      roles,
      ingest,
      ingestCore,
      rolesCore,
      idle,
      forkServer,
      cli,
      ...(mesh !== undefined ? { mesh: { ...mesh, threeNodeRatio: Number(((mesh.threeNodes as { jobsPerSec: number }).jobsPerSec / rawMean).toFixed(3)) } } : {}),
      targets: { cliStatusMs: cli.targets.statusMs, schedulerPlacementsPerSec: '>= 50000', ratio: '>= 0.75', latencyP50Ms: '< 10', latencyP99Ms: '< 50', idleRssMb: '< 80', failoverKillMedianMs: '< 250', silentStop: 'heartbeat timeout + 100 ms', convergenceP99Ms: '< 100', threeNodeRatio: '>= 0.75', ingestEventsPerSec: ingest.target }
    }
    const dir = join(ROOT, 'bench', 'results')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
    console.log(`raw spawn (sh -c true, concurrency ${CONCURRENCY}): ${report.rawSpawnPerSec}/s`)
    console.log(`agent, ${N} one-job joblists:             ${report.agentJobsPerSec} jobs/s  (ratio ${report.ratio}, target >= 0.75)`)
    console.log(`submit-to-start latency:                  p50 ${lat.p50} ms, p99 ${lat.p99} ms  (targets < 10, < 50)`)
    console.log(`idle agent RSS:                           ${report.idleRssMb} MB (target < 80); after the run ${report.rssAfterMb} MB`)
    for (const line of formatCliStart(cli)) console.log(line)
    if (report.mesh !== undefined) {
      const m = report.mesh as any
      console.log(`failover, SIGKILL master -> survivors agree:  median ${m.failover.killToAgreeMs.median} ms (target < 250)`)
      console.log(`failover, SIGKILL master -> new job starts:   median ${m.failover.killToJobStartMs.median} ms`)
      console.log(`failover, silent stop -> survivors agree:    median ${m.failover.silentStopToAgreeMs.median} ms (target <= ${m.failover.silentStopToAgreeMs.heartbeatTimeoutMs + 100})`)
      console.log(`gossip convergence, 10 nodes:                p50 ${m.convergence10.p50} ms, p99 ${m.convergence10.p99} ms (target p99 < 100)`)
      console.log(`3 nodes, ${N} one-job joblists:               ${m.threeNodes.jobsPerSec} jobs/s (ratio ${m.threeNodeRatio} of raw spawn; 1 node: ${report.agentJobsPerSec})`)
    }
    console.log(`schedules, instant -> run launched:           p50 ${schedules.oneAgent.launchMs.p50} ms, p99 ${schedules.oneAgent.launchMs.p99} ms; -> job started p50 ${schedules.oneAgent.startMs.p50} ms (${schedules.oneAgent.launchMs.n} runs)`)
    console.log(`schedules, master SIGKILLed 300 ms before:    instant -> run launched ${schedules.afterKill.launchMs.join(', ')} ms (each instant ran once)`)
    console.log(`schedules, recurrence pass, 1,000 schedules:  ${schedules.passUsPer1000Schedules} us`)
    console.log(`stream fan-out, ${fanout.clients} SSE clients:           ${fanout.jobsPerSecWith} jobs/s vs ${fanout.jobsPerSecWithout} without (${fanout.slowdownPct} % lower; target < 10); event -> 100th client p50 ${fanout.delayMs.p50} ms, p99 ${fanout.delayMs.p99} ms; CPU ms a job: agent ${fanout.cpuMsPerJob.agent.with} vs ${fanout.cpuMsPerJob.agent.without}, the bench's process (the clients, the submitters) ${fanout.cpuMsPerJob.bench.with} vs ${fanout.cpuMsPerJob.bench.without}`)
    for (const line of formatRecords(records)) console.log(line)
    console.log('skipped' in exportFigures
      ? `export to PostgreSQL: skipped (${exportFigures.skipped})`
      : `export to PostgreSQL, ${exportFigures.joblists} joblists:     ${exportFigures.rowsPerSec} rows/s (${exportFigures.rows} rows, ${exportFigures.events} events in ${exportFigures.seconds} s, cis export --once, CLI start included)`)
    const c = report.cpuMsPerJob
    // With every process on the same cores, CPU per job bounds the rate: cores x 1000 / total.
    const cpuLine = (x: CpuPerJob): string => `${x.total} (agents ${x.agents}, fork servers ${x.forkServers}, jobs ${x.jobs}, bench client ${x.client}; at most ${Math.round(report.cores * 1000 / x.total)}/s on ${report.cores} cores)`
    console.log(`CPU ms a job: raw spawn ${c.rawSpawn}; 1 agent ${cpuLine(c.oneAgent)}${c.threeAgents !== undefined ? `; 3 agents ${cpuLine(c.threeAgents)}` : ''}`)
    const minAmple = Math.min(...sched.ample.map(f => f.placementsPerSec))
    console.log(`scheduler, placements a second (ample):  ${minAmple} at the least (target >= 50000); pass on 100k queued x 1000 nodes: ${sched.scarce[5].passMs} ms`)
    console.log(`scheduler, ms per pass per 1k joblists:  ${sched.scarce.map(f => `${f.joblists / 1000}k x ${f.nodes}: ${f.msPerThousandJoblists}`).join(', ')}`)
    console.log(`scheduler, saturated pass (every instance held), walking the queue vs the master's indexes: ${sched.saturated.map(f => `${f.policy}${f.levels > 1 ? `/${f.levels} priorities` : ''}${f.owners > 1 ? `/${f.owners} owners` : ''} ${f.joblists - f.running} queued: ${f.walkMs} vs ${f.indexedMs} ms`).join(', ')}`)
    console.log(`scheduler, fair-share usage of a pass (ended joblists in memory), from every joblist vs the master's index: ${sched.fairShare.map(f => `${f.held}: ${f.walkMs} vs ${f.indexedMs} ms`).join(', ')}`)
    for (const line of [...formatSnapshot(snapshots), ...formatSnapshotGrowth(snapshotGrowthFigures), ...formatNotify(notifyFigures), ...formatCold(cold), ...formatRoles(roles), ...formatIngest(ingest), ...formatIngestCore(ingestCore), ...formatRolesCore(rolesCore), ...formatIdle(idle), ...formatForkServer(forkServer)]) console.log(line)
    console.log(`report: bench/results/latest.json`)
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
  }
}

await main()
