// G-4: the snapshot is stored in parts and written as changes. Whatever the points at which
// snapshots are taken, the stored parts assemble into exactly the state they were taken from
// (same hash), a restart from them plus the later events gives the state of all events, and a
// snapshot after a little work writes a little, however much history the state holds.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { stateHash } from '../../src/state/hash.js'
import { apply, reduce } from '../../src/state/reducer.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { StoredSnapshot } from '../../src/store/event-store.js'
import { SNAPSHOT_VERSION } from '../../src/store/event-store.js'
import { SnapshotWriter, assembleState, snapshotState, stateParts } from '../../src/store/snapshot-parts.js'
import type { CisEvent } from '../../src/events/types.js'
import { takeChanges, trackChanges } from '../../src/state/changes.js'
import { Harness, job, joblist } from '../helpers/harness.js'

function workload (n: number, seed: number): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  let r = seed
  const next = (): number => { r = (r * 1103515245 + 12345) % 2147483648; return r / 2147483648 }
  for (let i = 0; i < n; i++) {
    const req = h.submit(joblist(`w${i}`, [['a', [job('x', { retries: 1 })]]], next() < 0.3 ? { notify: [{ webhook: 'https://h.example/x', on: ['failed', 'succeeded'] }] } : {}), 'A')
    h.settle()
    const id = h.state.requests[req]?.joblistId
    if (id !== undefined && next() < 0.3) h.emit('U', 'update', { joblistId: id, priority: Math.floor(next() * 10) })
    h.runAll(next() < 0.2 ? 'failed' : 'succeeded')
    h.settle()
    if (id !== undefined && next() < 0.2) h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: next() < 0.5, term: 1 })
  }
  h.runAll()
  h.settle()
  return h
}

test('G-4: the parts of a state assemble into the same state', () => {
  const h = workload(12, 3)
  assert.equal(stateHash(assembleState(stateParts(h.state))), stateHash(h.state))
})

test('G-4: snapshots taken as changes at any points restore the state they were taken from; snapshot plus later events gives the state of all events (property)', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 1e6 }), fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 5 }), async (seed, cuts) => {
    const events = workload(10, seed).events as CisEvent[]
    const points = [...new Set(cuts.map(c => c % events.length))].sort((a, b) => a - b)
    const store = new MemoryEventStore()
    const writer = new SnapshotWriter()
    const state = reduce([])
    let at = 0
    for (const p of points) {
      for (; at <= p; at++) apply(state, events[at])
      const w = writer.next(state)
      await store.write([], w)
      writer.committed(w)
      const stored = await store.loadSnapshot() as StoredSnapshot
      assert.equal(stateHash(snapshotState(stored)), stateHash(state), `snapshot after event ${p}`)
    }
    // A restart: the last snapshot, then the events after it.
    const restarted = snapshotState(await store.loadSnapshot() as StoredSnapshot)
    for (const e of events.slice(at)) apply(restarted, e)
    assert.equal(stateHash(restarted), stateHash(reduce(events)))
  }), { numRuns: 30 })
})

test('G-4: what a snapshot writes follows what changed, not how much history the state holds', () => {
  const bytesOfNextTen = (history: number): number => {
    const h = workload(history + 10, 11)
    const events = h.events
    // The state after `history` joblists (each: submit, accept, assign, started, finished, maybe more).
    const cut = events.findIndex(e => e.type === 'submit' && (e.body as { spec: { name: string } }).spec.name === `w${history}`)
    const state = reduce(events.slice(0, cut))
    const w = new SnapshotWriter()
    w.committed(w.next(state))
    for (const e of events.slice(cut)) apply(state, e)
    const change = w.next(state)
    return change.put.reduce((b, [k, v]) => b + k.length + v.length, 0)
  }
  const small = bytesOfNextTen(20)
  const large = bytesOfNextTen(400)
  // The same ten joblists' parts, and the few whole fields (queue, clock, counters) each time.
  assert.ok(large < small * 1.5, `10 joblists after 400 write ${large} B, after 20 ${small} B`)
})

/** A state with joblists waiting in the queue (accepted, none run: node A has one slot, each joblist needs two). */
function deepQueue (n: number): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  for (let i = 0; i < n; i++) h.submit(joblist(`q${i}`, [['a', [job('x', { needs: { slot: 2 } })]]]), 'A')
  h.settle()
  return h
}

test('G-4 / issue 12: a snapshot holds no queue (its IDs were one part, written whole as it changed); the queue is derived from the joblists as the snapshot is assembled', () => {
  const h = deepQueue(30)
  assert.equal(h.state.queue.length, 30, 'thirty joblists wait')
  const parts = [...stateParts(h.state)]
  assert.ok(!parts.some(([k]) => k === 'queue'), 'no part is the queue')
  const assembled = assembleState(parts)
  assert.deepEqual(assembled.queue, h.state.queue)
  assert.equal(stateHash(assembled), stateHash(h.state))
  // What a snapshot after one more accept writes does not grow with the queue.
  const writer = new SnapshotWriter({ check: true })
  trackChanges(h.state)
  writer.committed(writer.next(h.state))
  takeChanges(h.state)
  h.submit(joblist('one-more', [['a', [job('x', { needs: { slot: 2 } })]]]), 'A')
  h.settle()
  const w = writer.next(h.state, [], takeChanges(h.state))
  assert.ok(!w.put.some(([k]) => k === 'queue'))
  assert.ok(w.put.every(([, json]) => json.length < 2000), `each part written is small: ${w.put.map(([k, j]) => `${k} ${j.length}`).join(', ')}`)
})

test('G-4 / issue 12: a snapshot of version 5 (the queue one of its parts) is still read, and the next snapshot deletes that part', async () => {
  const h = deepQueue(12)
  const store = new MemoryEventStore()
  // As version 5 wrote it: every part, the queue's too.
  await store.write([], { version: 5, reset: true, put: [...stateParts(h.state), ['queue', JSON.stringify(h.state.queue)]], del: [] })
  const stored = await store.loadSnapshot()
  assert.ok(stored !== undefined, 'read')
  assert.equal(stored.version, 5)
  assert.equal(stateHash(snapshotState(stored)), stateHash(h.state))
  // A part that disagrees with the joblists is not believed: the queue comes from the joblists.
  await store.write([], { version: 5, reset: false, put: [['queue', '["m-99"]']], del: [] })
  assert.deepEqual(snapshotState(await store.loadSnapshot() as StoredSnapshot).queue, h.state.queue)
  const writer = new SnapshotWriter()
  writer.seed(await store.loadSnapshot() as StoredSnapshot)
  const w = writer.next(h.state)
  assert.deepEqual(w.del, ['queue'])
  assert.equal(w.version, SNAPSHOT_VERSION)
  await store.write([], w)
  writer.committed(w)
  const now = await store.loadSnapshot() as StoredSnapshot
  assert.equal(now.version, SNAPSHOT_VERSION)
  assert.ok(!now.parts.some(([k]) => k === 'queue'))
  assert.equal(stateHash(snapshotState(now)), stateHash(h.state))
  // A version this agent does not know is not read (the events are replayed instead).
  await store.write([], { version: 4, reset: true, put: [...stateParts(h.state)], del: [] })
  assert.equal(await store.loadSnapshot(), undefined)
})

test('G-4 / issue 12: a snapshot of version 6 (every message to an address kept, no item standings) is read as the events give it, and the next snapshot writes the standings and cut messages', async () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const notify = [{ email: 'ops@example.org', digest: 'now' as const, on: ['succeeded' as const, 'failed' as const] }]
  const ids: string[] = []
  for (let i = 0; i < 6; i++) {
    const req = h.submit(joblist(`m${i}`, [['s', [job('x')]]], { notify }), 'A')
    h.settle()
    const id = h.joblistId(req)
    h.start(`${id}.1`)
    h.finish(`${id}.1`, i % 2 === 0 ? 'succeeded' : 'failed')
    ids.push(`${id}.${i % 2 === 0 ? 'succeeded' : 'failed'}.0`)
    // Each item failed once (one with an error, one without), then got through.
    h.emit('M', 'mail', { to: 'ops@example.org', ids: [ids[i]], ok: false, ...(i % 3 === 0 ? { error: 'refused' } : {}), term: 1 })
    h.emit('M', 'mail', { to: 'ops@example.org', ids: [ids[i]], ok: true, term: 1 })
  }
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [ids[5]], ok: false, error: 'down', term: 1 })
  assert.equal(h.state.mails['ops@example.org'].length, 2, 'the address keeps the last that got through and the failure after it')
  // As version 6 wrote it: every message kept, no standings.
  const v6 = { ...h.state, mails: { 'ops@example.org': h.events.filter(e => e.type === 'mail').map(e => { const b = e.body as { ids: string[], ok: boolean, error?: string }; return { ids: b.ids, ok: b.ok, ...(b.error !== undefined ? { error: b.error } : {}), at: e.ts, pos: [e.ts, e.lc, e.origin, e.seq] } }) }, mailItems: {} }
  const store = new MemoryEventStore()
  await store.write([], { version: 6, reset: true, put: [...stateParts(v6 as unknown as typeof h.state)].filter(([k]) => !k.startsWith('mailItems!')), del: [] })
  const stored = await store.loadSnapshot() as StoredSnapshot
  assert.equal(stored.version, 6)
  assert.equal((JSON.parse(stored.parts.find(([k]) => k === 'mails!ops@example.org')?.[1] ?? '[]') as unknown[]).length, 13, 'every message in the old part')
  const loaded = snapshotState(stored)
  assert.deepEqual(loaded.mailItems, h.state.mailItems, 'each item\'s standing derived from the messages')
  assert.deepEqual(loaded.mails, h.state.mails, 'the messages cut')
  assert.equal(stateHash(loaded), stateHash(h.state))
  const writer = new SnapshotWriter()
  writer.seed(stored)
  const w = writer.next(loaded)
  assert.equal(w.version, SNAPSHOT_VERSION)
  assert.equal(w.put.filter(([k]) => k.startsWith('mailItems!')).length, 6, 'the standings written')
  assert.ok(w.put.some(([k]) => k === 'mails!ops@example.org'), 'the cut messages written')
})

test('G-4 / G-6: a version-6 snapshot\'s messages listing the item of a joblist purged since give it no standing (the reducer drops it too)', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('p', [['s', [job('x')]]], { notify: [{ email: 'ops@example.org', digest: 'now', on: ['succeeded'] }] }), 'A')
  h.settle()
  const id = h.joblistId(req)
  h.start(`${id}.1`)
  h.finish(`${id}.1`, 'succeeded')
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${id}.succeeded.0`], ok: true, term: 1 })
  assert.deepEqual(Object.keys(h.state.mailItems), [`${id}.succeeded.0`])
  h.emit('M', 'purge', { before: h.now + 1e9, ids: [id], requests: [req] })
  assert.deepEqual(h.state.mailItems, {}, 'the purge took its standing')
  assert.equal(h.state.mails['ops@example.org'].length, 1, 'the address still has its last message')
  // As version 6 wrote it: the messages, no standings.
  const v6 = assembleState([...stateParts(h.state)].filter(([k]) => !k.startsWith('mailItems!')), 6)
  assert.deepEqual(v6.mailItems, {})
  assert.equal(stateHash(v6), stateHash(h.state))
})
