// Issue 12: the master's notification passes look at the joblists that may still owe a
// notification (state/owed.ts NotifyIndex), not at every joblist with a subscription kept in
// memory for the notification window. What they find due must be the same either way.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { dueDeliveries } from '../../src/state/notifications.js'
import { dueMails } from '../../src/state/mail.js'
import type { MailOptions } from '../../src/state/mail.js'
import { NotifyIndex, owesNotifications } from '../../src/state/owed.js'
import { apply } from '../../src/state/reducer.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import type { NotifySpec } from '../../src/spec/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const HOUR = 3600_000
const O: MailOptions = { mailEveryMs: 60_000, retryForMs: 6 * HOUR, digestAt: '08:00' }

const NOTIFY: NotifySpec[][] = [
  [{ webhook: 'https://hooks.example.com/a', on: ['failed'] }],
  [{ email: 'ops@example.org', digest: 'now', on: ['succeeded', 'failed'] }],
  [{ email: 'team@example.org', digest: 'daily', on: ['failed'] }, { webhook: 'https://hooks.example.com/b', on: ['running', 'succeeded', 'failed', 'stopped'] }],
  []
]

test('P-6 / issue 12 (property): what is due among the joblists that may owe a notification is what is due among them all, as joblists end and deliveries and mails succeed, fail and give up', () => {
  let left = 0
  fc.assert(fc.property(
    fc.array(fc.record({ notify: fc.nat(NOTIFY.length - 1), end: fc.constantFrom('succeeded' as const, 'failed' as const, 'stopped' as const, null) }), { minLength: 1, maxLength: 8 }),
    fc.array(fc.record({ ok: fc.boolean(), wait: fc.constantFrom(1000, 60_000, 2 * HOUR, 30 * HOUR) }), { maxLength: 25 }),
    (jls, rounds) => {
      const h = new Harness()
      h.now = Date.UTC(2026, 11, 4, 12)
      h.node('A', { slot: ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'] })
      const index = new NotifyIndex()
      let last: UnsignedEvent[] = []
      const track = (): void => { h.applied = changed => index.update(h.state, changed, last.splice(0), h.now, O) }
      const emit = h.emit.bind(h)
      h.emit = (origin, type, body) => { const e = { origin, seq: 0, ts: 0, lc: 0, type, body } as UnsignedEvent; last = [e]; return emit(origin, type, body) }
      index.build(h.state, h.now, O)
      track()
      const ids = jls.map((x, i) => {
        const req = h.submit(joblist(`n${i}`, [['s', [job('x')]]], { notify: NOTIFY[x.notify] }), 'A')
        h.settle()
        const id = h.joblistId(req)
        h.start(`${id}.1`)
        if (x.end !== null) h.finish(`${id}.1`, x.end)
        return id
      })
      const same = (how: string): void => {
        for (const t of [h.now, h.now + HOUR, h.now + 40 * HOUR]) {
          assert.deepEqual(dueDeliveries(h.state, t, O, index.owing), dueDeliveries(h.state, t, O), `${how}: webhooks at +${t - h.now} ms`)
          assert.deepEqual(dueMails(h.state, t, O, index.owing), dueMails(h.state, t, O), `${how}: mails at +${t - h.now} ms`)
        }
        // The index is what a node starting from this state builds.
        const fresh = new NotifyIndex()
        fresh.build(h.state, h.now, O)
        assert.deepEqual([...index.owing].sort(), [...fresh.owing].sort(), `${how}: as built afresh`)
        assert.deepEqual([...index.subscribed].sort(), [...fresh.subscribed].sort())
      }
      same('after the ends')
      for (const [r, x] of rounds.entries()) {
        // The master's round: every due delivery and message tried, each ok or failing.
        h.now += x.wait
        for (const d of dueDeliveries(h.state, h.now, O)) h.emit('M', 'delivery', { id: d.id, attempt: d.attempts.length + 1, ok: x.ok, ...(x.ok ? {} : { status: 500, error: 'HTTP 500' }), term: 1 })
        for (const m of dueMails(h.state, h.now, O)) h.emit('M', 'mail', { to: m.to, ids: m.items.map(i => i.id), ok: x.ok, ...(x.ok ? {} : { error: 'refused' }), term: 1 })
        same(`round ${r}`)
      }
      left += ids.filter(id => !index.owing.has(id) && index.subscribed.has(id)).length
    }), { seed: 12, numRuns: 120 })
  assert.ok(left > 20, `joblists that owed nothing any more left the index (${left})`)
})

test('P-6 / issue 12: a joblist owes while it runs, and once ended until each delivery and item is done', () => {
  const h = new Harness()
  h.now = Date.UTC(2026, 11, 4, 12)
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('n', [['s', [job('x')]]], { notify: [{ webhook: 'https://hooks.example.com/a', on: ['succeeded'] }, { email: 'ops@example.org', digest: 'now', on: ['succeeded'] }] }), 'A')
  h.settle()
  const id = h.joblistId(req)
  const owes = (): boolean => owesNotifications(h.state, h.state.joblists[id], h.now, O)
  assert.ok(owes(), 'queued')
  h.start(`${id}.1`)
  assert.ok(owes(), 'running')
  h.finish(`${id}.1`, 'succeeded')
  assert.ok(owes(), 'ended: a delivery and an email due')
  h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: true, status: 200, term: 1 })
  assert.ok(owes(), 'the email still due')
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${id}.succeeded.1`], ok: false, error: 'refused', term: 1 })
  assert.ok(owes(), 'a failed message: retried')
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${id}.succeeded.1`], ok: true, term: 1 })
  assert.ok(!owes(), 'delivered and sent: nothing owed')
})

test('P-6 / issue 12: an update naming a losing accept\'s ID, then that accept, gives an ended joblist a subscription: the index asks again', () => {
  const h = new Harness()
  h.now = 1_000_000
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('n', [['s', [job('x')]]], { notify: [{ webhook: 'https://hooks.example.com/a', on: ['succeeded'] }] }), 'A')
  h.settle()
  const id = h.joblistId(req)
  const t0 = h.now
  h.start(`${id}.1`)
  h.now += 5000
  h.finish(`${id}.1`, 'succeeded')
  h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: true, status: 200, term: 1 })
  const index = new NotifyIndex()
  index.build(h.state, h.now, O)
  assert.ok(!index.owing.has(id), 'ended and delivered: owes nothing')
  // On the other side of a partition, a user changed the notify of the ID that side's master gave (B-9)...
  const up: UnsignedEvent = { origin: 'U', seq: 1, ts: t0 + 1, lc: 0, type: 'update', body: { joblistId: 'B-9', notify: [{ webhook: 'https://hooks.example.com/a', on: ['succeeded'] }, { webhook: 'https://other.example.com/b', on: ['succeeded'] }] } }
  index.update(h.state, apply(h.state, up), [up], h.now, O)
  // ...and that master's accept, which loses, comes after it: an alias, no field of the view changed.
  const acc: UnsignedEvent = { origin: 'B', seq: 1, ts: t0 + 2, lc: 0, type: 'accept', body: { request: req, id: 'B-9', term: 1, onLost: 'retry', maxLost: 0 } }
  index.update(h.state, apply(h.state, acc), [acc], h.now, O)
  assert.equal(h.state.aliases['B-9'], id)
  const due = dueDeliveries(h.state, h.now, O).map(d => d.id)
  assert.equal(due.length, 1, 'the new subscription owes a delivery')
  assert.deepEqual(dueDeliveries(h.state, h.now, O, index.owing).map(d => d.id), due, 'and the index has the joblist again')
})
