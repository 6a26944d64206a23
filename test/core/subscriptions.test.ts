// Issue 11 (D-1, D-2, P-6): notify on a job, and changing notify by PATCH (`update` events).
// Who is told is derived from the spec and the winning change (src/state/subscriptions.ts):
// a kept target keeps its key (and so its delivery IDs and history), an added one is keyed by
// a hash of its target and is owed only the states reached from the change on, a removed one
// is owed nothing more; the result is the same in any arrival order of the changes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import { checkEvent } from '../../src/events/check.js'
import { allDeliveries, dueDeliveries } from '../../src/state/notifications.js'
import { allMailItems } from '../../src/state/mail.js'
import { changedKey, currentNotify } from '../../src/state/subscriptions.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import type { NotifySpec } from '../../src/spec/types.js'
import { validateJoblist } from '../../src/spec/validate.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const O = { retryForMs: 24 * 3600 * 1000 }
const ALL = ['running', 'succeeded', 'failed', 'stopped'] as const
const hook = (path: string, on: NotifySpec['on'] = [...ALL]): NotifySpec => ({ webhook: `https://hooks.example.com/${path}`, on })

function setup (jlNotify?: NotifySpec[], jobNotify?: NotifySpec[]): { h: Harness, id: string } {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const req = h.submit(joblist('subs', [['s', [job('quiet'), job('loud', jobNotify !== undefined ? { notify: jobNotify, retryLost: false } : {})]]], jlNotify !== undefined ? { notify: jlNotify } : {}), 'A')
  h.settle()
  return { h, id: h.joblistId(req) }
}

test('D-2: notify on a job: its deliveries are <jobId>.<state>.<i>, for the states it reaches; a lost job counts as failed; other jobs owe nothing', () => {
  const { h, id } = setup(undefined, [hook('j', ['running', 'failed'])])
  h.start(`${id}.2`)
  assert.deepEqual(dueDeliveries(h.state, h.now, O).map(d => [d.id, d.subject, d.subjectId, d.name]), [[`${id}.2.running.0`, 'job', `${id}.2`, 'subs/loud']])
  h.start(`${id}.1`)
  h.finish(`${id}.1`, 'failed')
  h.finish(`${id}.2`, 'lost')
  h.settle()
  const ids = allDeliveries(h.state, h.now, O).map(d => d.id).sort()
  assert.deepEqual(ids, [`${id}.2.failed.0`, `${id}.2.running.0`], 'only the job with notify; lost is told as failed')
})

test('D-2: a job notify in a submitted joblist is validated and kept in the spec', () => {
  const r = validateJoblist({ name: 'x', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', notify: [{ webhook: 'https://h.example/x', on: ['failed'] }, { email: 'A@Example.org' }] }] }] })
  assert.ok(r.ok)
  assert.deepEqual(r.spec.stages[0].jobs[0].notify, [{ webhook: 'https://h.example/x', on: ['failed'] }, { email: 'a@example.org', digest: 'daily', on: ['succeeded', 'failed', 'stopped'] }])
  const bad = validateJoblist({ name: 'x', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', notify: [{ webhook: 'ftp://h.example/x' }] }] }] })
  assert.ok(!bad.ok)
  assert.equal(bad.issues[0].path, 'stages[0].jobs[0].notify[0].webhook')
})

test('D-1: a notify change: a kept target keeps its key, an added one is told only of states reached after the change, a removed one of nothing more', () => {
  const { h, id } = setup([hook('keep'), hook('drop')])
  h.start(`${id}.1`)
  h.emit('M', 'delivery', { id: `${id}.running.1`, attempt: 1, ok: true, status: 200, term: 1 })
  h.emit('U', 'update', { joblistId: id, notify: [hook('added'), hook('keep', ['succeeded'])] })
  const subs = currentNotify(h.state, h.state.joblists[id])
  assert.deepEqual(subs.map(s => s.key), [changedKey(hook('added')), '0'])
  assert.match(subs[0].key, /^h[0-9a-f]{8}$/)
  assert.ok(subs[0].since > 0 && subs[1].since === 0)
  assert.deepEqual(dueDeliveries(h.state, h.now, O).map(d => d.id), [], 'running was reached before the change: the added webhook is not owed it; keep no longer asks for running')
  h.start(`${id}.2`)
  h.finish(`${id}.1`)
  h.finish(`${id}.2`)
  h.settle()
  assert.equal(h.state.joblists[id].state, 'succeeded')
  assert.deepEqual(dueDeliveries(h.state, h.now, O).map(d => d.id).sort(), [`${id}.succeeded.0`, `${id}.succeeded.${changedKey(hook('added'))}`].sort())
  // The removed subscription's past delivery stays in the list, retired.
  const shown = allDeliveries(h.state, h.now, O, id)
  const retired = shown.filter(d => d.retired === true).map(d => [d.id, d.url, d.delivered])
  assert.deepEqual(retired, [[`${id}.running.1`, 'https://hooks.example.com/drop', true]])
})

test('D-1: notify changes give the same state in any arrival order: the highest position wins, each target owed from its first listing', () => {
  const { h, id } = setup([hook('a')])
  h.start(`${id}.1`)
  const base = h.events.slice()
  const ev = (origin: string, ts: number, body: Record<string, unknown>): UnsignedEvent<'update'> => ({ origin, seq: 1, ts, lc: 0, type: 'update', body: { joblistId: id, ...body } as never })
  const changes = [
    ev('U1', 9000, { notify: [hook('b')] }),
    ev('U2', 9500, { notify: [hook('b'), hook('c')] }),
    ev('U3', 9200, { jobId: `${id}.2`, notify: [hook('j')] })
  ]
  const want = stateHash(reduce([...base, ...changes]))
  const s = reduce([...base, ...changes])
  assert.deepEqual(currentNotify(s, s.joblists[id]).map(x => ['webhook' in x.sub ? x.sub.webhook : '', x.since]), [['https://hooks.example.com/b', 9000], ['https://hooks.example.com/c', 9500]])
  assert.deepEqual(currentNotify(s, s.joblists[id], `${id}.2`).map(x => x.key), [changedKey(hook('j'))])
  for (const order of [[2, 1, 0], [1, 0, 2], [0, 2, 1]]) {
    const r = reduce([...base, ...order.map(i => changes[i])])
    assert.equal(stateHash(r), want)
  }
  // Before the joblist exists (a change that arrives first): the same.
  assert.equal(stateHash(reduce([...changes, ...base])), want)
})

test('D-1: [] removes every subscription: nothing more is owed', () => {
  const { h, id } = setup([hook('a')])
  h.emit('U', 'update', { joblistId: id, notify: [] })
  h.runAll()
  h.settle()
  h.runAll()
  h.settle()
  assert.deepEqual(allDeliveries(h.state, h.now, O, id), [])
})

test('P-6: an email subscription on a job lists the job in the message, with why it failed', () => {
  const { h, id } = setup(undefined, [{ email: 'ops@example.org', digest: 'now', on: ['failed'] }])
  h.runAll('failed')
  h.settle()
  const items = allMailItems(h.state, h.now, { retryForMs: O.retryForMs, mailEveryMs: 60_000, digestAt: '08:00' })
  assert.deepEqual(items.map(i => [i.id, i.subject, i.joblistName]), [[`${id}.2.failed.0`, 'job', 'subs/loud']])
  assert.match(items[0].failure ?? '', /exit 1 on A/)
})

test('D-1: hostile update and delivery events are refused: a job change with other fields, a bad notify list, a malformed ID', () => {
  const e = (type: string, body: unknown): unknown => ({ origin: 'X', seq: 1, ts: 1, lc: 0, sig: 's', type, body })
  assert.equal(checkEvent(e('update', { joblistId: 'ab12-1', jobId: 'ab12-1.1', notify: [] })), null)
  assert.equal(checkEvent(e('update', { joblistId: 'ab12-1', jobId: 'ab12-1.1', priority: 3, notify: [] })), 'bad update')
  assert.equal(checkEvent(e('update', { joblistId: 'ab12-1', jobId: 'ab12-1.1' })), 'bad update')
  assert.equal(checkEvent(e('update', { joblistId: 'ab12-1', notify: [{ webhook: 'gopher://x' }] })), 'bad update')
  assert.equal(checkEvent(e('update', { joblistId: 'ab12-1', notify: Array.from({ length: 11 }, () => ({ webhook: 'https://x.example/' })) })), 'bad update')
  assert.equal(checkEvent(e('delivery', { id: 'ab12-1.2.failed.h0123abcd', attempt: 1, ok: true, term: 1 })), null)
  assert.equal(checkEvent(e('delivery', { id: 'ab12-1.2.failed.hxyz', attempt: 1, ok: true, term: 1 })), 'bad delivery')
  assert.equal(checkEvent(e('mail', { to: 'a@b.example', ids: ['ab12-1.2.3.failed.0'], ok: true, term: 1 })), 'bad mail')
})
