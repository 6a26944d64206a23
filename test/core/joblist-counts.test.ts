// P-5 (`GET /v1/stats`): the joblists in memory counted by state, kept as events change them
// (src/state/joblist-counts.ts), answer as a pass over every joblist would, through submits,
// accepts, placements, ends, stops, purges, the archive's moves out of memory and back.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JoblistCounts } from '../../src/state/joblist-counts.js'
import { countByState, statsView } from '../../src/state/cluster-views.js'
import { purgeCandidates } from '../../src/state/purge.js'
import { extract, restore } from '../../src/state/archive.js'
import type { Bundle } from '../../src/state/archive.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { seededRandom } from '../../src/util/seeded-random.js'

const unacceptedByScan = (h: Harness): number => Object.values(h.state.requests).filter(r => r.joblistId === undefined).length

for (const seed of [1, 2, 3, 4, 5]) {
  test(`P-5: the stats' joblist counts kept as events change them equal a count of every joblist, and the unaccepted list the requests without a joblist (seed ${seed})`, () => {
    const rnd = seededRandom(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
    const h = new Harness()
    const counts = new JoblistCounts()
    h.applied = ids => counts.update(h.state, ids)
    h.node('A', { slot: ['s0', 's1'] })
    assert.deepEqual(counts.counts(h.state), {}, 'counted at the first ask: nothing yet')
    const requests: string[] = []
    const archived = new Map<string, Bundle>()
    let checks = 0
    const did = { stop: 0, purge: 0, archive: 0, back: 0 }
    const seen = new Set<string>()
    for (let step = 0; step < 120; step++) {
      const r = rnd()
      if (r < 0.3) {
        requests.push(h.submit(joblist(`j${step}`, [['a', [job('x')]], ['b', [job('y'), job('z')]]]), pick(['A', 'M'])))
      } else if (r < 0.45) {
        h.settle()
      } else if (r < 0.7) {
        // An attempt placed and not ended: it starts and ends.
        const open = Object.entries(h.state.attempts).flatMap(([jobId, as]) => Object.values(as).filter(a => a.state === 'assigned' || a.state === 'running').map(() => jobId))
        if (open.length > 0) {
          const id = pick(open)
          if (h.state.attempts[id] !== undefined && Object.values(h.state.attempts[id]).some(a => a.state === 'assigned')) h.start(id)
          h.finish(id, pick(['succeeded', 'failed', 'succeeded', 'lost'] as const))
        }
      } else if (r < 0.78) {
        const live = Object.values(h.state.joblists).filter(jl => jl.endedAt === undefined)
        if (live.length > 0) { h.emit('A', 'stop', { joblistId: pick(live).id }); did.stop++ }
      } else if (r < 0.84) {
        const c = purgeCandidates(h.state, h.now)
        if (c.ids.length > 0) { h.emit('P', 'purge', { before: h.now, ...c }); did.purge++ }
      } else if (r < 0.92) {
        // Ended joblists leave memory for the archive (what the event log's snapshot does), told by their IDs.
        const ended = Object.values(h.state.joblists).filter(jl => jl.endedAt !== undefined).map(jl => jl.id)
        if (ended.length > 0) {
          const ids = ended.slice(0, 1 + Math.floor(rnd() * ended.length))
          for (const x of extract(h.state, ids)) archived.set(x.bundle.id, x.bundle)
          counts.update(h.state, ids)
          did.archive++
        }
      } else if (archived.size > 0) {
        // One comes back to memory (an event about it, a query).
        const b = pick([...archived.values()])
        archived.delete(b.id)
        restore(h.state, b)
        counts.update(h.state, [b.id])
        did.back++
      }
      assert.deepEqual(counts.counts(h.state), countByState(h.state), `step ${step}`)
      assert.equal(h.state.unaccepted.length, unacceptedByScan(h), `step ${step}: unaccepted`)
      for (const s of Object.keys(countByState(h.state))) seen.add(s)
      checks++
    }
    assert.equal(checks, 120)
    assert.equal(counts.size, Object.keys(h.state.joblists).length)
    // The run went through the states that matter (or the comparison proved little).
    for (const s of ['succeeded', 'failed']) assert.ok(seen.has(s), `a joblist was ${s} at some step (seen: ${[...seen].join(', ')})`)
    assert.ok(requests.length > 10)
    for (const [what, n] of Object.entries(did)) assert.ok(n > 0, `no ${what} in this run: ${JSON.stringify(did)}`)
  })
}

test('P-5: statsView adds the archived joblists to those in memory; a count kept that was never told of a change differs from the whole count (the test can fail)', () => {
  const h = new Harness()
  const counts = new JoblistCounts()
  h.applied = ids => counts.update(h.state, ids)
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('one', [['s', [job('x')]]]), 'A')
  h.settle()
  const id = h.joblistId(req)
  h.start(`${id}.1`)
  assert.deepEqual(statsView(h.state, 1, { succeeded: 4, failed: 1 }, counts.counts(h.state)).joblists, { succeeded: 4, failed: 1, running: 1 })
  h.submit(joblist('two', [['s', [job('x')]]]), 'A')
  assert.equal(statsView(h.state, 0, {}, counts.counts(h.state)).unaccepted, 1)
  // A change the counts are not told of (the reducer's IDs not passed on): they no longer match.
  h.applied = undefined
  h.finish(`${id}.1`)
  assert.notDeepEqual(counts.counts(h.state), countByState(h.state))
  counts.update(h.state, [id])
  assert.deepEqual(counts.counts(h.state), countByState(h.state))
  assert.deepEqual(statsView(h.state, 0, { succeeded: 4 }, counts.counts(h.state)).joblists, { succeeded: 5 })
})
