// The agent's own path for peers' events (issue 12), in one process, without the network:
// `node dist/bench/ingest-core.js [--jobs N] [--quick] [--batch JOBS]`, for `npm run bench`
// (beside ingest.ts) or alone. Each run is a child process started with the agent's node flags
// (bin/cis.js: V8's young generation and worker threads as an agent has them); `--batch JOBS`
// is that child: one run, each origin's message carrying that many jobs' events (1: one event
// a message), its figures as one JSON line; with `--rate EVENTS` its messages come paced at that
// many events a second (the node idle between them, as an observer of a real cluster is);
// `--warm JOBS` sets the warm-up stream's length (default WARMUP_JOBS, stream.ts).
//
// What it is: a real node (src/node/node.ts, its LevelDB store in a temporary directory, the
// intake, event log, reducer, reactions and snapshots as an agent runs them) fed the stream of
// ingest.ts (stream.ts: five origins, five signed events a job) as the network hands it over:
// each message's JSON parsed, then given to the intake from its sender. Nothing else runs in
// this process and no socket is read, so the figure is the CPU of this project's code (and
// LevelDB's threads: process.cpuUsage counts every thread) for an event, with the same noise
// as any CPU-bound loop and none of the transport's; ingest.ts over libp2p is the figure the
// issue's target is about. In place of the network, the node is given a stand-in for its mesh
// that says the five origins are alive and the master (origin M, highest priority) is M, so the
// node decides nothing and writes nothing itself, as an observer.
//
// Then the steps alone, each on a fresh stream of the same shape (new keys: nothing verified
// before): parsing the messages' JSON, the shape check (src/events/check.ts), verifying the
// signatures (src/identity/keys.ts). What is left of the whole is applying (reducer), the
// node's reactions (accounting index, records, views), storing, snapshots and the GC of it all.
// Two runs: one event a message and write batches (ten jobs an origin's message).
import '../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep, setImmediate as turn } from 'node:timers/promises'
import { PerformanceObserver } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { AgentConfig } from '../src/config/config.js'
import { checkEvent } from '../src/events/check.js'
import type { CisEvent } from '../src/events/types.js'
import { signBatch, verifyEvent } from '../src/identity/keys.js'
import type { CisNode } from '../src/node/node.js'
import type { Intake } from '../src/node/intake.js'
import { validateJoblist } from '../src/spec/index.js'
import { shortCode } from '../src/util/ids.js'
import { VERSION } from '../src/version.js'
import { childRun } from './child-run.js'
import { otherThreadsMs } from './cpu.js'
import { EVENTS_PER_JOB, WARMUP_JOBS, jobStream, stamp } from './stream.js'
import type { StreamMessage, StreamOrigin } from './stream.js'
import { benchNode, standInMesh } from './bench-node.js'

export interface IngestCoreRun {
  eventsPerMessage: number
  events: number
  messages: number
  /** Wall clock: events applied a second (one core: this loop and the node are one thread, LevelDB's writes another). */
  eventsPerSec: number
  /** CPU ms (every thread of the process) per 1,000 events, the whole path. */
  cpuMsPer1000: number
  /**
   * Of cpuMsPer1000, what threads other than the main one spent (LevelDB's writes and
   * compactions, V8's concurrent GC), from /proc/self/task (Linux; null elsewhere).
   */
  otherThreadsMsPer1000: number | null
  /** Of cpuMsPer1000, the main thread's garbage-collection pauses (perf_hooks' gc entries). */
  gcPauseMsPer1000: number
  /** The steps alone, CPU ms per 1,000 events; `rest` is the whole less these three. */
  steps: { parse: number, check: number, verify: number, rest: number }
  /** `--archive`: the same node, restarted, moving every joblist it took in to the archive (ArchiveRun). */
  archive?: ArchiveRun
}

/**
 * What archiving costs a node (`--archive`): the ingest's node stopped and started again on its
 * store with `store.archiveAfter` passed for every joblist it holds, so each leaves memory for
 * the archive (state/archive.ts: bundle, digests, index entries and accounting records, the
 * parts deleted), at the pace the node keeps (passes of 500, snapshots at most a tenth of the
 * time). Every node pays this for every joblist of the cluster, ten minutes after its end
 * (`store.archiveAfter`) or sooner past `store.keepEnded`; the ingest's window does not hold it.
 * Measured from the restarted node's start (its load left out) to the last joblist archived.
 */
export interface ArchiveRun {
  joblists: number
  /** CPU ms (every thread) a joblist archived, the node's idle work of that time included. */
  cpuMsPerJoblist: number
  /** Of it, threads other than the main one (LevelDB's compaction, V8's GC worker). */
  otherThreadsMsPerJoblist: number | null
  /** Joblists archived a second. */
  perSec: number
}

export interface IngestCoreResult {
  jobs: number
  eventsPerJob: number
  single: IngestCoreRun
  batched: IngestCoreRun
  /** The ingest target as CPU: 20,000 events a second on one core is 50 ms per 1,000. */
  target: string
}

interface Origins { M: StreamOrigin, X0: StreamOrigin, X1: StreamOrigin, S0: StreamOrigin, S1: StreamOrigin }

async function origins (): Promise<Origins> {
  const one = async (): Promise<StreamOrigin> => {
    const key = await generateKeyPair('Ed25519')
    return { key: key as never, id: peerIdFromPrivateKey(key as never).toString(), seq: 0, lastTs: 0, lc: 0, events: [] }
  }
  return { M: await one(), X0: await one(), X1: await one(), S0: await one(), S1: await one() }
}

const cpuMs = (since: NodeJS.CpuUsage): number => { const u = process.cpuUsage(since); return (u.user + u.system) / 1000 }
const per1000 = (ms: number, events: number): number => Number((ms / events * 1000).toFixed(1))

/** The node's intake: what the mesh hands a message's events to (private to the node; a bench reaches in). */
const intakeOf = (node: CisNode): Intake => (node as unknown as { intake: Intake }).intake

/** The three steps alone, on a fresh stream of this shape: CPU ms for all its events. */
async function steps (jobs: number, jobsPerBatch: number, spec: Parameters<typeof jobStream>[1]['spec']): Promise<{ parse: number, check: number, verify: number }> {
  const os = await origins()
  const messages = jobStream(os, { jobs, jobsPerBatch, spec, code: shortCode(os.M.id), term: 2, t0: Date.now() - jobs })
  let c = process.cpuUsage()
  const parsed = messages.map(m => JSON.parse(m.json) as unknown)
  const parse = cpuMs(c)
  const events = parsed.flatMap(x => Array.isArray(x) ? x : [x]) as CisEvent[]
  c = process.cpuUsage()
  let bad = 0
  for (const e of events) if (checkEvent(e) !== null) bad++
  const check = cpuMs(c)
  c = process.cpuUsage()
  for (const e of events) if (!verifyEvent(e)) bad++
  const verify = cpuMs(c)
  if (bad > 0) throw new Error(`${bad} events of the bench's stream did not check or verify`)
  return { parse, check, verify }
}

/** The bench's node in `dir`: an observer with no resources. */
const observerNode = (dir: string, store?: Partial<AgentConfig['store']>): CisNode => benchNode(dir, { name: 'core', priority: 0, resources: {}, ...(store !== undefined ? { store } : {}) })

/** Longest the archive phase waits for the last joblist (ArchiveRun): 3 minutes, or 10 ms a joblist if longer. */
const archivePhaseMs = (joblists: number): number => Math.max(180_000, joblists * 10)

/** The node of `dir` started again with every ended joblist due for the archive; its archiving measured (ArchiveRun). */
async function archivePhase (dir: string, origins: readonly StreamOrigin[], master: string, joblists: number, progress: (m: string) => void): Promise<ArchiveRun> {
  const node = observerNode(dir, { archiveAfterMs: 1 })
  try {
    await node.start()
    standInMesh(node, origins.map(o => o.id), master)
    const count = (): number => Object.values(node.archived().byState).reduce((a, b) => a + b, 0)
    const before = count()
    const archived = (): number => count() - before
    const others0 = otherThreadsMs()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    let shown = t0
    const limit = archivePhaseMs(joblists)
    while (archived() < joblists) {
      if (performance.now() - t0 > limit) throw new Error(`ingest-core: the node archived ${archived()} of ${joblists} joblists in ${limit / 1000} s; is the machine overloaded? Try again with fewer --jobs`)
      await sleep(20)
      if (performance.now() - shown > 5000) { shown = performance.now(); progress(`ingest-core: archived ${archived()} of ${joblists} joblists`) }
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = cpuMs(c0)
    const others1 = otherThreadsMs()
    const n = archived()
    const r: ArchiveRun = {
      joblists: n,
      cpuMsPerJoblist: Number((cpu / n).toFixed(3)),
      otherThreadsMsPerJoblist: others0 === null || others1 === null ? null : Number(((others1 - others0) / n).toFixed(3)),
      perSec: Math.round(n / seconds)
    }
    progress(`ingest-core: archived ${n} joblists, ${r.cpuMsPerJoblist} CPU ms a joblist, ${r.perSec} a second`)
    return r
  } finally {
    await node.stop()
  }
}

async function coreRun (jobs: number, jobsPerBatch: number, progress: (m: string) => void, rate?: number, warmJobs?: number, archive = false): Promise<IngestCoreRun> {
  const dir = mkdtempSync(join(tmpdir(), 'cis-ingest-core-'))
  // (With --archive no bound on the ended joblists held, so every joblist taken in is there for
  // the archive phase to move; without, past store.keepEnded the earliest leave during the
  // ingest, as in an agent. At npm run bench's 8,000 joblists the bound is not reached either way.)
  const node = observerNode(dir, archive ? { keepEnded: 0 } : undefined)
  try {
    await node.start()
    const os = await origins()
    const all = [os.M, os.X0, os.X1, os.S0, os.S1]
    standInMesh(node, all.map(o => o.id), os.M.id)
    const intake = intakeOf(node)
    // Each origin announces itself; M claims a term above the node's own.
    const term = Math.max(0, ...Object.values(node.state.terms ?? {})) + 1
    const now = Date.now()
    for (const o of all) stamp(o, now, 'node', { name: `bench-${all.indexOf(o)}`, priority: o === os.M ? 100 : 0, profiles: [], resources: o === os.X0 || o === os.X1 ? { slot: ['slot0', 'slot1'] } : {}, api: '', addresses: [], version: VERSION })
    stamp(os.M, now, 'master', { term })
    for (const o of all) { signBatch(o.key, o.events); intake.receiveMany(JSON.parse(JSON.stringify(o.events)) as unknown[], o.id) }
    await node.flush()
    if (node.master() !== os.M.id) throw new Error('the bench node does not see origin M as the master')
    const setup = new Map(all.map(o => [o.id, o.seq]))
    const own = node.state.applied[node.id] ?? 0

    const spec = validateJoblist({ name: 'ingest', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
    if (!spec.ok) throw new Error('the bench joblist does not validate')
    // First a warm-up stream (not counted): a running agent has its code compiled; a fresh
    // process spends the first thousands of events compiling it (on V8's worker thread).
    const warm = warmJobs ?? WARMUP_JOBS
    const code = shortCode(os.M.id)
    const t = now - Math.ceil((warm + jobs) / 10) - 1000
    progress(`ingest-core: signing ${(warm + jobs) * EVENTS_PER_JOB} events from 5 origins (${warm * EVENTS_PER_JOB} to warm up)`)
    const warmUp = jobStream(os, { jobs: warm, jobsPerBatch, spec: spec.spec, code, term, t0: t })
    const messages: StreamMessage[] = jobStream(os, { jobs, jobsPerBatch, spec: spec.spec, code, term, t0: t + Math.floor(warm / 10), first: warm })
    const feed = async (ms: StreamMessage[], paced?: number): Promise<void> => {
      const start = performance.now()
      let sent = 0
      for (let k = 0; k < ms.length; k++) {
        if (paced !== undefined) {
          // Paced: each message at its time (`paced` events a second), the node idle between.
          const ahead = start + sent / paced * 1000 - performance.now()
          if (ahead >= 1) await sleep(ahead)
          sent += ms[k].count
        }
        const m = ms[k]
        const data = JSON.parse(m.json) as unknown
        if (Array.isArray(data)) intake.receiveMany(data, m.o.id)
        else intake.receive(data, m.o.id)
        // (A turn of the loop now and then, as messages arriving from sockets give: the node's
        // writes, its timers and the next pass run between them.)
        if (paced === undefined && k % 20 === 19) await turn()
      }
    }
    await feed(warmUp)
    await node.flush()
    const total = jobs * EVENTS_PER_JOB
    let gcMs = 0
    const gc = new PerformanceObserver(list => { for (const e of list.getEntries()) gcMs += e.duration })
    gc.observe({ entryTypes: ['gc'] })
    const others0 = otherThreadsMs()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await feed(messages, rate)
    await node.flush()
    const seconds = (performance.now() - t0) / 1000
    const cpu = cpuMs(c0)
    const others1 = otherThreadsMs()
    await turn() // (the observer is told at the next turn)
    gc.disconnect()
    const applied = all.reduce((n, o) => n + (node.state.applied[o.id] ?? 0) - (setup.get(o.id) ?? 0), 0)
    if (applied !== (warm + jobs) * EVENTS_PER_JOB) throw new Error(`the node applied ${applied} of ${(warm + jobs) * EVENTS_PER_JOB} events`)
    if ((node.state.applied[node.id] ?? 0) !== own) throw new Error('the node wrote events of its own (it decided something): not an observer')
    // (Past store.keepEnded the earliest ended have left memory for the archive: counted there.)
    const succeeded = Object.values(node.state.joblists).filter(jl => jl.state === 'succeeded').length + (node.archived().byState.succeeded ?? 0)
    if (succeeded !== warm + jobs) throw new Error(`the node has ${succeeded} joblists succeeded, expected ${warm + jobs}`)
    const s = await steps(jobs, jobsPerBatch, spec.spec)
    const parse = per1000(s.parse, total)
    const check = per1000(s.check, total)
    const verify = per1000(s.verify, total)
    const whole = per1000(cpu, total)
    const r: IngestCoreRun = {
      eventsPerMessage: Number((total / messages.length).toFixed(1)),
      events: total,
      messages: messages.length,
      eventsPerSec: Math.round(total / seconds),
      cpuMsPer1000: whole,
      gcPauseMsPer1000: per1000(gcMs, total),
      otherThreadsMsPer1000: others0 === null || others1 === null ? null : per1000(others1 - others0, total),
      steps: { parse, check, verify, rest: Number((whole - parse - check - verify).toFixed(1)) }
    }
    progress(`ingest-core: ${r.eventsPerSec} events/s (${r.eventsPerMessage} a message), ${r.cpuMsPer1000} CPU ms per 1000 events`)
    if (archive) {
      await node.stop()
      r.archive = await archivePhase(dir, all, os.M.id, warm + jobs, progress)
    }
    return r
  } finally {
    await node.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

/** One run in a child process started with the agent's node flags (see the top). */
async function oneRun (jobs: number, jobsPerBatch: number, progress: (m: string) => void, archive = false): Promise<IngestCoreRun> {
  return await childRun<IngestCoreRun>(fileURLToPath(import.meta.url), ['--jobs', String(jobs), '--batch', String(jobsPerBatch), ...(archive ? ['--archive'] : [])], `ingest-core: the run of ${jobsPerBatch} jobs a message`, progress)
}

/** jobs: EVENTS_PER_JOB events each (default 4,000: 16,000 events a run). The batched run then archives what it took in (ArchiveRun). */
export async function ingestCoreBench (progress: (m: string) => void, o: { jobs?: number } = {}): Promise<IngestCoreResult> {
  const jobs = o.jobs ?? 4000
  const single = await oneRun(jobs, 1, progress)
  const batched = await oneRun(jobs, 10, progress, true)
  return { jobs, eventsPerJob: EVENTS_PER_JOB, single, batched, target: '<= 50 CPU ms per 1000 events (20,000 a second on one core)' }
}

export function formatIngestCore (r: IngestCoreResult): string[] {
  const line = (label: string, x: IngestCoreRun): string =>
    `ingest, own path, ${label.padEnd(22)} ${x.eventsPerSec} events/s; ${x.cpuMsPer1000} CPU ms per 1000 events (other threads ${x.otherThreadsMsPer1000 ?? '?'}, GC pauses ${x.gcPauseMsPer1000}): parse ${x.steps.parse}, check ${x.steps.check}, verify ${x.steps.verify}, the rest ${x.steps.rest} (apply, react, store, snapshots, GC)`
  const a = r.batched.archive
  const archived = a === undefined
    ? []
    : [`archive, own path: ${a.joblists} one-job joblists (${r.eventsPerJob} events each) left memory at ${a.perSec} a second, ${a.cpuMsPerJoblist} CPU ms a joblist (other threads ${a.otherThreadsMsPerJoblist ?? '?'}): every node pays it for every joblist, besides the ingest's ${(r.batched.cpuMsPer1000 * r.eventsPerJob / 1000).toFixed(3)} ms`]
  return [line(`1 a message (${r.single.events}):`, r.single), line(`${r.batched.eventsPerMessage} a message (${r.batched.events}):`, r.batched), ...archived]
}

async function alone (): Promise<void> {
  const i = process.argv.indexOf('--jobs')
  const jobs = i > 0 ? Number(process.argv[i + 1]) : process.argv.includes('--quick') ? 1000 : 4000
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 1_000_000) throw new Error('--jobs takes a whole number from 1 to 1,000,000')
  const b = process.argv.indexOf('--batch')
  if (b > 0) {
    const per = Number(process.argv[b + 1])
    if (!Number.isInteger(per) || per < 1 || per > 1000) throw new Error('--batch takes a whole number of jobs from 1 to 1,000')
    const r = process.argv.indexOf('--rate')
    const rate = r > 0 ? Number(process.argv[r + 1]) : undefined
    if (rate !== undefined && !(rate > 0 && rate <= 1_000_000)) throw new Error('--rate takes events a second, > 0')
    const w = process.argv.indexOf('--warm')
    const warm = w > 0 ? Number(process.argv[w + 1]) : undefined
    if (warm !== undefined && !(Number.isInteger(warm) && warm >= 0 && warm <= 1_000_000)) throw new Error('--warm takes a whole number of jobs >= 0')
    const x = await coreRun(jobs, per, m => process.stderr.write(`bench: ${m}\n`), rate, warm, process.argv.includes('--archive'))
    console.log(JSON.stringify(x))
    return
  }
  const r = await ingestCoreBench(m => process.stderr.write(`bench: ${m}\n`), { jobs })
  for (const l of formatIngestCore(r)) console.log(l)
  console.log(JSON.stringify(r))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await alone()
