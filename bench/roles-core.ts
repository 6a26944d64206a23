// CPU a job per role, each role's own path in one process without the network (issue 12):
// `node dist/bench/roles-core.js [--jobs N] [--rounds N] [--quick]`, for `npm run bench` (beside
// roles.ts) or alone: each role run `--rounds` times (3; `--quick` 1), the roles taking turns, its
// median run reported; `--role master|executor|executor-nofork|observer` is one run (a child process started with the
// agent's node flags, as ingest-core.ts does), its figures as one JSON line.
//
// Why: roles.ts measures three real agents on loopback, and on these VMs most of what it reads
// is the machine's (README, "Why a job costs an agent milliseconds here": every wake-up of a
// process empties its TLB, so a message handled every few ms costs 10-38x its warm time). This
// bench is the closest honest proxy for "CPU ms a job for each role" that these machines give:
// the same code, in one process kept busy, so what it reads is this project's code (and
// LevelDB's threads, and for the executor the fork server's messages and the job's files), not
// the wake-ups between messages.
//
// Each run is a real node (src/node/node.ts: its LevelDB store, intake, event log, reducer,
// reactions, snapshots, master role, executor) in a temporary directory, with a stand-in for its
// mesh that says who is alive and catches what it publishes. The other roles are played by this
// process, with events made and signed as those nodes make them, in the shape roles.ts's cluster
// writes them (one-job joblists submitted on the master: a submit carrying its accept, an
// assign, a finished carrying its start: three events a job):
//   master    priority 100, no resources. This process submits (the API's check of the body,
//             `submittedSpec`, then the node's submit: everything but HTTP) with 16 in flight,
//             and plays the executor X: each assign the node publishes is answered, at the next
//             turn, by X's finished (signed, one batch a turn). What X's part costs this process
//             (stamping and signing) is timed around it and taken out.
//   executor  resources {slot: 4}, M the master. This process plays M: each message of M's
//             carries B jobs' submits (with their accepts) and assigns, sent as soon as their
//             slots are free (the node's published finished events say so). The node runs each
//             job (`true`) through its fork server; the fork server and the jobs are other
//             processes, as the issue's target says ("on top of the fork server and the job").
//   executor-nofork  the same, with a fork server that starts nothing (bench/null-fork-server.ts:
//             it answers each request as a job that ended at once). The agent does all it does
//             for a job; the job's fork, exec and run, five to ten times the agent's CPU a job on
//             these VMs and competing with it for the two cores, are left out: the executor's
//             own path measured hot, as the master's and the observer's are. A proxy beside the
//             executor's figure, not instead of it.
//   observer  no resources, lowest priority: fed M's and X's messages (B jobs each) as fast as
//             it takes them; it writes nothing of its own.
// Each run warms up first (WARMUP_JOBS jobs, stream.ts, not counted; `--warm N`), then measures N jobs.
// CIS_ROLES_CORE_PROFILE=FILE with --role: a CPU profile of what is measured, to FILE;
// CIS_ROLES_CORE_HEAP=FILE: a sampling profile of what it allocates (a .heapprofile, objects
// collected since included).
import '../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { submittedSpec } from '../src/api/routes/joblists.js'
import type { AssignBody } from '../src/events/types.js'
import { validateJoblist } from '../src/spec/index.js'
import type { JoblistSpec } from '../src/spec/types.js'
import { acceptOf, carriedAssigns } from '../src/events/types.js'
import { CHAIN_START, signBatch } from '../src/identity/keys.js'
import type { CisNode } from '../src/node/node.js'
import type { Intake } from '../src/node/intake.js'
import { shortCode } from '../src/util/ids.js'
import { VERSION } from '../src/version.js'
import { childRun } from './child-run.js'
import { medianBy } from './median.js'
import { childrenOf, otherThreadsMs, statTimes } from './cpu.js'
import { WARMUP_JOBS, stamp } from './stream.js'
import { benchNode, standInMesh } from './bench-node.js'
import type { StreamOrigin } from './stream.js'

export const CORE_ROLES = ['master', 'executor', 'executor-nofork', 'observer'] as const
export type CoreRole = typeof CORE_ROLES[number]

/** The issue's targets, CPU ms a job (the executor's on top of its fork server and the job). */
export const ROLE_TARGETS: Record<CoreRole, number> = { master: 1, executor: 1, 'executor-nofork': 1, observer: 0.25 }

/** The fork server that starts nothing (executor-nofork). */
const NULL_FORK_SERVER = fileURLToPath(new URL('./null-fork-server.js', import.meta.url))

/** Jobs a message of M's or X's carries (executor and observer runs); roles.ts's observer got 0.19-0.58 messages a job. */
const JOBS_PER_MESSAGE = 5
/** The executor's slots (jobs at once). */
const EXECUTOR_SLOTS = 4
/** Submits in flight at the master. */
const IN_FLIGHT = 16

export interface RoleCoreRun {
  role: CoreRole
  jobs: number
  /** Wall clock, jobs a second (the node and this process's stand-ins share one thread). */
  jobsPerSec: number
  /** CPU ms a job: the whole process (every thread), less the stand-ins' part (master: X's signing). */
  cpuMsPerJob: number
  /** Of cpuMsPerJob, threads other than the main one (LevelDB, V8's GC and compiler), or null off Linux. */
  otherThreadsMsPerJob: number | null
  /** What was taken out: the stand-ins' CPU ms a job, timed around their code. */
  standInMsPerJob: number
  /** Not in cpuMsPerJob: the node's fork server's own CPU ms a job, and its jobs' (what it waited for); null off Linux. */
  forkServerMsPerJob: number | null
  jobsMsPerJob: number | null
  /** Events the node applied a job, and events it wrote (its own) a job. */
  eventsPerJob: number
  ownEventsPerJob: number
  /**
   * The main thread's context switches a job (voluntary: it slept and was woken, for a message,
   * a timer, a write done; and involuntary), or null off Linux. On these VMs a wake-up costs a
   * process more than most of what it does awake (README, "Why a job costs an agent
   * milliseconds here"), and unlike CPU time this count does not move with the machine's hour.
   */
  wakeUpsPerJob?: number | null
  target: number
  met: boolean
}

export interface RolesCoreResult {
  jobs: number
  /** Each role's median run (by CPU ms a job) of `rounds`. */
  runs: RoleCoreRun[]
  /** Runs a role, in rounds (master, executor, observer; again): one run alone reads the hour as much as the code. */
  rounds: number
  /** Every run's CPU ms a job, by role, in the order run. */
  allCpuMsPerJob: Record<string, number[]>
}

async function newOrigin (): Promise<StreamOrigin & { key: Parameters<typeof signBatch>[0] }> {
  const key = await generateKeyPair('Ed25519')
  return { key: key as never, id: peerIdFromPrivateKey(key as never).toString(), seq: 0, lastTs: 0, lc: 0, events: [] }
}

const cpuNow = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

/** Sign an origin's events made since its last message as one write batch; the message's JSON (an array of them). */
function message (o: StreamOrigin, from: number): string {
  const es = o.events.slice(from)
  o.link = signBatch(o.key, es, o.link ?? CHAIN_START)
  return `[${es.map(e => JSON.stringify(e)).join(',')}]`
}

/** Hand a message's JSON to the node's intake as the mesh does: parsed (the node's cost), from its sender. */
const receive = (intake: Intake, json: string, from: string): void => { intake.receiveMany(JSON.parse(json) as unknown[], from) }

/** Waits on conditions that the node's published events change: checked when `check` is called (no polling). */
class Gate {
  private waiters: Array<{ done: () => boolean, resolve: () => void }> = []
  check (): void {
    const still = []
    for (const w of this.waiters) if (w.done()) w.resolve(); else still.push(w)
    this.waiters = still
  }

  async wait (done: () => boolean, what: string, ms = 300_000): Promise<void> {
    if (done()) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>(resolve => this.waiters.push({ done, resolve })),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`roles-core: gave up waiting for ${what} after ${ms / 1000} s`)), ms) })
    ]).finally(() => clearTimeout(timer))
  }
}

const intakeOf = (node: CisNode): Intake => (node as unknown as { intake: Intake }).intake

/** Poll `done` every 2 ms until it holds (only outside what is measured, or at its very end), at most `ms`. */
async function until (done: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!done()) {
    if (Date.now() > end) throw new Error(`roles-core: gave up waiting for ${what} after ${ms / 1000} s`)
    await sleep(2)
  }
}

/** Of these joblists, those succeeded (the archived ones counted: past store.keepEnded they leave memory; the bench makes no others). */
const succeededCount = (node: CisNode, ids: Iterable<string>): number => {
  let n = node.archived().byState.succeeded ?? 0
  for (const id of ids) if (node.state.joblists[id]?.state === 'succeeded') n++
  return n
}

interface Measured { cpu: number, others: number | null, seconds: number, forkServer: number | null, jobs: number | null, switches: number | null }

/** The main thread's context switches so far (voluntary and involuntary; /proc/self/status), or null off Linux. */
function switchesNow (): number | null {
  try {
    const status = readFileSync('/proc/self/status', 'utf8')
    const v = /^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)
    const n = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)
    return v === null || n === null ? null : Number(v[1]) + Number(n[1])
  } catch { return null }
}

/** CPU ms of this process's children (its fork server) themselves, and of what they waited for (the jobs); null off Linux. */
function childrenMs (): { self: number, waited: number } | null {
  try {
    let self = 0
    let waited = 0
    for (const pid of childrenOf(process.pid)) {
      try { const t = statTimes(`/proc/${pid}/stat`); self += t.self; waited += t.children } catch { /* ended meanwhile */ }
    }
    return { self: self * 1000, waited: waited * 1000 }
  } catch { return null }
}
/**
 * Start measuring; the function returned ends it. CIS_ROLES_CORE_PROFILE=FILE: a CPU profile of
 * the measured part only (the inspector's profiler, started and stopped around it) in FILE.
 */
async function meter (): Promise<() => Promise<Measured>> {
  const file = process.env.CIS_ROLES_CORE_PROFILE
  const heap = process.env.CIS_ROLES_CORE_HEAP
  const session = file === undefined && heap === undefined ? undefined : new (await import('node:inspector/promises')).Session()
  session?.connect()
  if (session !== undefined && file !== undefined) { await session.post('Profiler.enable'); await session.post('Profiler.start') }
  // (Collected objects included: without them the profile held only what was still alive at
  // its end, the state, not what a job allocates and the collector then has to sweep.)
  const sampling = { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }
  if (session !== undefined && heap !== undefined) { await session.post('HeapProfiler.enable'); await session.post('HeapProfiler.startSampling', sampling) }
  const c0 = cpuNow()
  const s0 = switchesNow()
  const o0 = otherThreadsMs()
  const k0 = childrenMs()
  const t0 = performance.now()
  return async () => {
    const o1 = otherThreadsMs()
    const s1 = switchesNow()
    const k1 = childrenMs()
    const kids = k0 === null || k1 === null ? null : { forkServer: k1.self - k0.self, jobs: k1.waited - k0.waited }
    const m = { cpu: cpuNow() - c0, others: o0 === null || o1 === null ? null : o1 - o0, seconds: (performance.now() - t0) / 1000, forkServer: kids?.forkServer ?? null, jobs: kids?.jobs ?? null, switches: s0 === null || s1 === null ? null : s1 - s0 }
    if (session !== undefined && file !== undefined) writeFileSync(file, JSON.stringify((await session.post('Profiler.stop')).profile))
    if (session !== undefined && heap !== undefined) writeFileSync(heap, JSON.stringify((await session.post('HeapProfiler.stopSampling')).profile))
    session?.disconnect()
    return m
  }
}

function figures (role: CoreRole, jobs: number, m: Measured, standIn: number, applied: number, own: number): RoleCoreRun {
  const r2 = (x: number): number => Number(x.toFixed(3))
  const cpuMsPerJob = r2((m.cpu - standIn) / jobs)
  return {
    role,
    jobs,
    jobsPerSec: Math.round(jobs / m.seconds),
    cpuMsPerJob,
    otherThreadsMsPerJob: m.others === null ? null : r2(m.others / jobs),
    standInMsPerJob: r2(standIn / jobs),
    forkServerMsPerJob: m.forkServer === null ? null : r2(m.forkServer / jobs),
    jobsMsPerJob: m.jobs === null ? null : r2(m.jobs / jobs),
    eventsPerJob: r2(applied / jobs),
    ownEventsPerJob: r2(own / jobs),
    wakeUpsPerJob: m.switches === null ? null : r2(m.switches / jobs),
    target: ROLE_TARGETS[role],
    met: cpuMsPerJob <= ROLE_TARGETS[role]
  }
}

const BENCH_SPEC = { name: 'roles-core', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] }
/** The joblist as a node writes it in a submit (checked, its defaults filled in). */
function benchSpec (): JoblistSpec {
  const v = validateJoblist(BENCH_SPEC)
  if (!v.ok) throw new Error('the bench joblist does not validate')
  return v.spec
}

const appliedSum = (node: CisNode): number => Object.values(node.state.applied).reduce((a, b) => a + b, 0)

/** A real node (no network: the stand-in mesh goes in after start) in a fresh data directory, started, given to `fn`, then stopped and removed. */
async function withNode<T> (config: { name: string, priority: number, resources: Record<string, string[]> }, fn: (node: CisNode) => Promise<T>, forkServer?: string): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'cis-roles-core-'))
  const node = benchNode(dir, config, forkServer)
  try {
    await node.start()
    return await fn(node)
  } finally {
    await node.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The master: a real node electing itself; submits from here; X answers its assigns. */
async function masterRun (jobs: number, warm: number, progress: (m: string) => void): Promise<RoleCoreRun> {
  return await withNode({ name: 'master', priority: 100, resources: {} }, async node => {
    const X = await newOrigin()
    const intake = intakeOf(node)
    const gate = new Gate()
    let standIn = 0
    let answered = 0
    let answering = false
    const owed: string[] = []
    // X: the assigns published in a turn answered at the next, one signed batch of finished events.
    const answer = (): void => {
      answering = false
      const t = cpuNow()
      const from = X.events.length
      const now = Date.now()
      for (const jobId of owed) stamp(X, now, 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 1 }, started: { at: now, pid: 100_000 + X.seq } })
      answered += owed.length
      owed.length = 0
      const json = message(X, from)
      standIn += cpuNow() - t
      receive(intake, json, X.id)
      gate.check()
    }
    standInMesh(node, [X.id], node.id, own => {
      for (const e of own) {
        const accept = acceptOf(e)
        const assigns = e.type === 'assign' ? [e.body as AssignBody] : accept !== undefined ? carriedAssigns(accept.body) : []
        for (const a of assigns) if (a.node === X.id) owed.push(a.jobId)
      }
      if (owed.length > 0 && !answering) { answering = true; setImmediate(answer) }
    })
    await node.announce('')
    stamp(X, Date.now(), 'node', { name: 'executor', priority: 0, profiles: [], resources: { slot: ['slot0', 'slot1', 'slot2', 'slot3'] }, api: '', addresses: [], version: VERSION })
    receive(intake, message(X, 0), X.id)
    await node.flush()
    await until(() => node.master() === node.id && (node as unknown as { role: { settled: boolean } }).role.settled, 'the node to be the master')
    const body = JSON.stringify(BENCH_SPEC)
    // Submit n joblists, IN_FLIGHT at a time, and wait until X has answered every one.
    const run = async (n: number): Promise<string[]> => {
      const ids: string[] = []
      const goal = answered + n
      let next = 0
      const worker = async (): Promise<void> => {
        while (next < n) {
          next++
          const r = await node.submit(submittedSpec(JSON.parse(body)), 'bench', 0)
          if (r.id === null) throw new Error('the master did not accept its own submit at once')
          ids.push(r.id)
        }
      }
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
      await gate.wait(() => answered >= goal, 'X to have answered every assign')
      await node.flush()
      await until(() => succeededCount(node, ids) === n, 'the jobs to have succeeded')
      return ids
    }
    progress(`roles-core master: ${warm} jobs to warm up, then ${jobs}`)
    await run(warm)
    const applied0 = appliedSum(node)
    const own0 = node.state.applied[node.id] ?? 0
    standIn = 0
    const stop = await meter()
    await run(jobs)
    const m = await stop()
    const r = figures('master', jobs, m, standIn, appliedSum(node) - applied0, (node.state.applied[node.id] ?? 0) - own0)
    progress(`roles-core master: ${r.cpuMsPerJob} CPU ms a job (${r.jobsPerSec} jobs/s)`)
    return r
  })
}

/** M's events for jobs [from, to): each a submit carrying its accept and an assign to `target` in slot `slot(j)`. */
function masterEvents (M: StreamOrigin, o: { from: number, to: number, code: string, term: number, target: string, slot: (j: number) => string }): void {
  const now = Date.now()
  const spec = benchSpec()
  for (let j = o.from; j < o.to; j++) {
    const id = `${o.code}-${j + 1}`
    stamp(M, now, 'submit', { spec: { ...spec, name: `roles-core-${j}`, values: {} }, owner: 'bench', accept: { id, term: o.term, onLost: 'retry', maxLost: 3 } })
    stamp(M, now, 'assign', { jobId: `${id}.1`, attempt: 1, node: o.target, resources: { slot: [o.slot(j)] }, term: o.term })
  }
}

/** Announce M (priority 100) and any others to the node, M claiming a term above the node's own; that term. */
async function announce (node: CisNode, M: StreamOrigin, others: Array<{ o: StreamOrigin, resources: Record<string, string[]> }>): Promise<number> {
  const intake = intakeOf(node)
  await node.announce('')
  const term = Math.max(0, ...Object.values(node.state.terms ?? {})) + 1
  const now = Date.now()
  stamp(M, now, 'node', { name: 'master', priority: 100, profiles: [], resources: {}, api: '', addresses: [], version: VERSION })
  stamp(M, now, 'master', { term })
  receive(intake, message(M, 0), M.id)
  for (const x of others) {
    stamp(x.o, now, 'node', { name: 'executor', priority: 0, profiles: [], resources: x.resources, api: '', addresses: [], version: VERSION })
    receive(intake, message(x.o, 0), x.o.id)
  }
  await node.flush()
  if (node.master() !== M.id) throw new Error('the bench node does not see origin M as the master')
  return term
}

/**
 * The executor: a real node with EXECUTOR_SLOTS slots running `true`; M's messages sent as slots
 * free. `nofork`: its fork server starts nothing (executor-nofork).
 */
async function executorRun (jobs: number, warm: number, progress: (m: string) => void, nofork = false): Promise<RoleCoreRun> {
  const names = Array.from({ length: EXECUTOR_SLOTS }, (_, i) => `slot${i}`)
  const role: CoreRole = nofork ? 'executor-nofork' : 'executor'
  return await withNode({ name: 'executor', priority: 0, resources: { slot: names } }, async node => {
    const M = await newOrigin()
    const intake = intakeOf(node)
    const gate = new Gate()
    const free = [...names]
    const slotOf = new Map<string, string>()
    let finished = 0
    standInMesh(node, [M.id], M.id, own => {
      for (const e of own) {
        if (e.type !== 'finished') continue
        const jobId = (e.body as { jobId: string }).jobId
        const slot = slotOf.get(jobId)
        if (slot === undefined) continue
        slotOf.delete(jobId)
        free.push(slot)
        finished++
      }
      gate.check()
    })
    const term = await announce(node, M, [])
    const code = shortCode(M.id)
    let standIn = 0
    // Run jobs [from, to): a message of M's as soon as two slots are free (or what is left),
    // carrying as many jobs as slots are free, up to JOBS_PER_MESSAGE.
    const run = async (from: number, to: number): Promise<void> => {
      const goal = finished + (to - from)
      let sent = from
      while (sent < to) {
        await gate.wait(() => free.length >= Math.min(2, to - sent), 'free slots')
        const upTo = Math.min(to, sent + free.length, sent + JOBS_PER_MESSAGE)
        const t = cpuNow()
        const at = M.events.length
        masterEvents(M, { from: sent, to: upTo, code, term, target: node.id, slot: j => { const s = free.shift() as string; slotOf.set(`${code}-${j + 1}.1`, s); return s } })
        const json = message(M, at)
        standIn += cpuNow() - t
        receive(intake, json, M.id)
        sent = upTo
      }
      await gate.wait(() => finished >= goal, 'the jobs to finish')
      await node.flush()
    }
    progress(`roles-core ${role}: ${warm} jobs to warm up, then ${jobs}`)
    await run(0, warm)
    const applied0 = appliedSum(node)
    const own0 = node.state.applied[node.id] ?? 0
    standIn = 0
    const stop = await meter()
    await run(warm, warm + jobs)
    const m = await stop()
    const done = succeededCount(node, Array.from({ length: warm + jobs }, (_, j) => `${code}-${j + 1}`))
    if (done !== warm + jobs) throw new Error(`the executor has ${done} of ${warm + jobs} joblists succeeded`)
    const r = figures(role, jobs, m, standIn, appliedSum(node) - applied0, (node.state.applied[node.id] ?? 0) - own0)
    progress(`roles-core ${role}: ${r.cpuMsPerJob} CPU ms a job (${r.jobsPerSec} jobs/s)`)
    return r
  }, nofork ? NULL_FORK_SERVER : undefined)
}

/** The observer: M's and X's messages, B jobs each, made and signed before, fed as fast as it takes them. */
async function observerRun (jobs: number, warm: number, progress: (m: string) => void): Promise<RoleCoreRun> {
  return await withNode({ name: 'observer', priority: 0, resources: {} }, async node => {
    const M = await newOrigin()
    const X = await newOrigin()
    const intake = intakeOf(node)
    standInMesh(node, [M.id, X.id], M.id, () => {})
    const term = await announce(node, M, [{ o: X, resources: { slot: ['slot0', 'slot1', 'slot2', 'slot3'] } }])
    const code = shortCode(M.id)
    const B = JOBS_PER_MESSAGE
    const stream = (from: number, to: number): string[] => {
      const out: string[] = []
      for (let k = from; k < to; k += B) {
        const upTo = Math.min(to, k + B)
        let at = M.events.length
        masterEvents(M, { from: k, to: upTo, code, term, target: X.id, slot: j => `slot${j % 4}` })
        M.link = signBatch(M.key, M.events.slice(at), M.link ?? CHAIN_START)
        out.push(JSON.stringify({ from: M.id, events: M.events.slice(at) }))
        at = X.events.length
        const now = Date.now()
        for (let j = k; j < upTo; j++) stamp(X, now, 'finished', { jobId: `${code}-${j + 1}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 1 }, started: { at: now, pid: 100_000 + j } })
        X.link = signBatch(X.key, X.events.slice(at), X.link ?? CHAIN_START)
        out.push(JSON.stringify({ from: X.id, events: X.events.slice(at) }))
      }
      return out
    }
    const feed = async (ms: string[]): Promise<void> => {
      for (let k = 0; k < ms.length; k++) {
        // (Each message parsed here as the mesh parses what it reads: the node's cost.)
        const m = JSON.parse(ms[k]) as { from: string, events: unknown[] }
        intake.receiveMany(m.events, m.from)
        if (k % 20 === 19) await turn()
      }
      await node.flush()
    }
    progress(`roles-core observer: signing ${(warm + jobs) * 3} events, ${B} jobs a message`)
    const warmUp = stream(0, warm)
    const measured = stream(warm, warm + jobs)
    await feed(warmUp)
    const applied0 = appliedSum(node)
    const own0 = node.state.applied[node.id] ?? 0
    const stop = await meter()
    await feed(measured)
    const m = await stop()
    const done = succeededCount(node, Array.from({ length: warm + jobs }, (_, j) => `${code}-${j + 1}`))
    if (done !== warm + jobs) throw new Error(`the observer has ${done} of ${warm + jobs} joblists succeeded`)
    const r = figures('observer', jobs, m, 0, appliedSum(node) - applied0, (node.state.applied[node.id] ?? 0) - own0)
    if (r.ownEventsPerJob !== 0) throw new Error('the observer wrote events of its own (it decided something)')
    progress(`roles-core observer: ${r.cpuMsPerJob} CPU ms a job (${r.jobsPerSec} jobs/s)`)
    return r
  })
}

/**
 * Jobs measured a role (default 2,000), after `warm` (default WARMUP_JOBS, 4,000; 2,000 before
 * Dec 7) not counted; each role run
 * `rounds` times (default 3), the roles taking turns, and its median run reported: on these
 * VMs two runs of the same code a minute apart differ by a tenth or more.
 */
export async function rolesCoreBench (progress: (m: string) => void, o: { jobs?: number, warm?: number, rounds?: number } = {}): Promise<RolesCoreResult> {
  const jobs = o.jobs ?? 2000
  // (A fresh executor's V8 still compiled between its 2,000th and 6,000th job: `--trace-opt`,
  // 298 functions optimized after 1,000 jobs, 439 after 6,000, 438 after 12,000; its compiler
  // thread's time 1.64 / 2.12 / 2.09 s. An agent in service has its code compiled; measured
  // after 2,000 of warm-up, the executor's figure was 0.03-0.2 ms a job higher than after 6,000,
  // three pairs, most of it on other threads.)
  const warm = o.warm ?? WARMUP_JOBS
  const rounds = o.rounds ?? 3
  const all = new Map<CoreRole, RoleCoreRun[]>(CORE_ROLES.map(r => [r, []]))
  for (let k = 1; k <= rounds; k++) {
    for (const role of CORE_ROLES) {
      all.get(role)?.push(await childRun<RoleCoreRun>(fileURLToPath(import.meta.url), ['--role', role, '--jobs', String(jobs), '--warm', String(warm)], `roles-core: the ${role} run${rounds > 1 ? ` (${k} of ${rounds})` : ''}`, progress))
    }
  }
  const runs = CORE_ROLES.map(role => medianRun(all.get(role) ?? []))
  return { jobs, runs, rounds, allCpuMsPerJob: Object.fromEntries(CORE_ROLES.map(role => [role, (all.get(role) ?? []).map(r => r.cpuMsPerJob)])) }
}

/** The run in the middle by CPU ms a job (of an even count, the lower of the two middle ones). */
export const medianRun = (runs: RoleCoreRun[]): RoleCoreRun => medianBy(runs, r => r.cpuMsPerJob)

export function formatRolesCore (r: RolesCoreResult): string[] {
  const of = (x: RoleCoreRun): string => (r.rounds ?? 1) > 1 ? ` (median of ${r.rounds}: ${(r.allCpuMsPerJob?.[x.role] ?? []).join(' / ')})` : ''
  return r.runs.map(x => `CPU a job, ${x.role.padEnd(15)} own path (roles-core): ${x.cpuMsPerJob} ms${of(x)} (other threads ${x.otherThreadsMsPerJob ?? '?'}; ${x.eventsPerJob} events applied, ${x.ownEventsPerJob} written${x.wakeUpsPerJob != null ? `, ${x.wakeUpsPerJob} wake-ups` : ''} a job; ${x.jobsPerSec} jobs/s${x.standInMsPerJob > 0 ? `; stand-ins' ${x.standInMsPerJob} ms taken out` : ''}${(x.forkServerMsPerJob ?? 0) > 0 ? `; besides, fork server ${x.forkServerMsPerJob ?? '?'}, jobs ${x.jobsMsPerJob ?? '?'}` : ''}); target <= ${x.target}: ${x.met ? 'met' : 'not met'}`)
}

/** Each role's one run (`--role ROLE`). */
const ROLE_RUNS: Record<CoreRole, (jobs: number, warm: number, progress: (m: string) => void) => Promise<RoleCoreRun>> = {
  master: masterRun,
  executor: executorRun,
  'executor-nofork': async (jobs, warm, progress) => await executorRun(jobs, warm, progress, true),
  observer: observerRun
}

function numberOpt (name: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const v = Number(process.argv[i + 1])
  if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`--${name} takes a whole number from 0 to ${max}`)
  return v
}

async function alone (): Promise<void> {
  const quick = process.argv.includes('--quick')
  const jobs = numberOpt('jobs', quick ? 500 : 2000, 1_000_000)
  const warm = numberOpt('warm', quick ? 500 : WARMUP_JOBS, 1_000_000)
  const rounds = numberOpt('rounds', quick ? 1 : 3, 100)
  if (rounds < 1) throw new Error('--rounds takes a whole number from 1')
  if (jobs < 1) throw new Error('--jobs takes a whole number from 1')
  const progress = (m: string): void => { process.stderr.write(`bench: ${m}\n`) }
  const i = process.argv.indexOf('--role')
  if (i > 0) {
    const role = process.argv[i + 1] as CoreRole
    if (!CORE_ROLES.includes(role)) throw new Error(`--role takes ${CORE_ROLES.join(', ')}`)
    console.log(JSON.stringify(await ROLE_RUNS[role](jobs, warm, progress)))
    return
  }
  const r = await rolesCoreBench(progress, { jobs, warm, rounds })
  for (const l of formatRolesCore(r)) console.log(l)
  console.log(JSON.stringify(r))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await alone()
