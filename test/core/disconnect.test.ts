// The two clocks, in the pure core: a disconnected node's attempts are unknown until
// lostAfter, lost at once when its agent is gone, and at most once when retryLost is false.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, job, joblist } from '../helpers/harness.js'
import { jobView } from '../../src/state/views.js'

function running (over: Parameters<typeof job>[1] = {}): { h: Harness, jobId: string } {
  const h = new Harness()
  h.node('a', { slot: ['s0'] })
  h.node('b', { slot: ['s0'] })
  const id = h.joblistId(((r: string) => { h.settle(['M', 'a']); return r })(h.submit(joblist('jl', [['s', [job('j', over)]]]))))
  const jobId = `${id}.1`
  h.start(jobId)
  assert.equal(h.attempt(jobId).node, 'a')
  return { h, jobId }
}

test('R1-1: a node silent for less than lostAfter keeps its attempt: no lose, no new attempt elsewhere', () => {
  const { h, jobId } = running()
  const ds = h.step(['M', 'b'], [], { silent: new Map([['a', 5_000]]), lostAfterMs: 60_000 })
  assert.deepEqual(ds, [])
  assert.equal(h.state.jobs[jobId].state, 'running')
})

test('R1-1: past lostAfter the attempt is lost and the job runs again elsewhere; a job may set its own lostAfter', () => {
  const { h } = running({ lostAfterMs: 1_000 })
  const ds = h.step(['M', 'b'], [], { silent: new Map([['a', 1_500]]), lostAfterMs: 60_000 })
  assert.deepEqual(ds.map(d => d.type), ['lose'])
  assert.match((ds[0] as { reason: string }).reason, /not heard from for 1.5 s \(lostAfter 1 s\)/)
  const next = h.step(['M', 'b'], [], { silent: new Map([['a', 1_600]]), lostAfterMs: 60_000 })
  assert.deepEqual(h.assigns(next).map(d => d.node), ['b'])
})

test('R1-1/D-3: a node whose agent is gone for certain loses its attempts at once', () => {
  const { h } = running()
  const ds = h.step(['M', 'b'], ['a'], { lostAfterMs: 60_000 })
  assert.deepEqual(ds.map(d => d.type), ['lose'])
  assert.match((ds[0] as { reason: string }).reason, /gone/)
})

test('D-3: retryLost: false: a lost attempt fails the job (lost), and its node\'s later success does not revive it', () => {
  const { h, jobId } = running({ retryLost: false })
  h.settle(['M', 'b'], ['a'])
  assert.equal(h.state.jobs[jobId].state, 'lost')
  assert.equal(Object.keys(h.state.attempts[jobId]).length, 1, 'no second attempt')
  assert.equal(h.state.joblists[h.state.jobs[jobId].joblistId].state, 'failed')
  h.emit('a', 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
  assert.equal(h.state.attempts[jobId][1].state, 'succeeded', 'the attempt keeps what its node reported')
  assert.equal(h.state.jobs[jobId].state, 'lost', 'the job stays lost: it ran at most once')
  assert.deepEqual(h.settle(['M', 'a', 'b']), [])
})

test('R1-1: a running attempt on a node this node does not hear from shows as unknown, with the time left before it is lost', () => {
  const { h, jobId } = running()
  const v = jobView(h.state, h.state.jobs[jobId], {}, { silent: new Map([['a', 20_000]]), lostAfterMs: 60_000 })
  assert.equal(v.state, 'unknown')
  assert.equal(v.attempts[0].state, 'unknown')
  assert.equal(v.attempts[0].lostInMs, 40_000)
  const heard = jobView(h.state, h.state.jobs[jobId], {}, { silent: new Map(), lostAfterMs: 60_000 })
  assert.equal(heard.state, 'running')
  assert.equal(heard.attempts[0].lostInMs, undefined)
})
