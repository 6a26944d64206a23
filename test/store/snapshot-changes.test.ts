// G-4, issue 12: a snapshot serialises only the joblists and requests the reducer marked as
// changed (state/changes.ts). Whatever events come, in whatever order each origin's events
// interleave, and wherever snapshots are taken, the change so computed must be exactly the one
// a full pass over the state computes — every kind of event included: submits, accepts (two
// masters accepting one request: aliases), updates by an alias, cancels, stops, acks,
// attempts lost and finished, deliveries, purges.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stateHash } from '../../src/state/hash.js'
import { apply, reduce, skipTo } from '../../src/state/reducer.js'
import type { ClusterState } from '../../src/state/types.js'
import { isMarked, markedCount, takeChanges, trackChanges } from '../../src/state/changes.js'
import { MAX_SKIP_RECORDS } from '../../src/state/schedules.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { SnapshotWrite, StoredSnapshot } from '../../src/store/event-store.js'
import { SNAPSHOT_VERSION } from '../../src/store/event-store.js'
import { SnapshotWriter, assembleState, snapshotState, stateParts } from '../../src/store/snapshot-parts.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import type { JoblistSpec } from '../../src/spec/types.js'
import { Random } from '../../src/sim/random.js'
import { archivable, extract, restore } from '../../src/state/archive.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** 2026-01-01T00:00:00Z: the first cron instant of the schedules below. */
const T0 = Date.UTC(2026, 0, 1)

/** A schedule's joblist: every minute, paused by a failed run. */
const scheduled = (name: string): JoblistSpec => joblist(name, [['s', [job('j')]]], { schedule: { cron: '* * * * *', timezone: 'UTC', onFailure: 'pause', overlap: 'skip', catchUp: 'one', maxCatchUp: 100 } })

/** A cluster's events of every kind (a seeded mix). */
function events (seed: number, n: number): UnsignedEvent[] {
  const rnd = new Random(seed)
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  h.node('B', { slot: ['s0'] })
  for (const name of ['tick', 'tock']) h.emit('U', 'schedule', { spec: scheduled(name), owner: 'alice' })
  const ids: string[] = []
  for (let i = 0; i < n; i++) {
    const req = h.submit(joblist(`w${i}`, [['a', [job('x', { retries: 1 })]], ['b', [job('y'), job('z')]]]), rnd.next() < 0.5 ? 'A' : 'M')
    h.settle()
    // Now and then a second master accepts the same request too (a healed partition): its accept
    // loses, and its ID becomes an alias; delivered before the first (another interleaving), it
    // makes a joblist that the first then replaces.
    if (rnd.next() < 0.3) {
      // (Now and then it claims a term first: a node's term is a part of the state.)
      if (rnd.next() < 0.5) h.emit('M2', 'master', { term: 2 + i })
      h.emit('M2', 'accept', { request: req, id: `m2-${i}`, term: 2, onLost: 'retry', maxLost: 1 })
      // A change that names the alias: the winner's record changes.
      h.emit('U', 'update', { joblistId: `m2-${i}`, priority: 1 + rnd.int(9), tags: [`a${rnd.int(3)}`] })
    }
    // Runs of two schedules (cron instants, a second master's duplicate now and then, manual
    // runs), pauses and resumes, skipped instants: a schedule's runs are parts of their own.
    if (rnd.next() < 0.5) {
      const name = rnd.next() < 0.5 ? 'tick' : 'tock'
      const manual = rnd.next() < 0.2
      const run = h.emit(rnd.next() < 0.8 ? 'M' : 'M2', 'submit', { spec: scheduled(name), owner: 'alice', schedule: { name, instant: T0 + Math.floor(i / 2) * 60_000, ...(manual ? { manual: true as const } : {}) } })
      h.settle()
      const runId = h.state.requests[`${run.origin}:${run.seq}`]?.joblistId
      if (runId !== undefined) ids.push(runId)
    }
    if (rnd.next() < 0.1) h.emit('U', 'control', { name: 'tick', op: rnd.next() < 0.5 ? 'pause' : 'resume' })
    if (rnd.next() < 0.1) h.emit('M', 'skip', { name: 'tock', from: T0 + i * 60_000, to: T0 + (i + 1) * 60_000, count: 2, reason: 'overlap', term: 1 })
    const id = h.state.requests[req]?.joblistId
    if (id === undefined) continue
    ids.push(id)
    const some = (): string => rnd.next() < 0.3 ? `m2-${i}` : id
    if (rnd.next() < 0.3) h.emit('U', 'update', { joblistId: some(), priority: rnd.int(10) })
    if (rnd.next() < 0.2) h.emit('U', 'update', { joblistId: some(), tags: [`t${rnd.int(3)}`] })
    if (rnd.next() < 0.15) h.emit('M', 'cancel', { joblistId: some(), request: `U:${i}`, term: 1 })
    if (rnd.next() < 0.1) h.emit('U', 'stop', { joblistId: id })
    for (let k = 0; k < 3; k++) {
      for (const [jobId, byN] of Object.entries(h.state.attempts)) {
        for (const a of Object.values(byN)) {
          const r = rnd.next()
          if (a.state === 'assigned' && r < 0.8) h.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
          else if (a.state === 'running' && r < 0.1) h.emit('M', 'lose', { jobId, attempt: a.n, reason: 'node lost', term: 1 })
          else if (a.state === 'running' && r < 0.8) h.emit(a.node, 'finished', { jobId, attempt: a.n, state: r < 0.25 ? 'failed' : 'succeeded', exitCode: r < 0.25 ? 1 : 0, signal: null })
        }
      }
      h.settle()
    }
    // Acks from two nodes: delivered in either order, the earlier one's time stays.
    if (rnd.next() < 0.3) { h.emit('U', 'ack', { joblistId: id }); h.emit('A', 'ack', { joblistId: id }) }
    if (rnd.next() < 0.2) h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: rnd.next() < 0.5, term: 1 })
    // A digest mail to one of two addresses (a record per address, grown by each).
    if (rnd.next() < 0.2) h.emit('M', 'mail', { to: rnd.next() < 0.5 ? 'ops@h.example' : 'dev@h.example', ids: [`${id}.succeeded.0`], ok: rnd.next() < 0.8, term: 1 })
    if (ids.length > 3 && rnd.next() < 0.1) {
      const old = ids.splice(rnd.int(ids.length - 1), 1)[0]
      const jl = h.state.joblists[old]
      if (jl !== undefined) h.emit('M', 'purge', { before: h.now + 1, ids: [old], requests: [jl.request] })
    }
  }
  return h.events
}

/** A snapshot change with its parts in one order (the marks list them in the order they came). */
const sorted = (w: SnapshotWrite): SnapshotWrite => ({ ...w, put: [...w.put].sort((a, b) => a[0] < b[0] ? -1 : 1), del: [...w.del].sort() })

/** The events in another order that keeps each origin's own order (as gossip may deliver them). */
function interleave (all: UnsignedEvent[], seed: number): UnsignedEvent[] {
  const rnd = new Random(seed)
  const queues = new Map<string, UnsignedEvent[]>()
  for (const e of all) { const q = queues.get(e.origin); if (q === undefined) queues.set(e.origin, [e]); else q.push(e) }
  const out: UnsignedEvent[] = []
  while (queues.size > 0) {
    const origins = [...queues.keys()]
    const o = origins[rnd.int(origins.length)]
    const q = queues.get(o) as UnsignedEvent[]
    out.push(q.shift() as UnsignedEvent)
    if (q.length === 0) queues.delete(o)
  }
  return out
}

test('G-4: a snapshot from the reducer\'s marks equals the full one, for every kind of event, any interleaving and any snapshot points (property)', async () => {
  // Snapshots at random points, or after every event (each change then stands alone: a missing mark shows).
  const pointsArb = fc.oneof(fc.array(fc.integer({ min: 0, max: 100_000 }), { minLength: 2, maxLength: 12 }), fc.constant('every' as const))
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 1e6 }), pointsArb, async (seed, order, cuts) => {
    const list = interleave(events(seed, 14), order)
    const points = cuts === 'every' ? list.map((_, i) => i) : [...new Set(cuts.map(c => c % list.length))].sort((a, b) => a - b)
    const state = reduce([])
    trackChanges(state)
    const writer = new SnapshotWriter({ check: false, auditEvery: 0 })
    const store = new MemoryEventStore()
    let at = 0
    for (const p of points) {
      for (; at <= p; at++) apply(state, list[at])
      const changes = takeChanges(state)
      assert.ok(changes !== undefined)
      const w = writer.next(state, [], changes)
      assert.deepEqual(sorted(w), sorted(writer.next(state)), `after event ${p} (${list[p].type})`)
      await store.write([], w)
      writer.committed(w)
      assert.equal(stateHash(snapshotState(await store.loadSnapshot() as StoredSnapshot)), stateHash(state))
      // Now and then ended joblists leave memory for the archive (a snapshot), and come back.
      if (p % 3 === 0) {
        const out = extract(state, archivable(state, Number.MAX_SAFE_INTEGER, { afterMs: 0, unackedMs: 0, limit: 3 }))
        for (const bundles of [out.map(x => x.bundle), []]) {
          const c = writer.next(state, [], takeChanges(state))
          assert.deepEqual(sorted(c), sorted(writer.next(state)), `archive at event ${p}`)
          writer.committed(c)
          for (const b of bundles) restore(state, b)
        }
      }
    }
    // A restart from the last snapshot, and the events after it: the state of all events.
    const restarted = snapshotState(await store.loadSnapshot() as StoredSnapshot)
    for (const e of list.slice(at)) apply(restarted, e)
    assert.equal(stateHash(restarted), stateHash(reduce(list)))
  }), { numRuns: 40 })
})

test('G-4: events a purge took out of the logs, counted as applied (skipTo), are marked for the snapshot', () => {
  const state = reduce(events(5, 3))
  trackChanges(state)
  const writer = new SnapshotWriter({ check: false, auditEvery: 0 })
  writer.committed(writer.next(state))
  skipTo(state, 'Z', 40)
  skipTo(state, 'A', (state.applied.A ?? 0) + 7)
  const w = writer.next(state, [], takeChanges(state))
  assert.deepEqual(sorted(w), sorted(writer.next(state)))
  assert.deepEqual(w.put.map(([k]) => k).sort(), ['applied!A', 'applied!Z'])
})

test('G-4: the snapshot after a few changes serialises only the parts of the joblists they touched', () => {
  const list = events(5, 40)
  const state = reduce([])
  trackChanges(state)
  const cut = list.length - 12
  for (const e of list.slice(0, cut)) apply(state, e)
  const writer = new SnapshotWriter({ check: false, auditEvery: 0 })
  writer.committed(writer.next(state, [], takeChanges(state)))
  for (const e of list.slice(cut)) apply(state, e)
  const changes = takeChanges(state)
  assert.ok(changes !== undefined && markedCount(changes) > 0)
  // Every part of an unmarked joblist is left out unread: spy on serialisation through toJSON.
  let serialised = 0
  const marked = (id: string): boolean => isMarked(changes, 'joblists', id)
  for (const [id, jl] of Object.entries(state.joblists)) {
    if (!marked(id)) Object.defineProperty(jl, 'toJSON', { value: () => { serialised++; return { ...jl } }, enumerable: false, configurable: true })
  }
  const w = writer.next(state, [], changes)
  assert.equal(serialised, 0, 'an unmarked joblist was serialised')
  assert.ok(Object.keys(state.joblists).some(id => !marked(id)), 'the test needs unmarked joblists')
  for (const jl of Object.values(state.joblists)) delete (jl as { toJSON?: unknown }).toJSON
  assert.deepEqual(sorted(w), sorted(writer.next(state)))
})

test('G-4: a part changed without the reducer\'s mark is missed without the self-check, and stops the node with it (CIS_CHECK_SNAPSHOTS)', () => {
  const list = events(9, 10)
  for (const check of [false, true]) {
    const state = reduce([])
    trackChanges(state)
    for (const e of list) apply(state, e)
    const writer = new SnapshotWriter({ check, auditEvery: 0 })
    writer.committed(writer.next(state, [], takeChanges(state)))
    // A change behind the reducer's back (what a reducer path without its mark would make).
    const id = Object.keys(state.joblists)[0]
    state.joblists[id].priority += 1
    if (!check) {
      const w = writer.next(state, [], takeChanges(state))
      assert.equal(w.put.some(([k]) => k === `joblists!${id}`), false, 'an unmarked change is not seen from the marks')
      assert.equal(writer.next(state).put.some(([k]) => k === `joblists!${id}`), true, 'the full pass sees it')
    } else {
      assert.throws(() => writer.next(state, [], takeChanges(state)), new RegExp(`part joblists!${id} changed or went, but no change marked it`))
    }
  }
})

/** A state with its changes tracked (as a node's), these events applied. */
function trackedState (list: UnsignedEvent[]): ClusterState {
  const state = reduce([])
  trackChanges(state)
  for (const e of list) apply(state, e)
  return state
}

test('G-4: without the self-check, every n-th snapshot is audited: a part missed by the marks is reported and the full change written', () => {
  const state = trackedState(events(9, 10))
  const reported: string[][] = []
  const writer = new SnapshotWriter({ check: false, auditEvery: 2, auditGapMs: 0, missed: parts => reported.push(parts) })
  writer.committed(writer.next(state, [], takeChanges(state)))
  const id = Object.keys(state.joblists)[0]
  state.joblists[id].priority += 1
  // The first after it is not audited (it misses the part); the second is, and writes it.
  const first = writer.next(state, [], takeChanges(state))
  assert.equal(first.put.some(([k]) => k === `joblists!${id}`), false)
  writer.committed(first)
  assert.deepEqual(reported, [])
  const second = writer.next(state, [], takeChanges(state))
  assert.deepEqual(reported, [[`joblists!${id}`]])
  assert.equal(second.put.some(([k]) => k === `joblists!${id}`), true)
  writer.committed(second)
  // A marked change after that is audited cleanly: nothing more reported.
  writer.committed(writer.next(state, [], takeChanges(state)))
  writer.committed(writer.next(state, [], takeChanges(state)))
  assert.equal(reported.length, 1)
})

test('G-4: audits are at most one per auditGapMs: within the gap a snapshot is not compared with the full one, however many came', () => {
  const state = trackedState(events(9, 10))
  const reported: string[][] = []
  const writer = new SnapshotWriter({ check: false, auditEvery: 1, auditGapMs: 3_600_000, missed: parts => reported.push(parts) })
  // The first is written whole; the second is audited (none before): nothing missed.
  writer.committed(writer.next(state, [], takeChanges(state)))
  writer.committed(writer.next(state, [], takeChanges(state)))
  const id = Object.keys(state.joblists)[0]
  state.joblists[id].priority += 1
  // A part missed by the marks, and several snapshots within the hour: none audited.
  for (let i = 0; i < 5; i++) {
    const w = writer.next(state, [], takeChanges(state))
    assert.equal(w.put.some(([k]) => k === `joblists!${id}`), false)
    writer.committed(w)
  }
  assert.deepEqual(reported, [])
  // With no gap the same writer's next snapshot would be audited: a fresh one shows it.
  const eagerReported: string[][] = []
  const eager = new SnapshotWriter({ check: false, auditEvery: 1, auditGapMs: 0, missed: parts => eagerReported.push(parts) })
  eager.committed(eager.next(state, [], takeChanges(state)))
  state.joblists[id].priority += 1
  eager.committed(eager.next(state, [], takeChanges(state)))
  assert.deepEqual(eagerReported, [[`joblists!${id}`]])
})

test('G-4 / S-6: a schedule\'s part holds no runs (each run is a part of its own, written once), and a snapshot of version 5 (whole records) is read and rewritten in parts', async () => {
  const state = trackedState(events(21, 24))
  const runs = Object.values(state.schedules).reduce((n, r) => n + r.runs.length, 0)
  assert.ok(runs >= 6, `runs of the workload's schedules: ${runs}`)
  assert.ok(Object.values(state.schedules).some(r => r.skips.length > 0), 'a schedule has skips')
  assert.ok(Object.values(state.schedules).some(r => Object.keys(r.failed ?? {}).length > 0), 'a schedule has failed runs')
  const parts = new Map(stateParts(state))
  for (const rec of Object.values(state.schedules)) {
    const head = JSON.parse(parts.get(`schedules!${rec.name}`) as string) as Record<string, unknown>
    for (const f of ['runs', 'order', 'byInstant', 'skips', 'failed']) assert.equal(head[f], undefined, f)
    for (const k of rec.runs) assert.ok(parts.has(`runs!${k}`), `run ${k} is a part`)
    for (const k of Object.keys(rec.failed ?? {})) assert.ok(parts.has(`failed!${k}`), `failed run ${k} is a part`)
    assert.equal([...parts.keys()].filter(k => k.startsWith(`skips!${rec.name}@`)).length, rec.skips.length, 'each skip is a part')
  }
  assert.equal(stateHash(assembleState(parts)), stateHash(state))
  // As version 5 wrote it: each schedule whole, no run parts, the queue a part.
  const v5 = [...parts].filter(([k]) => !/^(runs|skips|failed)!/.test(k)).map(([k, json]): [string, string] => k.startsWith('schedules!') ? [k, JSON.stringify(state.schedules[k.slice('schedules!'.length)])] : [k, json])
  const store = new MemoryEventStore()
  await store.write([], { version: 5, reset: true, put: [...v5, ['queue', JSON.stringify(state.queue)]], del: [] })
  const old = await store.loadSnapshot() as StoredSnapshot
  assert.equal(stateHash(snapshotState(old)), stateHash(state))
  // The writer seeded from it looks at every part at its next snapshot, though only marks are given.
  const writer = new SnapshotWriter({ check: false, auditEvery: 0 })
  writer.seed(old)
  takeChanges(state)
  const w = writer.next(state, [], takeChanges(state))
  assert.equal(w.version, SNAPSHOT_VERSION)
  assert.ok(w.put.some(([k]) => k.startsWith('runs!')), 'the runs are written as parts')
  assert.ok(w.del.includes('queue'))
  await store.write([], w)
  writer.committed(w)
  const now = await store.loadSnapshot() as StoredSnapshot
  assert.equal(stateHash(snapshotState(now)), stateHash(state))
  assert.deepEqual(writer.next(state, [], takeChanges(state)).put, [], 'then nothing is left to write')
})

test('G-4 / S-6: what the snapshot after one more run writes does not grow with the runs, failures and skips a schedule has had', () => {
  const written = (before: number): number => {
    const state = reduce([])
    trackChanges(state)
    apply(state, { origin: 'U', seq: 1, ts: 1, lc: 0, type: 'schedule', body: { spec: scheduled('tick'), owner: 'alice' } })
    // A run: submitted, accepted, cancelled (ended: no longer active).
    let seq = 0
    const run = (i: number): void => {
      apply(state, { origin: 'M', seq: ++seq, ts: 10 * i + 2, lc: 0, type: 'submit', body: { spec: scheduled('tick'), owner: 'alice', schedule: { name: 'tick', instant: T0 + i * 60_000 } } })
      const request = `M:${seq}`
      apply(state, { origin: 'M', seq: ++seq, ts: 10 * i + 3, lc: 0, type: 'accept', body: { request, id: `m-${i}`, term: 1, onLost: 'retry', maxLost: 1 } })
      // Every other run fails (kept among the failed runs); an instant skipped after each (kept too).
      if (i % 2 === 0) apply(state, { origin: 'M', seq: ++seq, ts: 10 * i + 4, lc: 0, type: 'cancel', body: { joblistId: `m-${i}`, request: `U:${i}`, term: 1 } })
      else {
        apply(state, { origin: 'M', seq: ++seq, ts: 10 * i + 4, lc: 0, type: 'assign', body: { jobId: `m-${i}.1`, attempt: 1, node: 'A', resources: {}, term: 1 } })
        apply(state, { origin: 'A', seq: i, ts: 10 * i + 5, lc: 0, type: 'finished', body: { jobId: `m-${i}.1`, attempt: 1, state: 'failed', exitCode: 1, signal: null, started: { at: 10 * i + 5, pid: 1 } } })
      }
      apply(state, { origin: 'M', seq: ++seq, ts: 10 * i + 6, lc: 0, type: 'skip', body: { name: 'tick', from: T0 + i * 60_000 + 1, to: T0 + i * 60_000 + 2, count: 1, reason: 'overlap', term: 1 } })
    }
    for (let i = 0; i < before; i++) run(i)
    const writer = new SnapshotWriter({ check: true })
    writer.committed(writer.next(state, [], takeChanges(state)))
    run(before)
    const w = writer.next(state, [], takeChanges(state))
    assert.deepEqual(state.schedules.tick.active, [], 'every run ended')
    assert.equal(Object.keys(state.schedules.tick.failed ?? {}).length, Math.floor((before + 1) / 2), 'the failed runs are kept')
    assert.equal(state.schedules.tick.skips.length, Math.min(before + 1, MAX_SKIP_RECORDS), 'the skips are kept (the latest MAX_SKIP_RECORDS)')
    return w.put.reduce((n, [k, json]) => n + k.length + json.length, 0)
  }
  const few = written(10)
  const many = written(2000)
  // (A few bytes more: longer IDs, seqs and times.)
  assert.ok(many <= few + 200, `bytes written after 10 runs ${few}, after 2,000 runs ${many}`)
})

test('G-4 / S-6: a version-5 snapshot whose schedule holds runs recorded without an order (Nov 30\'s code) keeps them through the rewrite in parts', async () => {
  const state = trackedState(events(21, 24))
  const rec = Object.values(state.schedules).find(r => r.runs.length >= 3)
  assert.ok(rec !== undefined)
  // The first two runs as that code recorded them: in the list, without an order.
  const legacy = rec.runs.slice(0, 2)
  for (const k of legacy) delete rec.order[k]
  const parts = new Map(stateParts(state))
  const v5 = [...parts].filter(([k]) => !/^(runs|skips|failed)!/.test(k)).map(([k, json]): [string, string] => k.startsWith('schedules!') ? [k, JSON.stringify(state.schedules[k.slice('schedules!'.length)])] : [k, json])
  const store = new MemoryEventStore()
  await store.write([], { version: 5, reset: true, put: v5, del: [] })
  const writer = new SnapshotWriter({ check: false, auditEvery: 0 })
  writer.seed(await store.loadSnapshot() as StoredSnapshot)
  const w = writer.next(state, [], takeChanges(state))
  for (const k of legacy) assert.ok(w.put.some(([p]) => p === `runs!${k}`), `run ${k} written`)
  await store.write([], w)
  const back = snapshotState(await store.loadSnapshot() as StoredSnapshot)
  assert.deepEqual(back.schedules[rec.name].runs, rec.runs)
  assert.equal(stateHash(back), stateHash(state))
})
