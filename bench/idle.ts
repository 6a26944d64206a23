// Idle cost of a cluster (issue 12), for `npm run bench` or alone: `node dist/bench/idle.js
// [--quick] [--window S] [--settle S] [--agents N]`. N real agents on loopback, joined to each other as the tests do
// (test/helpers/cluster.ts: each new agent is given every earlier one as a bootstrap peer),
// with the default heartbeat (200 ms / 800 ms) and anti-entropy (2 s) settings and one slot
// each. Once every agent sees all N alive and all agree on the master, and SETTLE_SECONDS have
// passed (`--settle`), nothing is asked of them for the window (10 s by default):
// then each agent process's CPU over the window (from /proc, as % of one core; its fork
// server apart) and its RSS at the end. Median and max over the agents, and their sum. For 20
// agents and for 10 (--quick: 10 only). How long the cluster took to form is reported too; one
// that has not formed 60 s after its last agent started is measured all the same, and said so.
import '../src/polyfill.js'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { writeNewSwarmKey } from '../src/net/swarm-key.js'
import type { Agent } from '../test/helpers/agent.js'
import { ROOT, api, cleanup, sleep, startAgent, tempDir } from '../test/helpers/agent.js'
import { BASE } from '../test/helpers/cluster.js'
import { statTimes } from './cpu.js'
import { pct } from './mesh.js'

/** CIS_BENCH_PROFILE=idle:I[,I]: those agents (by index) run with --cpu-prof (profiles in bench/results/profile/idleI.cpuprofile). */
function profileOf (i: number): { nodeArgs?: string[] } {
  const m = /(?:^|,)idle:([\d,]+)/.exec(process.env.CIS_BENCH_PROFILE ?? '')
  const wanted = m === null ? [] : m[1].split(',').map(Number)
  return wanted.includes(i) ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, 'bench', 'results', 'profile')}`, `--cpu-prof-name=idle${i}.cpuprofile`] } : {}
}

/** A process's own CPU seconds (/proc/<pid>/stat; throws if it is gone). */
const cpuSeconds = (pid: number): number => statTimes(`/proc/${pid}/stat`).self

/**
 * A field of a /proc/<pid> file in MB: of `status` (VmRSS, RssAnon, …), or of `smaps_rollup`
 * (Pss, the proportional set size: the RSS with each shared page divided among the processes
 * that map it, the node executable's among every node process: what one more agent costs the
 * machine). NaN where the file or field is missing.
 */
function procMb (pid: number, file: 'status' | 'smaps_rollup', field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

/**
 * How many times a process's main thread gave up the CPU of its own accord (voluntary context
 * switches, /proc/<pid>/status): an idle event loop's sleeps, so about its wake-ups. NaN where the
 * file is missing.
 */
function sleepsOf (pid: number): number {
  try {
    const m = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1])
  } catch { return NaN }
}

function childrenOf (pid: number): number[] {
  try {
    // (Linux >= 3.5 lists a thread's children; the main thread's are the process's forks.)
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(s => s !== '').map(Number)
  } catch { return [] }
}

export interface IdleFigures {
  agents: number
  windowSeconds: number
  /** Each agent process's CPU over the window, % of one core. */
  cpuPct: { median: number, max: number, sum: number }
  /**
   * Each agent's main thread's wake-ups a second over the window (its voluntary context switches:
   * the event loop going to sleep, so the times it woke): on these VMs a wake-up costs more than
   * the work it brings, so this is what an idle agent's CPU follows (null off Linux).
   */
  wakeupsPerSec: { median: number, max: number } | null
  /** The agent that used the most CPU in the window: its index (0: idle0, the master), its CPU % and wake-ups a second. */
  busiest?: { index: number, master: boolean, cpuPct: number, wakeupsPerSec: number | null }
  /** Its fork server's, summed over the agents, % of one core. */
  forkServersCpuPctSum: number
  rssMb: { median: number, max: number, sum: number }
  /**
   * The anonymous part of the RSS (RssAnon: the JS heap, malloc, stacks): the agent's own
   * memory. The rest is mostly the pages of the node executable itself (~43 MB), which every
   * Node process on the machine maps and shares.
   */
  anonMb: { median: number, max: number }
  /** The proportional set size (shared pages divided among their processes): NaN where /proc has no smaps_rollup. */
  pssMb: { median: number, max: number }
  /** From the first agent's start to all seeing each other and agreeing on a master. */
  formSeconds: number
  /**
   * Whether they did, within formTimeoutSeconds after the last one started. If not, the window
   * is measured all the same (what such a cluster costs), with how many alive nodes the agents
   * saw when it began.
   */
  formed: boolean
  formTimeoutSeconds: number
  aliveSeen: { min: number, median: number }
}

export interface IdleResult { ten: IdleFigures, twenty?: IdleFigures }

const r1 = (x: number): number => Number(x.toFixed(1))
const r2 = (x: number): number => Number(x.toFixed(2))

/** Each agent's view: how many nodes it sees alive, and whom it names master. */
async function views (agents: Agent[]): Promise<Array<{ alive: number, master: string }>> {
  return await Promise.all(agents.map(async a => {
    try {
      const nodes = (await api(a.url, '/v1/nodes')).body.nodes as Array<{ name: string, alive: boolean, master: boolean }>
      return { alive: nodes.filter(x => x.alive).length, master: nodes.find(x => x.master)?.name ?? '' }
    } catch { return { alive: 0, master: '' } }
  }))
}

/**
 * Seconds between the cluster forming and the window (`--settle`). For about a minute after it
 * starts, V8 keeps shrinking an idle agent's heap (its memory reducer: full collections when
 * little is allocated), which a window right after forming counts as idle CPU: 20 agents,
 * window 30 s, alternated (Dec 3 07:37-07:49): 1.83 / 1.7 % a core each after 5 s, 1.23 / 1.2 %
 * after 90 s (the heap the same, 92-98 MB resident). An agent in service has long been past it.
 */
export const SETTLE_SECONDS = 90

export async function idleCluster (progress: (m: string) => void, n: number, windowSeconds = 10, o: { settleSeconds?: number, formTimeoutSeconds?: number } = {}): Promise<IdleFigures> {
  const settleSeconds = o.settleSeconds ?? SETTLE_SECONDS
  const formTimeoutSeconds = o.formTimeoutSeconds ?? 60
  progress(`idle: starting ${n} agents in one cluster`)
  // As test/helpers/cluster.ts starts a cluster (loopback, a shared private network key, each
  // agent given every earlier one as a bootstrap peer), with the default heartbeat, but with a
  // longer wait for it to form than that helper's 30 s, and going on (to measure) if it does not.
  const dir = tempDir('cis-idle-')
  const keyFile = join(dir, 'swarm.key')
  await writeNewSwarmKey(keyFile)
  const agents: Agent[] = []
  const p2p: string[] = []
  const t0 = performance.now()
  try {
    for (let i = 0; i < n; i++) {
      const args = [...BASE, '--swarm-key', keyFile, '--priority', String(n - i), '--resource', 'slot=1', ...p2p.flatMap(p => ['--peer', p])]
      const a = await startAgent({ name: `idle${i}`, dataDir: tempDir('cis-node-'), args, ...profileOf(i) })
      agents.push(a)
      p2p.push((JSON.parse(readFileSync(join(a.dataDir, 'agent.json'), 'utf8')) as { p2p: string[] }).p2p[0])
    }
    progress(`idle: ${n} agents started after ${((performance.now() - t0) / 1000).toFixed(1)} s; waiting (at most ${formTimeoutSeconds} s more) for all to see ${n} alive and agree on idle0 as master`)
    const until = performance.now() + formTimeoutSeconds * 1000
    let v = await views(agents)
    let shown = performance.now()
    const formedNow = (): boolean => v.every(x => x.alive === n && x.master === 'idle0')
    while (!formedNow() && performance.now() < until) {
      await sleep(500)
      v = await views(agents)
      if (performance.now() - shown > 10_000) {
        shown = performance.now()
        progress(`idle: after ${((shown - t0) / 1000).toFixed(0)} s the agents see ${pct(v.map(x => x.alive), 50)} alive (median), ${Math.min(...v.map(x => x.alive))} at the least`)
      }
    }
    const formed = formedNow()
    const formSeconds = (performance.now() - t0) / 1000
    const aliveSeen = { min: Math.min(...v.map(x => x.alive)), median: pct(v.map(x => x.alive), 50) }
    if (formed) progress(`idle: ${n} agents connected, master agreed after ${formSeconds.toFixed(1)} s; settling ${settleSeconds} s, then measuring ${windowSeconds} s`)
    else progress(`idle: WARNING: ${n} agents did not form one cluster within ${formTimeoutSeconds} s of the last start (they see ${aliveSeen.median} alive, median; ${aliveSeen.min} at the least); measuring ${windowSeconds} s all the same`)
    await sleep(settleSeconds * 1000)
    const pids = agents.map(a => a.proc.pid as number)
    const forks = pids.map(childrenOf)
    const forkCpu = (): number => forks.flat().reduce((sum, p) => { try { return sum + cpuSeconds(p) } catch { return sum } }, 0)
    const before = pids.map(cpuSeconds)
    const sleepsBefore = pids.map(sleepsOf)
    const forkBefore = forkCpu()
    const w0 = performance.now()
    await sleep(windowSeconds * 1000)
    const after = pids.map(cpuSeconds)
    const sleepsAfter = pids.map(sleepsOf)
    const forkAfter = forkCpu()
    const secs = (performance.now() - w0) / 1000
    const rss = pids.map(p => procMb(p, 'status', 'VmRSS'))
    const anon = pids.map(p => procMb(p, 'status', 'RssAnon'))
    const pss = pids.map(p => procMb(p, 'smaps_rollup', 'Pss'))
    const cpu = pids.map((_, i) => (after[i] - before[i]) / secs * 100)
    const wakeups = pids.map((_, i) => (sleepsAfter[i] - sleepsBefore[i]) / secs)
    const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
    const f: IdleFigures = {
      agents: n,
      windowSeconds: r1(secs),
      cpuPct: { median: r2(pct(cpu, 50)), max: r2(Math.max(...cpu)), sum: r1(sum(cpu)) },
      wakeupsPerSec: wakeups.some(w => !Number.isFinite(w)) ? null : { median: r1(pct(wakeups, 50)), max: r1(Math.max(...wakeups)) },
      busiest: ((i: number) => ({ index: i, master: i === 0, cpuPct: r2(cpu[i]), wakeupsPerSec: Number.isFinite(wakeups[i]) ? r1(wakeups[i]) : null }))(cpu.indexOf(Math.max(...cpu))),
      forkServersCpuPctSum: r2((forkAfter - forkBefore) / secs * 100),
      rssMb: { median: r1(pct(rss, 50)), max: r1(Math.max(...rss)), sum: Math.round(sum(rss)) },
      anonMb: { median: r1(pct(anon, 50)), max: r1(Math.max(...anon)) },
      pssMb: { median: r1(pct(pss, 50)), max: r1(Math.max(...pss)) },
      formSeconds: r1(formSeconds),
      formed,
      formTimeoutSeconds,
      aliveSeen
    }
    progress(`idle: ${n} agents (${forks.flat().length} fork servers): CPU median ${f.cpuPct.median} %, max ${f.cpuPct.max} % of a core (all ${f.cpuPct.sum} %; the busiest idle${f.busiest?.index ?? '?'}${f.busiest?.master === true ? ', the master' : ''}, ${f.busiest?.wakeupsPerSec ?? '?'} wake-ups a second)${wakeText(f)}; RSS median ${f.rssMb.median} MB, max ${f.rssMb.max} MB (anonymous ${f.anonMb.median} MB, proportional ${f.pssMb.median} MB)`)
    return f
  } finally {
    await Promise.all(agents.map(async a => await a.stop()))
    for (const a of agents) cleanup(a.dataDir)
    cleanup(dir)
  }
}

export async function idleBench (progress: (m: string) => void, o: { quick?: boolean, windowSeconds?: number, settleSeconds?: number } = {}): Promise<IdleResult> {
  const ten = await idleCluster(progress, 10, o.windowSeconds, { settleSeconds: o.settleSeconds })
  if (o.quick === true) return { ten }
  const twenty = await idleCluster(progress, 20, o.windowSeconds, { settleSeconds: o.settleSeconds })
  return { ten, twenty }
}

const wakeText = (f: IdleFigures): string => f.wakeupsPerSec === null ? '' : `, ${f.wakeupsPerSec.median} wake-ups a second (max ${f.wakeupsPerSec.max})`

export function formatIdle (r: IdleResult): string[] {
  const line = (f: IdleFigures): string =>
    `idle cluster, ${String(f.agents).padEnd(2)} agents (${f.windowSeconds} s):    CPU per agent median ${f.cpuPct.median} %, max ${f.cpuPct.max} % of a core (all agents ${f.cpuPct.sum} %)${wakeText(f)}; RSS median ${f.rssMb.median} MB, max ${f.rssMb.max} MB (anonymous: median ${f.anonMb.median} MB, max ${f.anonMb.max} MB; proportional: median ${f.pssMb.median} MB)` +
    (f.formed ? `; formed in ${f.formSeconds} s` : `; NOT FORMED in ${f.formSeconds} s (they saw ${f.aliveSeen.median} alive, median)`)
  return [line(r.ten), ...(r.twenty !== undefined ? [line(r.twenty)] : [])]
}

async function alone (): Promise<void> {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))
  const i = process.argv.indexOf('--window')
  const windowSeconds = i > 0 ? Number(process.argv[i + 1]) : 10
  if (!(windowSeconds > 0 && windowSeconds <= 300)) throw new Error('--window takes seconds, > 0 and <= 300')
  const k = process.argv.indexOf('--settle')
  const settleSeconds = k > 0 ? Number(process.argv[k + 1]) : undefined
  if (settleSeconds !== undefined && !(settleSeconds >= 0 && settleSeconds <= 600)) throw new Error('--settle takes seconds, from 0 to 600')
  const progress = (m: string): void => { process.stderr.write(`bench: ${m}\n`) }
  const j = process.argv.indexOf('--agents')
  if (j > 0) {
    // One size only, e.g. to look at a cluster that does not form.
    const n = Number(process.argv[j + 1])
    if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error('--agents takes a whole number from 1 to 100')
    const f = await idleCluster(progress, n, windowSeconds, { settleSeconds })
    for (const l of formatIdle({ ten: f })) console.log(l)
    console.log(JSON.stringify(f))
    return
  }
  const r = await idleBench(progress, { quick: process.argv.includes('--quick'), windowSeconds, settleSeconds })
  for (const l of formatIdle(r)) console.log(l)
  console.log(JSON.stringify(r))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await alone()
