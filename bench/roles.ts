// CPU per job per role (issue 12), for `npm run bench` or alone: `node dist/bench/roles.js
// [--jobs N] [--warmup N] [--quick] [--concurrency N] [--submit-to master|executor|observer]
// [--pin master|executor|observer] [--batch-window MS] [--rate JOBLISTS_PER_SEC]`.
// Three real agents on loopback, in one cluster, each in one role only:
//   master    wins the election (highest priority) and has NO resources (`resources: {}` in a
//             config file), so it never runs a job: it accepts, schedules, assigns;
//   executor  has the slots: it runs every job (through its fork server);
//   observer  neither: no resources, the lowest priority; it only applies what it hears.
// N one-job joblists running `true` are submitted through one agent's API (the master's by
// default: say which with --submit-to), as fast as it takes them (the queue fills: a job is
// placed when one ends) or with --rate at that many a second (below what the cluster runs, a
// joblist is placed as it is accepted: its accept carries its assign, one event less), and the
// run ends when every node has all of them succeeded. For each role: the agent process's own CPU ms a job, and apart from it its fork
// server's and the jobs' (as cpu.ts reads them from /proc); the events it wrote and the
// gossip messages of events it sent and received, a job; and its CPU ms a second while the
// cluster sat idle just before (heartbeats, anti-entropy: part of every figure a job, in
// proportion to the run's length). A warm-up (not counted: 1,000 jobs, --quick 200) runs
// first, so the figures are those of agents that have been running, not of V8 compiling
// their code (see DEFAULT_WARMUP).
//
// --pin ROLE (Linux, `taskset`, 2 cores or more): that role's agent (and what it starts: the
// executor's fork server and jobs) gets the last core to itself, every other process of the
// run (this one, the other agents) the others: the closest this one machine comes to a machine
// per node. Between two of its messages no other process runs on its core and evicts what its
// code left in the core's caches (bench/cold.ts measures what that eviction costs).
import '../src/polyfill.js'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { ROOT, api, waitFor } from '../test/helpers/agent.js'
import type { ClusterAgent } from '../test/helpers/cluster.js'
import { startCluster, waitForMaster } from '../test/helpers/cluster.js'
import { cpuMeter } from './cpu.js'
import { EVENTS_PER_JOB } from './stream.js'

export const ROLES = ['master', 'executor', 'observer'] as const

/** CIS_BENCH_PROFILE=ROLE[,ROLE]: those agents run with --cpu-prof (profiles in bench/results/profile/). */
function profileOf (role: string): { nodeArgs?: string[] } {
  const wanted = (process.env.CIS_BENCH_PROFILE ?? '').split(',')
  return wanted.includes(role) ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'results', 'profile')}`, `--cpu-prof-name=${role}.cpuprofile`] } : {}
}
export type Role = typeof ROLES[number]

/**
 * Jobs run before the measured ones. V8 keeps compiling an agent's code over its first
 * thousands of events (on its worker thread, which /proc counts): with 20 jobs of warm-up the
 * figures a job were ~20 % above those after 1,000 (Dec 2 09:05, `--jobs 600`, alternated, two
 * each: master 5.63 / 5.37 vs 4.82 / 4.35 ms, executor 5.97 / 5.83 vs 4.67 / 4.53, observer
 * 4.23 / 3.92 vs 3.35 / 3.08). An agent in service has run far longer than that.
 */
export const DEFAULT_WARMUP = 1000

export interface RoleFigures {
  /**
   * CPU ms a job: the agent process itself, its fork server, the jobs it reaped. beyondIdle:
   * the agent's less what it would have spent idle over the run (idleMsPerSec x seconds /
   * jobs): what the jobs themselves cost it. The targets are for `agent`.
   */
  cpuMsPerJob: { agent: number, system: number, beyondIdle: number, forkServer: number, jobs: number, total: number }
  /** Events this node wrote to its own log, a job. */
  eventsWrittenPerJob: number
  /** Gossip messages on the events topic, a job. */
  gossipPerJob: { sent: number, received: number }
  /**
   * Frames of the sync protocol (anti-entropy pulls, both directions) a job, and the HTTP API
   * requests a job this node served (most are this bench's polling: every 50 ms, two requests
   * an agent) with their wall-clock ms a job.
   */
  syncPerJob: number
  /** Ed25519 checks of peers' signatures a job (one a signed batch; fewer where a later batch of the same origin in one message vouches for it). */
  signatureChecksPerJob: number
  api: { requestsPerJob: number, msPerJob: number }
  /**
   * The agent process's CPU ms a second while the cluster was idle (just before the run):
   * heartbeats and anti-entropy. Over the run it adds idleMsPerSec x seconds / jobs to the
   * agent's CPU a job.
   */
  idleMsPerSec: number
  /**
   * Heartbeat messages of their own this node received a second over the run (at rest: five
   * from each peer). Since Dec 5 a busy peer's beats come carried on its frames of events
   * (src/cluster/carried-beats.ts), which count as event messages, not here.
   */
  heartbeatsReceivedPerSec: number
}

export interface RolesResult {
  jobs: number
  warmup: number
  submittedTo: Role
  slots: number
  jobsPerSec: number
  seconds: number
  roles: Record<Role, RoleFigures>
  /** The master's scheduler passes (cis_scheduler_pass_duration_seconds): how many a job, and their ms a job. */
  masterPasses: { perJob: number, msPerJob: number }
  /** --pin: the role whose agent had the last core to itself (every other process the other cores). */
  pinned?: Role
  /** This bench process (HTTP client, polling), CPU ms a job. */
  clientCpuMsPerJob: number
  /** Every process above together, CPU ms a job. */
  totalCpuMsPerJob: number
}

const oneJob = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
const r2 = (x: number): number => Number(x.toFixed(2))
const r3 = (x: number): number => Number(x.toFixed(3))

async function succeeded (a: ClusterAgent): Promise<number> {
  return (await api(a.url, '/v1/stats')).body.joblists.succeeded ?? 0
}

/** What a node counted so far: its own events written, gossip messages of events sent and received, scheduler passes and their seconds. */
async function counters (a: ClusterAgent): Promise<{ written: number, sent: number, received: number, beatsReceived: number, passes: number, passSeconds: number, sync: number, checks: number, apiRequests: number, apiSeconds: number }> {
  const [state, metrics] = await Promise.all([api(a.url, '/v1/state?hash=false'), api(a.url, '/metrics')])
  const text = String(metrics.body)
  const gossip = (direction: string, topic = 'cis/events/1'): number => {
    const m = new RegExp(`^cis_gossip_messages_total\\{direction="${direction}",topic="${topic}"\\} (\\S+)$`, 'm').exec(text)
    return m === null ? 0 : Number(m[1])
  }
  /** A metric's values, one a label set. */
  const values = (name: string): number[] => [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map(m => Number(m[1]))
  const metric = (name: string): number => values(name)[0] ?? 0
  /** The sum of a metric over all its label sets. */
  const total = (name: string): number => values(name).reduce((t, v) => t + v, 0)
  return { written: (state.body.origins as Record<string, number>)[a.id] ?? 0, sent: gossip('sent'), received: gossip('received'), beatsReceived: gossip('received', 'cis/heartbeat/1'), passes: metric('cis_scheduler_pass_duration_seconds_count'), passSeconds: metric('cis_scheduler_pass_duration_seconds_sum'), sync: total('cis_sync_messages_total'), checks: metric('cis_signature_checks_total'), apiRequests: total('cis_api_request_duration_seconds_count'), apiSeconds: total('cis_api_request_duration_seconds_sum') }
}

/** Bind a process, its threads and the processes it started (the executor's fork server), and what they start from now on, to these cores (`taskset -a -p`). */
function pinTo (pid: number, cores: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' })
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let children = ''
    try { children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8') } catch {}
    for (const child of children.split(' ').filter(x => x !== '')) pinTo(Number(child), cores)
  }
}

/** Submit `n` one-job joblists, eight at a time; with `rate`, the i-th not before i / rate seconds from the start. */
async function submitAll (url: string, n: number, tag: string, rate?: number): Promise<void> {
  let sent = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (sent < n) {
      const i = sent++
      if (rate !== undefined) await sleep(Math.max(0, t0 + i * 1000 / rate - performance.now()))
      const r = await api(url, '/v1/joblists', { body: oneJob(`${tag}-${i}`) })
      if (r.status !== 201 && r.status !== 202) throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body)}`)
    }
  }))
}

async function events (a: ClusterAgent): Promise<number> {
  return (await api(a.url, '/v1/state?hash=false')).body.events as number
}

/** Submit, accept carrying the assign (a job placed as it is accepted), finished with the start. */
const FEWEST_EVENTS_PER_JOB = EVENTS_PER_JOB - 1

/**
 * Wait until every node has `n` more joblists succeeded than `base` says. Polled cheaply: first
 * the event count (`/v1/state?hash=false`, 0.2 ms of an agent's CPU; a one-job joblist is
 * FEWEST_EVENTS_PER_JOB events at least: one more when its job waited in the queue, its assign
 * an event of its own, and one more when its job outlives the start hold,
 * src/node/start-hold.ts), then `/v1/stats` to confirm (whose cost grows with the joblists
 * held: 0.6 ms at 1,000).
 */
async function allSucceeded (agents: ClusterAgent[], base: { events: number[], succeeded: number[] }, n: number, progress: (m: string) => void): Promise<void> {
  let last = -1
  await waitFor(`all ${n} joblists' events to reach every node`, async () => {
    const counts = await Promise.all(agents.map(events))
    const least = Math.min(...counts.map((c, i) => Math.floor((c - base.events[i]) / FEWEST_EVENTS_PER_JOB)))
    if (Math.floor(least / 250) !== Math.floor(last / 250)) progress(`roles: the events of ${least}/${n} jobs on every node`)
    last = least
    return least >= n
  }, 600_000, 50)
  await waitFor(`all ${n} joblists to succeed on every node`, async () => (await Promise.all(agents.map(succeeded))).every((c, i) => c - base.succeeded[i] >= n), 600_000, 50)
}

async function baseline (agents: ClusterAgent[]): Promise<{ events: number[], succeeded: number[] }> {
  return { events: await Promise.all(agents.map(events)), succeeded: await Promise.all(agents.map(succeeded)) }
}

export async function rolesBench (progress: (m: string) => void, o: { jobs?: number, slots?: number, submitTo?: Role, warmup?: number, pin?: Role, batchWindowMs?: number, rate?: number } = {}): Promise<RolesResult> {
  const n = o.jobs ?? 1000
  const cores = availableParallelism()
  if (o.pin !== undefined) {
    if (process.platform !== 'linux' || cores < 2) throw new Error('--pin needs Linux and 2 cores or more')
    // This process first: the agents it starts inherit the other cores; the pinned one moves after.
    pinTo(process.pid, cores === 2 ? '0' : `0-${cores - 2}`)
  }
  const slots = o.slots ?? cores
  const submitTo = o.submitTo ?? 'master'
  const warmup = o.warmup ?? DEFAULT_WARMUP
  const dir = mkdtempSync(join(tmpdir(), 'cis-roles-'))
  // No resources of its own: an empty set in a config file (the --resource flag only adds types).
  const none = join(dir, 'no-resources.yaml')
  const window = o.batchWindowMs !== undefined ? `batchWindow: ${o.batchWindowMs}ms\n` : ''
  writeFileSync(none, `resources: {}\n${window}`)
  const slotted = join(dir, 'slots.yaml')
  writeFileSync(slotted, window)
  progress(`roles: 3 agents (master without resources, executor with ${slots} slots, observer); ${n} one-job joblists through the ${submitTo}'s API`)
  const c = await startCluster([
    { name: 'master', priority: 2, args: ['--config', none], ...profileOf('master') },
    { name: 'executor', priority: 1, args: ['--config', slotted, '--resource', `slot=${slots}`], ...profileOf('executor') },
    { name: 'observer', priority: 0, args: ['--config', none], ...profileOf('observer') }
  ], [], { fast: false })
  try {
    if (o.pin !== undefined) pinTo(c.byName(o.pin).proc.pid as number, String(cores - 1))
    await waitForMaster(c.agents, 'master')
    const byRole = Object.fromEntries(ROLES.map(r => [r, c.byName(r)])) as Record<Role, ClusterAgent>
    for (const r of ['master', 'observer'] as const) {
      const self = ((await api(byRole[r].url, '/v1/nodes')).body.nodes as Array<{ self: boolean, resources: Record<string, string[]> }>).find(x => x.self)
      if (self === undefined || Object.values(self.resources).some(ids => ids.length > 0)) throw new Error(`the ${r} has resources: ${JSON.stringify(self?.resources)}`)
    }
    const url = byRole[submitTo].url
    if (warmup > 0) {
      const b = await baseline(c.agents)
      progress(`roles: warming up (${warmup} jobs, not counted)`)
      await submitAll(url, warmup, 'warm', o.rate)
      await allSucceeded(c.agents, b, warmup, m => progress(`warm-up: ${m}`))
    }
    // The idle cost first: what heartbeats and anti-entropy take while nothing happens.
    const idleSeconds = 3
    const idleMeters = ROLES.map(r => cpuMeter([byRole[r].proc.pid as number]))
    const i0 = performance.now()
    await new Promise(resolve => setTimeout(resolve, idleSeconds * 1000))
    const idle = idleMeters.map(m => m((performance.now() - i0) / 1000).agents)
    const before = await Promise.all(ROLES.map(async r => await counters(byRole[r])))
    const base = await baseline(c.agents)
    const meters = ROLES.map(r => cpuMeter([byRole[r].proc.pid as number]))
    const t0 = performance.now()
    await submitAll(url, n, 'roles', o.rate)
    progress(`roles: submitted ${n} in ${((performance.now() - t0) / 1000).toFixed(2)} s; waiting for every node to have them succeeded`)
    await allSucceeded(c.agents, base, n, progress)
    const seconds = (performance.now() - t0) / 1000
    const cpu = meters.map(m => m(n))
    const after = await Promise.all(ROLES.map(async r => await counters(byRole[r])))
    const roles = Object.fromEntries(ROLES.map((r, i) => {
      const x = cpu[i]
      return [r, {
        cpuMsPerJob: { agent: x.agents, system: x.agentsSystem, beyondIdle: r2(Math.max(0, x.agents - idle[i] * seconds / n)), forkServer: x.forkServers, jobs: x.jobs, total: r2(x.agents + x.forkServers + x.jobs) },
        eventsWrittenPerJob: r3((after[i].written - before[i].written) / n),
        gossipPerJob: { sent: r3((after[i].sent - before[i].sent) / n), received: r3((after[i].received - before[i].received) / n) },
        syncPerJob: r3((after[i].sync - before[i].sync) / n),
        signatureChecksPerJob: r3((after[i].checks - before[i].checks) / n),
        api: { requestsPerJob: r3((after[i].apiRequests - before[i].apiRequests) / n), msPerJob: r3((after[i].apiSeconds - before[i].apiSeconds) * 1000 / n) },
        idleMsPerSec: idle[i],
        heartbeatsReceivedPerSec: r2((after[i].beatsReceived - before[i].beatsReceived) / seconds)
      }]
    })) as Record<Role, RoleFigures>
    // (Every meter read this process too: one of them is enough.)
    const client = cpu[0].client
    const total = r2(ROLES.reduce((s, r) => s + roles[r].cpuMsPerJob.total, 0) + client)
    const m = ROLES.indexOf('master')
    const masterPasses = { perJob: r2((after[m].passes - before[m].passes) / n), msPerJob: r3((after[m].passSeconds - before[m].passSeconds) * 1000 / n) }
    return { jobs: n, warmup, submittedTo: submitTo, slots, jobsPerSec: Number((n / seconds).toFixed(1)), seconds: r2(seconds), roles, masterPasses, clientCpuMsPerJob: client, totalCpuMsPerJob: total, ...(o.pin !== undefined ? { pinned: o.pin } : {}) }
  } finally {
    await c.stopAll()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function formatRoles (r: RolesResult): string[] {
  const line = (role: Role): string => {
    const f = r.roles[role]
    const c = f.cpuMsPerJob
    return `  ${role.padEnd(9)} agent ${c.agent} ms (${c.system} in the kernel; ${c.beyondIdle} beyond its idle cost), fork server ${c.forkServer}, jobs ${c.jobs} (total ${c.total}); writes ${f.eventsWrittenPerJob} events, gossip ${f.gossipPerJob.sent} sent / ${f.gossipPerJob.received} received, sync frames ${f.syncPerJob}, signature checks ${f.signatureChecksPerJob}, API requests ${f.api.requestsPerJob} (${f.api.msPerJob} ms) a job; heartbeat messages ${f.heartbeatsReceivedPerSec} received a second; idle ${f.idleMsPerSec} ms/s`
  }
  return [
    `roles, 3 agents, ${r.jobs} one-job joblists (submitted to the ${r.submittedTo}${r.pinned !== undefined ? `; the ${r.pinned} alone on a core` : ''}): ${r.jobsPerSec} jobs/s; CPU ms a job per role:`,
    ...ROLES.map(line),
    `  the master's scheduler passes: ${r.masterPasses.perJob} a job, ${r.masterPasses.msPerJob} ms a job`,
    `  bench client ${r.clientCpuMsPerJob} ms; all processes ${r.totalCpuMsPerJob} ms a job`
  ]
}

async function alone (): Promise<void> {
  // Ctrl-C or a kill: exit, so the helper's exit hook SIGKILLs the agents.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))
  const argv = process.argv
  const opt = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i > 0 ? argv[i + 1] : undefined }
  const quick = argv.includes('--quick')
  const jobs = Number(opt('jobs') ?? (quick ? 200 : 1000))
  const slots = Number(opt('concurrency') ?? availableParallelism())
  const submitTo = (opt('submit-to') ?? 'master') as Role
  const warmup = Number(opt('warmup') ?? (quick ? 200 : DEFAULT_WARMUP))
  const pin = opt('pin') as Role | undefined
  const rateText = opt('rate')
  const rate = rateText === undefined ? undefined : Number(rateText)
  if (rate !== undefined && !(rate > 0)) throw new Error('--rate takes joblists a second > 0')
  const batchWindow = opt('batch-window')
  const batchWindowMs = batchWindow === undefined ? undefined : Number(batchWindow)
  if (batchWindowMs !== undefined && !(Number.isInteger(batchWindowMs) && batchWindowMs >= 0)) throw new Error('--batch-window takes whole milliseconds >= 0')
  if (pin !== undefined && !ROLES.includes(pin)) throw new Error(`--pin takes one of ${ROLES.join(', ')}`)
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error('--jobs takes a whole number >= 1')
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error('--warmup takes a whole number >= 0')
  if (!ROLES.includes(submitTo)) throw new Error(`--submit-to takes one of ${ROLES.join(', ')}`)
  const r = await rolesBench(m => process.stderr.write(`bench: ${m}\n`), { jobs, slots, submitTo, warmup, pin, ...(batchWindowMs !== undefined ? { batchWindowMs } : {}), ...(rate !== undefined ? { rate } : {}) })
  for (const l of formatRoles(r)) console.log(l)
  console.log(JSON.stringify(r))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await alone()
