// Records figures for `npm run bench` (issue 13, G-2..G-4, G-6): what an accounting query
// costs with 10^5 records (index vs a scan of every record), what time travel costs at 10^5
// events, the bytes the store writes per finished one-job joblist at two store sizes (events
// and the snapshot the node rewrites every `snapshotEvery` events), and an agent's RSS and
// restart time with 1,000 and with N finished joblists stored.
import { performance } from 'node:perf_hooks'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AccountingIndex } from '../src/state/accounting.js'
import type { AccountingRecord } from '../src/state/accounting.js'
import { eventSubjects, stateAt } from '../src/state/history.js'
import { apply, reduce } from '../src/state/reducer.js'
import { ARCHIVED_PART, addDigest, archivable, digestHex, extract } from '../src/state/archive.js'
import type { ArchivedMeta } from '../src/state/archive.js'
import type { ClusterState } from '../src/state/types.js'
import type { ArchiveWrite } from '../src/store/event-store.js'
import { SNAPSHOT_VERSION } from '../src/store/event-store.js'
import { SnapshotWriter } from '../src/store/snapshot-parts.js'
import type { CisEvent, EventBodies, EventType } from '../src/events/types.js'
import { LevelEventStore } from '../src/store/level-store.js'
import { validateJoblist } from '../src/spec/validate.js'
import type { JoblistSpec } from '../src/spec/types.js'
import { api, cleanup, startAgent, waitFor } from '../test/helpers/agent.js'

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

/** 10^5 synthetic records across 50 owners and 10 nodes, one every 600 ms of history. */
function syntheticRecords (n: number, t0: number): AccountingRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const endedAt = t0 + i * 600
    return { key: `j${i}.1#1`, joblistId: `j${i}`, joblistName: `jl-${i % 500}`, jobId: `j${i}.1`, jobName: 'x', owner: `owner-${i % 50}`, tags: [], node: `node-${i % 10}`, resources: { slot: ['0'] }, attempt: 1, state: i % 17 === 0 ? 'failed' : 'succeeded', exitCode: i % 17 === 0 ? 1 : 0, signal: null, submittedAt: endedAt - 2000, startedAt: endedAt - 1000, endedAt, wallS: 1, duplicate: false }
  })
}

export interface AccountingFigures { records: number, returned: number, indexUs: number, indexScanned: number, scanUs: number, ratio: number }

/** One query returning about 100 of 10^5 records: by the index, and by a scan of every record. */
export function accountingBench (n = 100_000): AccountingFigures {
  const t0 = Date.parse('2026-01-01T00:00:00Z')
  const recs = syntheticRecords(n, t0)
  const idx = new AccountingIndex()
  for (const r of recs) idx.replace(r.joblistId, [r])
  // owner-7's records of the last ~83 minutes: 100 of them (one in 50, every 600 ms).
  const q = { owner: 'owner-7', since: t0 + (n - 5000) * 600, until: t0 + n * 600 }
  const idxTimes: number[] = []
  const scanTimes: number[] = []
  let returned = 0
  let scannedRecords = 0
  for (let rep = 0; rep < 21; rep++) {
    let t = performance.now()
    returned = idx.query(q).length
    idxTimes.push((performance.now() - t) * 1000)
    scannedRecords = idx.lastScanned
    t = performance.now()
    const brute = recs.filter(r => r.owner === q.owner && r.endedAt >= q.since && (r.startedAt ?? r.endedAt) <= q.until)
    scanTimes.push((performance.now() - t) * 1000)
    if (brute.length !== returned) throw new Error(`index and scan disagree: ${returned} vs ${brute.length}`)
  }
  const indexUs = Math.round(median(idxTimes))
  const scanUs = Math.round(median(scanTimes))
  return { records: n, returned, indexUs, indexScanned: scannedRecords, scanUs, ratio: Math.round(scanUs / Math.max(1, indexUs)) }
}

/**
 * The events of `n` finished one-job joblists (submit, accept, assign, started, finished), as a
 * cluster of a master M, a client C and a node A would write them; with `self`, as one node
 * with that ID (master, client and executor) would.
 */
export function syntheticEvents (n: number, t0 = Date.parse('2026-01-01T00:00:00Z'), self?: string): CisEvent[] {
  const seqs = new Map<string, number>()
  let ts = t0
  const out: CisEvent[] = []
  const ev = <T extends EventType>(who: string, type: T, body: EventBodies[T]): CisEvent<T> => {
    const origin = self ?? who
    const seq = (seqs.get(origin) ?? 0) + 1
    seqs.set(origin, seq)
    ts += 1
    const e: CisEvent<T> = { origin, seq, ts, lc: 0, type, body, sig: '' }
    out.push(e)
    return e
  }
  ev('A', 'node', { name: 'bench-a', priority: 0, profiles: [], resources: { slot: ['0', '1', '2', '3'] }, api: '', addresses: [], version: 'bench' })
  ev('M', 'master', { term: 1 })
  for (let i = 0; i < n; i++) {
    const r = validateJoblist({ name: `bench-${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
    const spec = (r as { spec: JoblistSpec }).spec
    const sub = ev('C', 'submit', { spec, owner: `owner-${i % 20}` })
    const id = `mmmm-${i + 1}`
    ev('M', 'accept', { request: `${sub.origin}:${sub.seq}`, id, term: 1, onLost: 'retry', maxLost: 3 })
    ev('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: self ?? 'A', resources: { slot: [String(i % 4)] }, term: 1 })
    ev('A', 'started', { jobId: `${id}.1`, attempt: 1, pid: 1000 + i })
    ev('A', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
  }
  return out
}

export interface TimeTravelFigures { events: number, stateAtMs: number, fullReplayMs: number }

/** The state at the middle of 10^5 events, replayed (what GET /v1/state?at= does after reading the store). */
export function timeTravelBench (joblists = 20_000): TimeTravelFigures {
  const events = syntheticEvents(joblists)
  const mid = events[Math.floor(events.length / 2)].ts
  let t = performance.now()
  stateAt(events, mid)
  const stateAtMs = Math.round(performance.now() - t)
  t = performance.now()
  reduce(events)
  return { events: events.length, stateAtMs, fullReplayMs: Math.round(performance.now() - t) }
}

/** Every ended joblist of the state moved into archive bundles (as an agent does, archive.ts). */
function archiveAll (state: ClusterState, digest0 = 0n): { put: ArchiveWrite['put'], digest: bigint, meta: [string, string] } {
  const ids = archivable(state, Number.MAX_SAFE_INTEGER, { afterMs: 0, unackedMs: 0, limit: Infinity })
  let digest = digest0
  const put: ArchiveWrite['put'] = []
  for (const x of extract(state, ids)) {
    put.push({ id: x.bundle.id, bundle: JSON.stringify(x.bundle), index: x.entries })
    digest = addDigest(digest, x.digest)
  }
  const meta: ArchivedMeta = { digest: digestHex(digest), states: { succeeded: ids.length } }
  return { put, digest, meta: [ARCHIVED_PART, JSON.stringify(meta)] }
}

const dirBytes = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((n, d) => n + (d.isDirectory() ? dirBytes(join(dir, d.name)) : statSync(join(dir, d.name)).size), 0)

/**
 * A LevelDB store holding `n` finished one-job joblists (events, and a snapshot as the agent
 * writes them), in `dir`; and what 1,000 more joblists then cost the store: their events and
 * the snapshot's changes (G-4: only the parts that changed are written).
 */
async function buildStore (dir: string, n: number, self: string, progress: (m: string) => void): Promise<{ eventBytes: number, snapshotBytes: number, nextBytesPerJoblist: number, historyMs: number, historyScanMs: number }> {
  const more = 1000
  const all = syntheticEvents(n + more, undefined, self)
  const base = all.slice(0, 2 + 5 * n)
  const extra = all.slice(2 + 5 * n)
  const store = new LevelEventStore(join(dir, 'store'))
  await store.open()
  for (let i = 0; i < base.length; i += 5000) {
    await store.write(base.slice(i, i + 5000))
    if (i % 100_000 === 0 && i > 0) progress(`records: wrote ${i}/${base.length} events`)
  }
  const state = reduce(base)
  // As an agent leaves them after store.archiveAfter: every ended joblist in the archive, out
  // of the snapshot (G-4: memory holds what is active).
  const writer = new SnapshotWriter()
  const archived = archiveAll(state)
  const snap = writer.next(state, [archived.meta])
  const snapshotBytes = snap.put.reduce((b, [k, v]) => b + k.length + v.length, 0)
  await store.write([], snap)
  writer.committed(snap)
  for (let i = 0; i < archived.put.length; i += 5000) {
    await store.write([], { version: SNAPSHOT_VERSION, reset: false, put: [], del: [], archive: { put: archived.put.slice(i, i + 5000), del: [] } })
  }
  // G-3: the history of one joblist through the subject index, and by a scan of every event.
  const id = `mmmm-${Math.floor(n / 2)}`
  let t = performance.now()
  const viaIndex: unknown[] = []
  for await (const e of store.readSubject(id)) viaIndex.push(e)
  const historyMs = performance.now() - t
  t = performance.now()
  let scanned = 0
  for (const origin of await store.origins()) for await (const e of store.readOrigin(origin, 0)) if (eventSubjects(e).includes(id)) scanned++
  const historyScanMs = performance.now() - t
  if (scanned !== viaIndex.length) throw new Error(`index and scan disagree on ${id}: ${viaIndex.length} vs ${scanned}`)
  await store.close()
  // 1,000 more joblists (5,000 events, the default snapshotEvery): their events, the snapshot
  // after them, and (later) their move to the archive with the snapshot's deletions.
  for (const e of extra) apply(state, e)
  const change = writer.next(state, [archived.meta])
  writer.committed(change)
  const moved = archiveAll(state, archived.digest)
  const gone = writer.next(state, [moved.meta])
  const partBytes = (w: { put: Array<[string, string]>, del: string[] }): number => w.put.reduce((b, [k, v]) => b + k.length + v.length, 0) + w.del.reduce((b, k) => b + k.length, 0)
  const changeBytes = partBytes(change) + partBytes(gone) + moved.put.reduce((b, p) => b + p.id.length + p.bundle.length + p.index.reduce((x, [k, v]) => x + k.length + v.length, 0), 0)
  const extraBytes = extra.reduce((b, e) => b + JSON.stringify(e).length, 0)
  return {
    eventBytes: base.reduce((b, e) => b + JSON.stringify(e).length, 0) / n,
    snapshotBytes,
    nextBytesPerJoblist: Math.round((extraBytes + changeBytes) / more),
    historyMs: Math.round(historyMs * 10) / 10,
    historyScanMs: Math.round(historyScanMs)
  }
}

export interface StoreFigures {
  joblists: number
  /** JSON bytes of the events of one finished one-job joblist. */
  eventBytesPerJoblist: number
  /** The whole snapshot (all its parts). */
  snapshotBytes: number
  /** Bytes the store writes for one more finished joblist: its events and its share of the next snapshot's changes (G-4). */
  bytesPerJoblist: number
  onDiskMb: number
  /** One joblist's history read through the subject index, and by scanning every stored event (ms). */
  historyMs: number
  historyScanMs: number
  /** An agent started on that store: time to answer /v1/health, RSS once up, joblists it shows. */
  restartMs: number
  rssMb: number
  joblistsShown: number
}

/** Store size, bytes per joblist and an agent's restart on a store of `n` finished joblists. */
export async function storeBench (n: number, progress: (m: string) => void): Promise<StoreFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cis-bench-store-'))
  try {
    // The store is one agent's own history (it submitted, accepted and ran every joblist): its
    // identity first (an agent started once), then its events written as it would have.
    const first = await startAgent({ name: 'store-bench', dataDir: dir, args: ['--resource', 'slot=1'] })
    const self = (await api(first.url, '/v1/health')).body.id as string
    await first.stop()
    rmSync(join(dir, 'store'), { recursive: true, force: true })
    rmSync(join(dir, 'joblists.log'), { force: true })
    progress(`records: a store of ${n} finished joblists`)
    const { eventBytes, snapshotBytes, nextBytesPerJoblist, historyMs, historyScanMs } = await buildStore(dir, n, self, progress)
    const onDiskMb = Math.round(dirBytes(join(dir, 'store')) / 1e5) / 10
    progress(`records: an agent started on it (${onDiskMb} MB on disk), stopped, and started again`)
    // The first start on it writes the node's own files (joblists.log); the restart is what an
    // operator waits for after a crash or an upgrade.
    const second = await startAgent({ name: 'store-bench', dataDir: dir, args: ['--resource', 'slot=1'] })
    await second.stop()
    const t = performance.now()
    const agent = await startAgent({ name: 'store-bench', dataDir: dir, args: ['--resource', 'slot=1'] })
    try {
      await waitFor('health', async () => (await api(agent.url, '/v1/health')).status === 200, 600_000, 20)
      const restartMs = Math.round(performance.now() - t)
      const rssMb = Math.round(Number(readFileSafe(`/proc/${agent.proc.pid ?? 0}/status`).match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024)
      const joblistsShown = Object.values((await api(agent.url, '/v1/stats')).body.joblists as Record<string, number>).reduce((a, b) => a + b, 0)
      return { joblists: n, eventBytesPerJoblist: Math.round(eventBytes), snapshotBytes, bytesPerJoblist: nextBytesPerJoblist, historyMs, historyScanMs, onDiskMb, restartMs, rssMb, joblistsShown }
    } finally {
      await agent.stop()
    }
  } finally {
    cleanup(dir)
    rmSync(dir, { recursive: true, force: true })
  }
}

function readFileSafe (f: string): string {
  try { return readFileSync(f, 'utf8') } catch { return '' }
}

export interface RecordsBench {
  accounting: AccountingFigures
  timeTravel: TimeTravelFigures
  /** An agent with nothing stored, restarted: the baseline of the stores' figures. */
  empty: { restartMs: number, rssMb: number }
  stores: StoreFigures[]
}

/** An agent on an empty data directory, started, stopped, and started again. */
async function emptyBench (): Promise<{ restartMs: number, rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cis-bench-empty-'))
  try {
    const first = await startAgent({ name: 'empty-bench', dataDir: dir, args: ['--resource', 'slot=1'] })
    await first.stop()
    const t = performance.now()
    const agent = await startAgent({ name: 'empty-bench', dataDir: dir, args: ['--resource', 'slot=1'] })
    try {
      await waitFor('health', async () => (await api(agent.url, '/v1/health')).status === 200, 60_000, 20)
      const restartMs = Math.round(performance.now() - t)
      return { restartMs, rssMb: Math.round(Number(readFileSafe(`/proc/${agent.proc.pid ?? 0}/status`).match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) / 1024) }
    } finally { await agent.stop() }
  } finally {
    cleanup(dir)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Every records figure; the large store's size from CIS_BENCH_STORE_JOBLISTS (default 100000). */
export async function recordsBench (progress: (m: string) => void): Promise<RecordsBench> {
  progress('records: an accounting query over 10^5 records, by the index and by a scan')
  const accounting = accountingBench()
  progress('records: time travel over 10^5 events')
  const timeTravel = timeTravelBench()
  const large = Number(process.env.CIS_BENCH_STORE_JOBLISTS ?? 100_000)
  progress('records: an empty agent restarted (the baseline)')
  const empty = await emptyBench()
  const stores = [await storeBench(1000, progress)]
  if (large > 1000) stores.push(await storeBench(large, progress))
  return { accounting, timeTravel, empty, stores }
}

export function formatRecords (r: RecordsBench): string[] {
  const a = r.accounting
  return [
    `accounting query, ${a.records} records:        ${a.returned} returned in ${a.indexUs} us by the index (${a.indexScanned} read) vs ${a.scanUs} us scanning all (${a.ratio}x)`,
    `time travel, ${r.timeTravel.events} events:            state at the middle ${r.timeTravel.stateAtMs} ms (full replay ${r.timeTravel.fullReplayMs} ms; plus reading the store)`,
    `empty agent:                       restart to health ${r.empty.restartMs} ms, RSS ${r.empty.rssMb} MB`,
    ...r.stores.map(s => `store of ${s.joblists} finished joblists:     ${s.onDiskMb} MB on disk (archived: the snapshot holds ${Math.round(s.snapshotBytes / 1e2) / 10} kB); one more joblist writes ${s.bytesPerJoblist} B (${s.eventBytesPerJoblist} B of events, the rest its snapshot changes and its move to the archive); restart to health ${s.restartMs} ms (${Math.round(s.restartMs / Math.max(1, r.empty.restartMs) * 10) / 10}x empty), RSS ${s.rssMb} MB (${Math.round(s.rssMb / Math.max(1, r.empty.rssMb) * 100) / 100}x empty), ${s.joblistsShown} joblists counted; one joblist's history ${s.historyMs} ms by the index vs ${s.historyScanMs} ms scanning`)
  ]
}
