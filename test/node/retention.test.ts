// G-6 retention (src/node/retention.ts): only a master that has caught up purges; the cutoff is
// now − purgeAfter; one purge at a time; a failed purge is reported and retried at the next
// check; the check period is a tenth of the retention within 1 s .. 1 h. And the purge's
// candidates leave out what the node asks to keep (a joblist that may still owe a notification).
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import { CisNode } from '../../src/node/node.js'
import { validateJoblist } from '../../src/spec/index.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'
import { Retention, retentionCheckMs } from '../../src/node/retention.js'
import { purgeCandidates } from '../../src/state/purge.js'
import type { ClusterState, JoblistRecord } from '../../src/state/types.js'

const silent = pino({ level: 'silent' })

function harness (o: { master: boolean, fail?: boolean, more?: boolean[] }): { r: Retention, calls: number[], tick: () => void, periods: number[], stopped: () => boolean, release: () => void, setMaster: (m: boolean) => void, setFail: (f: boolean) => void } {
  let master = o.master
  let fail = o.fail === true
  let now = 1_000_000
  const calls: number[] = []
  const periods: number[] = []
  let fn: (() => void) | undefined
  let isStopped = false
  let release: () => void = () => {}
  const r = new Retention({
    afterMs: 60_000,
    log: silent,
    now: () => now,
    mayPurge: () => master,
    purge: async before => {
      calls.push(before)
      await new Promise<void>(resolve => { release = resolve })
      if (fail) throw new Error('store closed')
      return { joblists: 2, more: o.more?.shift() ?? false }
    },
    every: (ms, f) => { periods.push(ms); fn = f; return { stop: () => { isStopped = true } } }
  })
  return {
    r,
    calls,
    periods,
    tick: () => { now += 6000; fn?.() },
    stopped: () => isStopped,
    release: () => release(),
    setMaster: m => { master = m },
    setFail: f => { fail = f }
  }
}

const turn = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }

test('G-6: retention purges only as a settled master, with the cutoff now − purgeAfter, one purge at a time', async () => {
  const h = harness({ master: false })
  h.r.start()
  assert.deepEqual(h.periods, [6000], 'a tenth of a minute')
  h.tick()
  await turn()
  assert.deepEqual(h.calls, [], 'not the master (or not caught up): no purge')
  h.setMaster(true)
  h.tick() // now 1,012,000
  await turn()
  assert.deepEqual(h.calls, [1_012_000 - 60_000])
  h.tick() // a check while the purge is under way does not start another
  await turn()
  assert.equal(h.calls.length, 1)
  h.release()
  await turn()
  assert.deepEqual(h.r.status().last, { at: 1_012_000, before: 952_000, joblists: 2 })
  assert.equal(h.r.status().error, null)
  h.tick()
  await turn()
  assert.equal(h.calls.length, 2, 'the next check purges again')
  h.release()
  await h.r.stop()
  assert.ok(h.stopped())
})

test('G-6: a failed purge by retention is reported, and the next check tries again', async () => {
  const h = harness({ master: true, fail: true })
  h.r.start()
  h.tick()
  await turn()
  h.release()
  await turn()
  assert.equal(h.r.status().error, 'store closed')
  assert.equal(h.r.status().last, null)
  h.setFail(false)
  h.tick()
  await turn()
  h.release()
  await turn()
  assert.equal(h.calls.length, 2)
  assert.equal(h.r.status().error, null)
  assert.equal(h.r.status().last?.joblists, 2)
})

test('G-6: retention off (0) sets no timer; the check period is a tenth of it within 1 s .. 1 h', () => {
  let timers = 0
  const r = new Retention({ afterMs: 0, log: silent, now: () => 0, mayPurge: () => true, purge: async () => ({ joblists: 0, more: false }), every: () => { timers++; return { stop: () => {} } } })
  r.start()
  assert.equal(timers, 0)
  assert.equal(retentionCheckMs(2000), 1000)
  assert.equal(retentionCheckMs(60_000), 6000)
  assert.equal(retentionCheckMs(90 * 86_400_000), 3_600_000)
})

test('G-6: purge candidates leave out the joblists asked to be kept, and open ones', () => {
  const jl = (id: string, state: string, endedAt?: number): JoblistRecord => ({ id, request: `r-${id}`, state, ...(endedAt !== undefined ? { endedAt } : {}) }) as unknown as JoblistRecord
  const state = {
    joblists: { a: jl('a', 'succeeded', 100), b: jl('b', 'failed', 200), c: jl('c', 'running'), d: jl('d', 'succeeded', 900) },
    accepts: { 'r-a': [{ id: 'a' }, { id: 'a2' }] }
  } as unknown as ClusterState
  assert.deepEqual(purgeCandidates(state, 500), { ids: ['a', 'a2', 'b'], requests: ['r-a', 'r-b'] })
  assert.deepEqual(purgeCandidates(state, 500, j => j.id === 'b'), { ids: ['a', 'a2'], requests: ['r-a'] })
})

test('G-6: a check purges batch after batch while more are past the cutoff, and stops when this node may no longer purge', async () => {
  const h = harness({ master: true, more: [true, true, false] })
  h.r.start()
  h.tick()
  for (let i = 0; i < 3; i++) { await turn(); h.release() }
  await turn()
  assert.equal(h.calls.length, 3, 'three batches in one check')
  assert.equal(new Set(h.calls).size, 1, 'all with the same cutoff')
  assert.equal(h.r.status().last?.joblists, 6)
  const g = harness({ master: true, more: [true, true, true] })
  g.r.start()
  g.tick()
  await turn()
  g.setMaster(false) // (no longer the master: the batches stop)
  g.release()
  await turn()
  assert.equal(g.calls.length, 1)
})

test('G-6: a purge with a limit names at most that many joblists and says more are left (a node on its own)', { timeout: 60_000 }, async () => {
  const dir = tempDir()
  const node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'x', resources: { slot: ['slot0', 'slot1'] } }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  try {
    await node.start()
    await node.announce('http://127.0.0.1:0')
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const v = validateJoblist({ name: `p${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
      assert.ok(v.ok)
      const { id } = await node.submit(v.spec, 'someone', 5000)
      assert.ok(id !== null)
      ids.push(id)
    }
    await waitFor('the five to end', () => ids.every(id => node.state.joblists[id]?.state === 'succeeded'), 30_000)
    const before = Date.now() + 1
    const sizes: Array<[number, boolean]> = []
    for (let i = 0; i < 4; i++) {
      const r = await node.purge(before, false, { limit: 2 })
      sizes.push([r.joblists, r.more])
      await node.flush()
    }
    assert.deepEqual(sizes, [[2, true], [2, true], [1, false], [0, false]])
    assert.deepEqual(ids.filter(id => node.state.joblists[id] !== undefined), [], 'all five purged')
  } finally {
    await node.stop()
    cleanup(dir)
  }
})
