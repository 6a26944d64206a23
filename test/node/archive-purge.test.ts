// A purge (G-6, by hand or by store.purgeAfter) names the joblists that ended before its cutoff
// wherever they are: in memory, in the store's archive, or between the two (taken out of memory
// for the archive, the snapshot's write not committed yet). The archiving timer and retention's
// check tick on the same grid, so a purge often starts while such a write is under way. A look-up
// by name (G-4: `cis status NAME`, the list by name) finds such a joblist too.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import type { Bundle } from '../../src/state/archive.js'
import { apply } from '../../src/state/reducer.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { EventLog } from '../../src/node/event-log.js'
import { memoryEventLog } from '../helpers/event-log.js'
import { Harness, job, joblist } from '../helpers/harness.js'

async function names (events: EventLog, before: number): Promise<string[]> {
  const out: string[] = []
  for await (const b of events.archivedEndedBefore(before)) out.push(b.id)
  return out
}

test('G-4, G-6: a joblist being archived (its write under way) is named by a purge and found by its name, as once it is in the archive, once each time', async () => {
  const store = new MemoryEventStore()
  // The store's writes wait while `held` is set: the snapshot that archives stays under way.
  let held: Promise<void> | null = null
  let release = (): void => {}
  const write = store.write.bind(store)
  store.write = async (...args) => { if (held !== null) await held; await write(...args) }
  // (Every write a snapshot: the own event below brings the archiving one.)
  const { events } = await memoryEventLog({ store, snapshotEvery: 1, archive: { afterMs: 0, unackedMs: 0, usageHalfLifeMs: 3600_000 } })
  // Two joblists that ended (the harness's clock is far in the past), applied to the log's state.
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const reqs = [h.submit(joblist('old', [['s', [job('x')]]]), 'A'), h.submit(joblist('old', [['s', [job('y')]]]), 'A')]
  for (let i = 0; i < 4; i++) { h.settle(); h.runAll(); h.settle() }
  const ids = reqs.map(r => h.joblistId(r)).sort()
  assert.deepEqual(ids.map(i => h.state.joblists[i]?.state), ['succeeded', 'succeeded'])
  for (const e of h.events) apply(events.state, e)
  const endedBy = Math.max(...ids.map(i => h.state.joblists[i].endedAt ?? Infinity)) + 1
  // The latest ended first (what `cis status old` shows, and the list by name).
  const latestFirst = [...ids].sort((x, y) => (h.state.joblists[y].endedAt ?? 0) - (h.state.joblists[x].endedAt ?? 0) || (x < y ? 1 : -1))
  assert.notEqual(h.state.joblists[ids[0]].endedAt, h.state.joblists[ids[1]].endedAt)

  held = new Promise<void>(resolve => { release = resolve })
  const appended = events.append('ack', { joblistId: 'j-elsewhere' })
  for (let i = 0; i < 1000 && [...events.archiving()].length < 2; i++) await tick()
  assert.deepEqual([...events.archiving()].map((b: Bundle) => b.id).sort(), ids, 'both are being archived: out of memory, not in the store yet')
  assert.equal(events.state.joblists[ids[0]], undefined)

  assert.deepEqual((await names(events, endedBy)).sort(), ids, 'a purge while the write is under way names both')
  assert.deepEqual(await names(events, 0), [], 'none ended before 0')
  assert.deepEqual(await events.archivedByName('old', 10), latestFirst, 'by name while the write is under way, the latest first')
  assert.deepEqual(await events.archivedByName('old', 1), latestFirst.slice(0, 1))

  release()
  held = null
  await appended
  assert.equal([...events.archiving()].length, 0, 'the write committed')
  assert.deepEqual((await names(events, endedBy)).sort(), ids, 'from the archive: each once')
  assert.deepEqual(await events.archivedByName('old', 10), latestFirst, 'by name from the archive')
  await events.close()
})
