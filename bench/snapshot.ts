// What computing one snapshot costs (G-4, issue 12), in this process: a state holding N ended
// joblists, then events 100 at a time (20 one-job joblists: submit, accept, assign, started,
// finished), a snapshot after each hundred, computed two ways side by side: looking at every
// part of the state (as before issue 12's marks), and looking only at the parts the changes
// marked (state/changes.ts; what an agent does). Median ms a snapshot of each way.
// `node dist/bench/snapshot.js` alone, or within `npm run bench`.
import '../src/polyfill.js'
import { pathToFileURL } from 'node:url'
import { apply, reduce } from '../src/state/reducer.js'
import { takeChanges, trackChanges } from '../src/state/changes.js'
import { SnapshotWriter } from '../src/store/snapshot-parts.js'
import { Harness, job, joblist } from '../test/helpers/harness.js'
import type { UnsignedEvent } from '../src/events/types.js'
import type { ClusterState } from '../src/state/types.js'

export interface SnapshotFigures {
  held: number
  /** Whether the joblists held wait in the queue (accepted, not run) instead of having ended. */
  queued: boolean
  /** Whether each ended joblist held has a webhook delivery recorded (until Dec 4 every snapshot serialized every delivery). */
  delivered: boolean
  eventsPerSnapshot: number
  snapshots: number
  /** Looking at every part (measured for the plain states only: seconds at 100,000 queued). */
  wholeMs?: number
  marksMs: number
}

const EVENTS_PER_SNAPSHOT = 100
const TAIL_JOBLISTS = 200

/**
 * The events of `joblists` one-job joblists, each run to its end on node A (written directly: no
 * scheduler passes); the first `queued` of them only accepted (they wait in the queue).
 */
function history (joblists: number, queued = 0, delivered = false): UnsignedEvent[] {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  h.emit('M', 'master', { term: 1 })
  for (let i = 0; i < joblists; i++) {
    const request = h.submit(joblist(`w${i}`, [['a', [job('x')]]]))
    const id = `m-${i + 1}`
    h.emit('M', 'accept', { request, id, term: 1, onLost: 'retry', maxLost: 1 })
    if (i < queued) continue
    h.emit('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: 'A', resources: { slot: ['s0'] }, term: 1 })
    h.emit('A', 'started', { jobId: `${id}.1`, attempt: 1, pid: 1 })
    h.emit('A', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
    if (delivered) h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: true, term: 1 })
  }
  return h.events
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

function measure (events: UnsignedEvent[], cut: number, marks: boolean): number {
  const state = reduce([])
  trackChanges(state)
  for (let i = 0; i < cut; i++) apply(state, events[i])
  const writer = new SnapshotWriter({ check: false })
  writer.committed(writer.next(state, [], takeChanges(state)))
  const ms: number[] = []
  for (let at = cut; at < events.length;) {
    const end = Math.min(events.length, at + EVENTS_PER_SNAPSHOT)
    for (; at < end; at++) apply(state, events[at])
    const changes = takeChanges(state)
    const t0 = performance.now()
    const w = marks ? writer.next(state, [], changes) : writer.next(state)
    ms.push(performance.now() - t0)
    writer.committed(w)
  }
  return median(ms)
}

/**
 * `sizes`: states of that many ended joblists; `queuedSizes`: of that many waiting in the queue
 * (a deep queue: until Dec 4 its IDs were one part, serialized and written whole at each snapshot).
 */
export function snapshotBench (progress: (m: string) => void, sizes: number[] = [1000, 10_000], queuedSizes: number[] = [10_000, 100_000], deliveredSizes: number[] = [10_000]): SnapshotFigures[] {
  const variants = [...sizes.map(n => [n, false, false] as const), ...queuedSizes.map(n => [n, true, false] as const), ...deliveredSizes.map(n => [n, false, true] as const)]
  return variants.map(([held, queued, delivered]) => {
    progress(`snapshot: a state of ${held} joblists${queued ? ' queued' : ''}${delivered ? ', each with a webhook delivery' : ''}, a snapshot every ${EVENTS_PER_SNAPSHOT} events`)
    const events = history(held + TAIL_JOBLISTS, queued ? held : 0, delivered)
    const cut = events.findIndex(e => e.type === 'submit' && (e.body as { spec: { name: string } }).spec.name === `w${held}`)
    const snapshots = Math.ceil((events.length - cut) / EVENTS_PER_SNAPSHOT)
    // Each way twice, alternated: the second of each is what is reported (the first warms the JIT).
    const whole = !queued && !delivered
    if (whole) measure(events, cut, false)
    measure(events, cut, true)
    const wholeMs = whole ? measure(events, cut, false) : undefined
    const marksMs = measure(events, cut, true)
    return { held, queued, delivered, eventsPerSnapshot: EVENTS_PER_SNAPSHOT, snapshots, ...(wholeMs !== undefined ? { wholeMs: Number(wholeMs.toFixed(3)) } : {}), marksMs: Number(marksMs.toFixed(3)) }
  })
}

export function formatSnapshot (xs: SnapshotFigures[]): string[] {
  return xs.map(x => `snapshot, ${x.held} joblists ${x.queued ? 'queued' : 'held'}${x.delivered ? ' (a webhook delivery each)' : ''}, ${x.eventsPerSnapshot} events since the last: ${x.marksMs} ms from the marks${x.wholeMs !== undefined ? ` vs ${x.wholeMs} ms looking at every part` : ''} (median of ${x.snapshots})`)
}

/** What the snapshot after one more run of a schedule costs, and after a change of one node's term in a cluster of many. */
export interface SnapshotGrowthFigures {
  /** Runs the schedule had (each accepted and ended). */
  runs: number
  /** The snapshot after one more run: median ms, and bytes written (keys and JSON). */
  runMs: number
  runBytes: number
  nodes: number
  /** The snapshot after one node's term changed, among `nodes` nodes: median ms. */
  nodesMs: number
}

/** The median of `rounds` snapshots from the marks, each after `step` changed the state; bytes of the last. */
function afterEach (state: ClusterState, step: (r: number) => void, rounds: number): { ms: number, bytes: number } {
  const writer = new SnapshotWriter({ check: false })
  writer.committed(writer.next(state, [], takeChanges(state)))
  const ms: number[] = []
  let bytes = 0
  for (let r = 0; r < rounds; r++) {
    step(r)
    const t0 = performance.now()
    const w = writer.next(state, [], takeChanges(state))
    ms.push(performance.now() - t0)
    bytes = w.put.reduce((n, [k, json]) => n + k.length + json.length, 0)
    writer.committed(w)
  }
  return { ms: median(ms), bytes }
}

/**
 * A schedule with `runs` runs (submitted, accepted and cancelled by its master: every run kept,
 * S-6), then one more run before each of 11 snapshots; a cluster of `nodes` nodes, one term
 * claimed before each of 31. Until Dec 4 the schedule's record held its runs and each node's
 * record, term and applied count were looked at whole at every snapshot.
 */
export function snapshotGrowth (progress: (m: string) => void, runs = 10_000, nodes = 1000): SnapshotGrowthFigures {
  progress(`snapshot: a schedule of ${runs} runs, a cluster of ${nodes} nodes`)
  const spec = { ...joblist('tick', [['s', [job('j')]]]), schedule: { cron: '* * * * *', timezone: 'UTC', onFailure: 'pause' as const, overlap: 'skip' as const, catchUp: 'one' as const, maxCatchUp: 100 } }
  const state = reduce([])
  trackChanges(state)
  const M = 'master-'.padEnd(52, 'x')
  let seq = 0
  let ts = Date.UTC(2026, 0, 1)
  apply(state, { origin: 'U', seq: 1, ts, lc: 0, type: 'schedule', body: { spec, owner: 'o' } })
  const run = (i: number): void => {
    ts += 60_000
    apply(state, { origin: M, seq: ++seq, ts, lc: 0, type: 'submit', body: { spec, owner: 'o', schedule: { name: 'tick', instant: ts } } })
    const request = `${M}:${seq}`
    apply(state, { origin: M, seq: ++seq, ts: ts + 1, lc: 0, type: 'accept', body: { request, id: `m-${i}`, term: 1, onLost: 'retry', maxLost: 1 } })
    apply(state, { origin: M, seq: ++seq, ts: ts + 2, lc: 0, type: 'cancel', body: { joblistId: `m-${i}`, request: `U:${i}`, term: 1 } })
  }
  for (let i = 1; i <= runs; i++) run(i)
  const r = afterEach(state, k => run(runs + 1 + k), 11)
  const cluster = reduce([])
  trackChanges(cluster)
  const nodeId = (i: number): string => `12D3KooW${String(i).padStart(44, '0')}`
  for (let i = 0; i < nodes; i++) apply(cluster, { origin: nodeId(i), seq: 1, ts: i + 1, lc: 0, type: 'node', body: { name: `n${i}`, priority: i % 7, profiles: ['linux'], resources: { slot: ['s0', 's1', 's2', 's3'] }, api: 'http://127.0.0.1:8080', addresses: ['/ip4/127.0.0.1/tcp/4001'], version: 'bench' } })
  const n = afterEach(cluster, k => { apply(cluster, { origin: nodeId(k), seq: 2, ts: nodes + k + 1, lc: 0, type: 'master', body: { term: k + 1 } }) }, 31)
  return { runs, runMs: Number(r.ms.toFixed(3)), runBytes: r.bytes, nodes, nodesMs: Number(n.ms.toFixed(3)) }
}

export function formatSnapshotGrowth (x: SnapshotGrowthFigures): string[] {
  return [
    `snapshot after one more run of a schedule that had ${x.runs} runs: ${x.runMs} ms, ${x.runBytes} bytes written`,
    `snapshot after one term claimed among ${x.nodes} nodes: ${x.nodesMs} ms`
  ]
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const progress = (m: string): void => { process.stderr.write(`bench: ${m}\n`) }
  const xs = snapshotBench(progress)
  const growth = snapshotGrowth(progress)
  for (const l of [...formatSnapshot(xs), ...formatSnapshotGrowth(growth)]) console.log(l)
  console.log(JSON.stringify({ snapshots: xs, growth }))
}
