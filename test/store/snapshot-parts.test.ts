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
import { SnapshotWriter, assembleState, snapshotState, stateParts } from '../../src/store/snapshot-parts.js'
import type { CisEvent } from '../../src/events/types.js'
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
