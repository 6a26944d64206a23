// S-5: failures across many jobs in one line each: which nodes, and why in a word; a failed
// joblist stays shown until a person acknowledges it. Pure: events in, views out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { AttemptEnd } from '../../src/events/types.js'
import type { JobSpec } from '../../src/spec/types.js'
import { stateHash } from '../../src/state/hash.js'
import { reduce } from '../../src/state/reducer.js'
import type { AttemptRecord } from '../../src/state/types.js'
import { failureLine, jobView, joblistSummary, joblistView, shortReason } from '../../src/state/views.js'
import { Harness, job, joblist } from '../helpers/harness.js'

/** Node IDs are long; names are short (`n1`, ...). */
const nodeId = (k: number): string => `12D3KooWnode${String(k).padStart(4, '0')}`

interface Outcome { state: AttemptEnd, exitCode?: number | null, signal?: string | null, reason?: string }
type Plan = Outcome | 'lose' | 'running' | 'pending'

class Cluster {
  readonly h = new Harness()

  constructor (nodes: number) {
    for (let k = 1; k <= nodes; k++) {
      this.h.emit(nodeId(k), 'node', { name: `n${k}`, priority: 0, profiles: [], resources: { slot: ['s0'] }, api: '', addresses: [], version: 't' })
    }
  }

  /** Submit and accept a joblist; `expand`: job number -> node numbers, for jobs with a target. */
  submit (jobs: JobSpec[], expand: Record<string, number[]> = {}, id = 'jl-1'): string {
    const req = this.h.submit(joblist('deploy', [['ship', jobs]]), 'U')
    this.h.emit('M', 'accept', {
      request: req,
      id,
      term: 1,
      onLost: 'fail',
      maxLost: 0,
      expand: Object.fromEntries(Object.entries(expand).map(([n, ks]) => [n, ks.map(nodeId)]))
    })
    return id
  }

  /** One attempt of `jobId` on node `k`, ending as planned. */
  attempt (jobId: string, k: number, plan: Plan, n = 1): void {
    const node = nodeId(k)
    this.h.emit('M', 'assign', { jobId, attempt: n, node, resources: { slot: ['s0'] }, term: 1 })
    if (plan === 'pending') return
    if (plan === 'lose') {
      this.h.emit('M', 'lose', { jobId, attempt: n, reason: `node n${k} is gone`, term: 1 })
      return
    }
    this.h.emit(node, 'started', { jobId, attempt: n, pid: 100 + k })
    if (plan === 'running') return
    this.h.emit(node, 'finished', {
      jobId,
      attempt: n,
      state: plan.state,
      exitCode: plan.exitCode ?? (plan.state === 'succeeded' ? 0 : null),
      signal: plan.signal ?? null,
      ...(plan.reason !== undefined ? { reason: plan.reason } : {})
    })
  }

  ack (joblistId: string, origin = 'A'): void {
    this.h.emit(origin, 'ack', { joblistId })
  }
}

const ok: Outcome = { state: 'succeeded', exitCode: 0 }
const exit = (code: number): Outcome => ({ state: 'failed', exitCode: code })
const timedOut: Outcome = { state: 'failed', exitCode: null, signal: 'SIGTERM', reason: 'timed out after 30s' }

/** A logical job (target all) over 5 nodes: 2 succeed, one exits 1, one times out, one is lost. */
function fiveNodes (): { c: Cluster, id: string } {
  const c = new Cluster(5)
  const id = c.submit([job('push', { target: { all: true } })], { 1: [1, 2, 3, 4, 5] })
  const plans: Plan[] = [ok, exit(1), timedOut, 'lose', ok]
  plans.forEach((p, i) => c.attempt(`${id}.1.${i + 1}`, i + 1, p))
  return { c, id }
}

test('S-5: a logical job failed on some nodes says on how many of how many, which, and why', () => {
  const { c, id } = fiveNodes()
  const st = c.h.state
  assert.equal(st.joblists[id].state, 'failed')
  const v = jobView(st, st.jobs[`${id}.1`])
  assert.equal(v.state, 'failed')
  assert.equal(v.summary, 'failed on 3 of 5 nodes: n2 (exit 1), n3 (timeout), n4 (lost)')
  assert.deepEqual(v.failedOn, [{ node: 'n2', reason: 'exit 1' }, { node: 'n3', reason: 'timeout' }, { node: 'n4', reason: 'lost' }])
  // Each physical job has its own one-line summary; the successful ones have none.
  assert.deepEqual(v.physical?.map(p => p.summary), [undefined, 'exit 1 on n2', 'timeout on n3', 'lost on n4', undefined])
  assert.deepEqual(v.physical?.map(p => p.name), ['push@n1', 'push@n2', 'push@n3', 'push@n4', 'push@n5'])
})

test('S-5: the failed joblist has one failure line; acked is false until someone acknowledges it', () => {
  const { c, id } = fiveNodes()
  let st = c.h.state
  assert.equal(failureLine(st, st.joblists[id]), 'push: failed on 3 of 5 nodes: n2 (exit 1), n3 (timeout), n4 (lost)')
  let view = joblistView(st, st.joblists[id])
  assert.equal(view.failure, 'push: failed on 3 of 5 nodes: n2 (exit 1), n3 (timeout), n4 (lost)')
  assert.equal(view.acked, false)
  assert.equal(joblistSummary(st, st.joblists[id]).acked, false, 'listings carry it too')
  const before = stateHash(st)
  c.ack(id)
  st = c.h.state
  assert.notEqual(stateHash(st), before, 'an ack is a fact of the shared state')
  view = joblistView(st, st.joblists[id])
  assert.equal(view.acked, true)
  assert.equal(view.failure, 'push: failed on 3 of 5 nodes: n2 (exit 1), n3 (timeout), n4 (lost)', 'acknowledged, still described')
  // The first ack counts; a second (another node, later) changes nothing that is shown.
  const firstAt = st.acks[id]
  c.ack(id, 'U2')
  assert.equal(c.h.state.acks[id], firstAt)
  // An ack that arrives before the joblist (replication order) still counts once it is there
  // (the acks come from nodes A and U2, so moving them first keeps each origin's order).
  const early = reduce([...c.h.events.filter(e => e.type === 'ack'), ...c.h.events.filter(e => e.type !== 'ack')])
  assert.equal(joblistView(early, early.joblists[id]).acked, true)
  assert.equal(stateHash(early), stateHash(c.h.state))
})

test('S-5: a joblist that did not fail has no failure line and no acked field', () => {
  const c = new Cluster(3)
  const id = c.submit([job('push', { target: { all: true } })], { 1: [1, 2, 3] })
  c.attempt(`${id}.1.1`, 1, exit(1))
  c.attempt(`${id}.1.2`, 2, 'running')
  c.attempt(`${id}.1.3`, 3, ok)
  const st = c.h.state
  assert.equal(st.joblists[id].state, 'running')
  assert.equal(failureLine(st, st.joblists[id]), undefined)
  const view = joblistView(st, st.joblists[id])
  assert.equal(view.failure, undefined)
  assert.equal(view.acked, undefined)
  // The logical job already says where it failed so far.
  assert.equal(jobView(st, st.jobs[`${id}.1`]).summary, 'failed on 1 of 3 nodes: n1 (exit 1)')
  // All succeeded: nothing to say.
  const good = new Cluster(2)
  const gid = good.submit([job('push', { target: { all: true } })], { 1: [1, 2] })
  good.attempt(`${gid}.1.1`, 1, ok)
  good.attempt(`${gid}.1.2`, 2, ok)
  const gs = good.h.state
  assert.equal(gs.joblists[gid].state, 'succeeded')
  assert.equal(jobView(gs, gs.jobs[`${gid}.1`]).summary, undefined)
  assert.equal(jobView(gs, gs.jobs[`${gid}.1`]).failedOn, undefined)
  assert.equal(joblistView(gs, gs.joblists[gid]).failure, undefined)
})

test('S-5: a failure line names every failed job of the joblist, logical and plain, in order', () => {
  const c = new Cluster(4)
  const id = c.submit([job('push', { target: { all: true } }), job('check'), job('docs')], { 1: [1, 2, 3, 4] })
  c.attempt(`${id}.1.1`, 1, ok)
  c.attempt(`${id}.1.2`, 2, { state: 'failed', exitCode: null, signal: 'SIGKILL' })
  c.attempt(`${id}.1.3`, 3, ok)
  c.attempt(`${id}.1.4`, 4, { state: 'failed', exitCode: null, signal: null, reason: 'could not start: /bin/sh missing' })
  c.attempt(`${id}.2`, 3, exit(2))
  c.attempt(`${id}.3`, 1, ok)
  const st = c.h.state
  assert.equal(st.joblists[id].state, 'failed')
  assert.equal(failureLine(st, st.joblists[id]), 'push: failed on 2 of 4 nodes: n2 (killed by SIGKILL), n4 (could not start); check: exit 2 on n3')
})

test('S-5: with many failed nodes the line shows ten and counts the rest', () => {
  const c = new Cluster(12)
  const nodes = Array.from({ length: 12 }, (_, i) => i + 1)
  const id = c.submit([job('push', { target: { all: true } })], { 1: nodes })
  for (const k of nodes) c.attempt(`${id}.1.${k}`, k, exit(k))
  const v = jobView(c.h.state, c.h.state.jobs[`${id}.1`])
  const shown = nodes.slice(0, 10).map(k => `n${k} (exit ${k})`).join(', ')
  assert.equal(v.summary, `failed on 12 of 12 nodes: ${shown}, and 2 more`)
  assert.equal(v.failedOn?.length, 12, 'the full list is there for whoever wants it')
})

test('S-5: a target that matched no node is a failure that says so', () => {
  const c = new Cluster(2)
  const id = c.submit([job('gpu-test', { target: { profile: 'gpu' } })], { 1: [] })
  const st = c.h.state
  assert.equal(st.joblists[id].state, 'failed')
  assert.equal(jobView(st, st.jobs[`${id}.1`]).summary, 'no node matched the target {"profile":"gpu"}')
  assert.equal(failureLine(st, st.joblists[id]), 'gpu-test: no node matched the target {"profile":"gpu"}')
})

test('S-5: a plain job with retries is summed up by its last attempt, on the node it ran on', () => {
  const c = new Cluster(3)
  const id = c.submit([job('flaky', { retries: 1 })])
  c.attempt(`${id}.1`, 1, exit(3), 1)
  assert.equal(c.h.state.jobs[`${id}.1`].state, 'pending', 'a retry is left')
  assert.equal(jobView(c.h.state, c.h.state.jobs[`${id}.1`]).summary, undefined)
  c.attempt(`${id}.1`, 2, timedOut, 2)
  const st = c.h.state
  assert.equal(jobView(st, st.jobs[`${id}.1`]).summary, 'timeout on n2')
  assert.equal(failureLine(st, st.joblists[id]), 'flaky: timeout on n2')
})

test('S-5: a node the state does not know is shown by the end of its ID', () => {
  const c = new Cluster(0)
  const id = c.submit([job('x')])
  c.h.emit('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: '12D3KooWstrangerABCDEF', resources: { slot: ['s0'] }, term: 1 })
  c.h.emit('12D3KooWstrangerABCDEF', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'failed', exitCode: 9, signal: null })
  assert.equal(failureLine(c.h.state, c.h.state.joblists[id]), 'x: exit 9 on ABCDEF')
})

test('S-5: shortReason: lost, timeout, could not start, a signal, an exit code, in that order', () => {
  const a = (over: Partial<AttemptRecord>): AttemptRecord => ({ n: 1, node: 'N', resources: {}, state: 'failed', assignedAt: 0, term: 1, ...over })
  assert.equal(shortReason(a({ state: 'lost', reason: 'timed out after 1s' }), 'failed'), 'lost')
  assert.equal(shortReason(a({}), 'lost'), 'lost')
  assert.equal(shortReason(a({ reason: 'timed out after 5m', signal: 'SIGKILL', exitCode: 137 }), 'failed'), 'timeout')
  assert.equal(shortReason(a({ reason: 'could not start: ENOENT', exitCode: 127 }), 'failed'), 'could not start')
  assert.equal(shortReason(a({ signal: 'SIGSEGV', exitCode: null }), 'failed'), 'killed by SIGSEGV')
  assert.equal(shortReason(a({ exitCode: 0, state: 'failed' }), 'failed'), 'exit 0')
  assert.equal(shortReason(a({ exitCode: null, signal: null }), 'failed'), 'failed')
  assert.equal(shortReason(undefined, 'stopped'), 'stopped')
})
