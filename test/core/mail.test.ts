// Issue 11 (P-6, S-5): email notifications are derived from the state like webhooks. Each
// (joblist, reached state, email subscription) is an item with a stable ID; the master sends
// per address ONE message listing its due items: `now` items as soon as the address's last
// message is mailEvery old (the storm bound), `daily` items at the next digest time; `mail`
// events record the messages; failures back off; the result is the same in any order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_TRAILING_MAIL_FAILURES, apply, reduce } from '../../src/state/reducer.js'
import fc from 'fast-check'
import { stateHash } from '../../src/state/hash.js'
import { backoffMs } from '../../src/state/notifications.js'
import { addressGate, allMailItems, dueMails, mailMessage, nextDigestAt } from '../../src/state/mail.js'
import { insertByPosition } from '../../src/state/position.js'
import type { MailRecord } from '../../src/state/types.js'
import type { MailOptions } from '../../src/state/mail.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import type { NotifySpec } from '../../src/spec/types.js'
import { validateJoblist } from '../../src/spec/validate.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const MIN = 60_000
const DAY = 24 * 3600 * 1000
const O: MailOptions = { mailEveryMs: MIN, retryForMs: DAY, digestAt: '08:00' }

/** A harness with one node of `slots` slots. */
function harness (slots = 4): Harness {
  const h = new Harness()
  h.node('A', { slot: Array.from({ length: slots }, (_, i) => `s${i}`) })
  return h
}

/** Submit a one-job joblist with `notify`, run it to `end` at time `at`; its ID. */
function ended (h: Harness, name: string, notify: NotifySpec[], end: 'succeeded' | 'failed', at?: number): string {
  const req = h.submit(joblist(name, [['s', [job('x')]]], { notify }), 'A')
  h.settle()
  const id = h.joblistId(req)
  h.start(`${id}.1`)
  if (at !== undefined) h.now = at - 1
  h.finish(`${id}.1`, end)
  h.settle()
  return id
}

/** The master: send (record as ok) every due message at `t`; the messages sent. */
function sendDue (h: Harness, t: number, o = O): Array<{ to: string, ids: string[], at: number }> {
  const sent: Array<{ to: string, ids: string[], at: number }> = []
  for (const m of dueMails(h.state, t, o)) {
    h.now = Math.max(h.now, t - 1)
    const e = h.emit('M', 'mail', { to: m.to, ids: m.items.map(i => i.id), ok: true, term: 1 })
    sent.push({ to: m.to, ids: m.items.map(i => i.id), at: e.ts })
  }
  return sent
}

test('P-6: the email notify spec: digest defaults to daily, on to the final states; the address is checked; paths are named', () => {
  const base = { name: 'n', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] }
  const ok = validateJoblist({ ...base, notify: [{ email: 'Alice@Example.org' }, { email: 'bob@example.org', on: ['failed'], digest: 'now' }, { webhook: 'https://h.example/x', on: ['failed'] }] })
  assert.ok(ok.ok)
  assert.deepEqual(ok.spec.notify, [
    { email: 'alice@example.org', digest: 'daily', on: ['succeeded', 'failed', 'stopped'] },
    { email: 'bob@example.org', digest: 'now', on: ['failed'] },
    { webhook: 'https://h.example/x', on: ['failed'] }
  ])
  // The validated spec validates again to itself (peers check the submit event's spec).
  const again = validateJoblist(ok.spec)
  assert.ok(again.ok)
  assert.deepEqual(again.spec.notify, ok.spec.notify)
  const issues = (v: unknown): string[] => { const r = validateJoblist({ ...base, notify: v }); return r.ok ? [] : r.issues.map(i => `${i.path}: ${i.message}`) }
  for (const bad of ['alice', 'alice@', '@example.org', 'alice@example', 'a b@example.org', 'Alice <alice@example.org>', 'alice@exa_mple.org', `${'a'.repeat(250)}@example.org`]) {
    assert.match(issues([{ webhook: 'https://ok/' }, { email: bad }])[0] ?? '', /^notify\[1\]\.email: (must be an email address like alice@example\.org|at most 254 characters)/, bad)
  }
  assert.match(issues([{ email: 3 }])[0], /^notify\[0\]\.email: must be an email address/)
  assert.match(issues([{ email: 'a@example.org', digest: 'weekly' }])[0], /^notify\[0\]\.digest: must be now .* or daily/)
  assert.match(issues([{ email: 'a@example.org', webhook: 'https://ok/' }])[0], /^notify\[0\]\.webhook: give either webhook or email/)
  assert.match(issues([{ webhook: 'https://ok/', digest: 'now' }])[0], /^notify\[0\]\.digest: only an email subscription has a digest/)
})

test('P-6: nextDigestAt: the first digestAt (UTC) at or after a time; digestEvery (tests) instead when set', () => {
  const day0 = Date.UTC(2026, 10, 30)
  assert.equal(nextDigestAt(day0 + 3 * 3600_000, O), day0 + 8 * 3600_000)
  assert.equal(nextDigestAt(day0 + 8 * 3600_000, O), day0 + 8 * 3600_000)
  assert.equal(nextDigestAt(day0 + 8 * 3600_000 + 1, O), day0 + DAY + 8 * 3600_000)
  assert.equal(nextDigestAt(day0 + 23 * 3600_000, { digestAt: '23:30' }), day0 + 23.5 * 3600_000)
  assert.equal(nextDigestAt(day0 + 1, { digestAt: '08:00', digestEveryMs: 5000 }), day0 + 5000)
})

test('P-6: now vs daily: a now item is due at once, a daily one at the next digest time; each address gets one message listing its items', () => {
  const h = harness()
  const start = Date.UTC(2026, 10, 30, 6) // 06:00 UTC
  h.now = start
  const notify: NotifySpec[] = [{ email: 'now@example.org', digest: 'now', on: ['failed'] }, { email: 'daily@example.org', digest: 'daily', on: ['succeeded', 'failed'] }]
  const a = ended(h, 'a', notify, 'failed', start + 1000)
  const b = ended(h, 'b', notify, 'succeeded', start + 2000)
  const items = allMailItems(h.state, h.now, O)
  assert.deepEqual(items.map(i => i.id).sort(), [`${a}.failed.0`, `${a}.failed.1`, `${b}.succeeded.1`].sort(), 'b succeeded: not asked for by the now subscription')
  const due = dueMails(h.state, h.now, O)
  assert.deepEqual(due.map(m => [m.to, m.items.map(i => i.id)]), [['now@example.org', [`${a}.failed.0`]]])
  const { subject, text } = mailMessage(due[0])
  assert.match(subject, /joblist a failed/)
  assert.match(text, new RegExp(`- a \\(${a}\\) failed at .*: x: `), 'the failure line')
  assert.equal(sendDue(h, h.now).length, 1)
  // Nothing for the daily address before 08:00; then one digest listing both joblists.
  const eight = start + 2 * 3600_000
  assert.deepEqual(dueMails(h.state, eight - 1, O), [])
  const pending = allMailItems(h.state, h.now, O).filter(i => i.to === 'daily@example.org')
  assert.ok(pending.every(i => i.sentAt === null && i.nextAt === eight))
  const digest = dueMails(h.state, eight, O)
  assert.deepEqual(digest.map(m => [m.to, m.items.map(i => i.id).sort()]), [['daily@example.org', [`${a}.failed.1`, `${b}.succeeded.1`].sort()]])
  assert.match(mailMessage(digest[0]).subject, /^cis digest: 2 notifications \(1 failed, 1 succeeded\)/)
  sendDue(h, eight)
  assert.ok(allMailItems(h.state, h.now, O).every(i => i.sentAt !== null && i.nextAt === null))
  // Ended after today's digest: in tomorrow's.
  const c = ended(h, 'c', notify, 'succeeded', eight + 3600_000)
  assert.equal(allMailItems(h.state, h.now, O, c)[0].nextAt, eight + DAY)
  assert.deepEqual(dueMails(h.state, eight + DAY - 1, O), [])
  assert.equal(dueMails(h.state, eight + DAY, O).length, 1)
})

test('S-5: a storm of 100 joblists failing within a minute gives at most 2 messages per address, listing all 100', () => {
  const h = harness(100)
  const start = Date.UTC(2026, 10, 30, 12)
  h.now = start
  const notify: NotifySpec[] = [{ email: 'ops@example.org', digest: 'now', on: ['failed'] }, { email: 'dev@example.org', digest: 'now', on: ['failed'] }]
  const reqs = Array.from({ length: 100 }, (_, i) => h.submit(joblist(`storm-${i}`, [['s', [job('x')]]], { notify }), 'A'))
  h.settle()
  const ids = reqs.map(r => h.joblistId(r))
  for (const id of ids) h.start(`${id}.1`)
  // Failures every 590 ms; the master passes every 200 ms.
  const sent: Array<{ to: string, ids: string[], at: number }> = []
  let next = 0
  for (let t = start + 1000; t <= start + 5 * MIN; t += 200) {
    while (next < ids.length && start + 1000 + next * 590 <= t) {
      h.now = Math.max(h.now, t - 1)
      h.finish(`${ids[next]}.1`, 'failed')
      next++
    }
    sent.push(...sendDue(h, t))
  }
  h.settle()
  for (const to of ['ops@example.org', 'dev@example.org']) {
    const mine = sent.filter(m => m.to === to)
    assert.ok(mine.length >= 1 && mine.length <= 2, `${to}: ${mine.length} messages`)
    assert.equal(new Set(mine.flatMap(m => m.ids)).size, 100, 'every failure is listed once')
    if (mine.length === 2) assert.ok(mine[1].at - mine[0].at >= MIN, 'at most one message per mailEvery')
  }
  assert.ok(allMailItems(h.state, h.now, O).every(i => i.sentAt !== null))
})

test('P-6: a failed message is retried with a deterministic backoff (from the address), listing what is due then; an ok one ends the items', () => {
  const h = harness()
  const start = Date.UTC(2026, 10, 30, 12)
  h.now = start
  const notify: NotifySpec[] = [{ email: 'ops@example.org', digest: 'now', on: ['failed'] }]
  const a = ended(h, 'a', notify, 'failed', start + 10)
  const first = h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${a}.failed.0`], ok: false, error: 'connect ECONNREFUSED', term: 1 })
  let [it] = allMailItems(h.state, h.now, O)
  assert.equal(it.failures, 1)
  assert.equal(it.lastError, 'connect ECONNREFUSED')
  assert.equal(it.nextAt, first.ts + backoffMs('mail:ops@example.org', 1))
  assert.deepEqual(dueMails(h.state, (it.nextAt as number) - 1, O), [])
  const b = ended(h, 'b', notify, 'failed')
  const retry = dueMails(h.state, it.nextAt as number, O)
  assert.deepEqual(retry.map(m => m.items.map(i => i.id)), [[`${a}.failed.0`, `${b}.failed.0`]], 'the retry lists what is due now')
  const second = h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${a}.failed.0`, `${b}.failed.0`], ok: false, error: 'timeout', term: 1 })
  ;[it] = allMailItems(h.state, h.now, O, a)
  assert.equal(it.nextAt, second.ts + backoffMs('mail:ops@example.org', 2))
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${a}.failed.0`, `${b}.failed.0`], ok: true, term: 1 })
  assert.ok(allMailItems(h.state, h.now, O).every(i => i.sentAt !== null && i.nextAt === null))
  assert.deepEqual(dueMails(h.state, h.now + DAY, O), [])
  // Given up once a failure comes retryFor after the item was due.
  const c = ended(h, 'c', notify, 'failed')
  const due = allMailItems(h.state, h.now, O, c)[0].dueAt
  h.now = due + 1000
  h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${c}.failed.0`], ok: false, error: 'x', term: 1 })
  assert.equal(allMailItems(h.state, h.now, { ...O, retryForMs: 500 }, c)[0].gaveUp, true)
  assert.equal(allMailItems(h.state, h.now, O, c)[0].gaveUp, false)
})

test('P-6: the items and what is due are the same whatever order the mail events arrive in (two masters)', () => {
  const h = harness()
  const start = Date.UTC(2026, 10, 30, 12)
  h.now = start
  const notify: NotifySpec[] = [{ email: 'ops@example.org', digest: 'now', on: ['failed', 'succeeded'] }, { email: 'team@example.org', digest: 'daily', on: ['succeeded', 'failed'] }]
  const a = ended(h, 'a', notify, 'failed', start + 10)
  const b = ended(h, 'b', notify, 'succeeded', start + 20)
  const base = h.events.slice()
  const m = (origin: string, seq: number, ts: number, to: string, ids: string[], ok: boolean): UnsignedEvent<'mail'> =>
    ({ origin, seq, ts, lc: 0, type: 'mail', body: { to, ids, ok, ...(ok ? {} : { error: 'down' }), term: 1 } })
  const ms = [
    m('M1', 1, start + 100, 'ops@example.org', [`${a}.failed.0`], false),
    m('M2', 1, start + 150, 'ops@example.org', [`${a}.failed.0`, `${b}.succeeded.0`], true),
    m('M1', 2, start + 5000, 'team@example.org', [`${a}.failed.1`], false),
    m('M2', 2, start + 9000, 'team@example.org', [`${b}.succeeded.1`], true)
  ]
  const expected = reduce([...base, ...ms])
  const hash = stateHash(expected)
  const t = start + 20 * 3600_000
  const view = JSON.stringify([allMailItems(expected, t, O), dueMails(expected, t, O)])
  // (The address keeps what its next message waits for: the last that got through, the failures after it.)
  assert.deepEqual(expected.mails['ops@example.org'].map(r => r.at), [start + 150], 'cut to the last ok')
  assert.deepEqual(expected.mails['team@example.org'].map(r => r.at), [start + 9000])
  const perms = (xs: UnsignedEvent[]): UnsignedEvent[][] => xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map(p => [x, ...p]))
  let n = 0
  for (const order of perms(ms).filter(p => p.indexOf(ms[0]) < p.indexOf(ms[2]) && p.indexOf(ms[1]) < p.indexOf(ms[3]))) {
    for (const all of [[...base, ...order], [...order, ...base]]) {
      const s = reduce(all)
      assert.equal(stateHash(s), hash)
      assert.equal(JSON.stringify([allMailItems(s, t, O), dueMails(s, t, O)]), view)
      n++
    }
  }
  assert.ok(n >= 12)
  const items = allMailItems(expected, t, O)
  assert.equal(items.find(i => i.id === `${a}.failed.1`)?.sentAt, null, 'only an ok mail ends an item')
  assert.equal(items.find(i => i.id === `${b}.succeeded.1`)?.sentAt, start + 9000)
})

test('P-6 / G-4 / issue 12 (property): an item\'s standing, kept as messages come in (late ones between earlier ones too), equals a scan of every message sent; an address keeps only what its next message waits for, and its gate is the one every message gives', () => {
  fc.assert(fc.property(fc.array(fc.record({
    late: fc.boolean(), origin: fc.constantFrom('M1', 'M2'), to: fc.constantFrom('ops@example.org', 'team@example.org'),
    pick: fc.array(fc.nat(7), { maxLength: 4 }), ok: fc.boolean(), error: fc.constantFrom(undefined, 'down', 'refused')
  }), { minLength: 1, maxLength: 30 }), (mails) => {
    const h = harness()
    const start = Date.UTC(2026, 10, 30, 12)
    h.now = start
    const notify: NotifySpec[] = [{ email: 'ops@example.org', digest: 'now', on: ['failed', 'succeeded'] }, { email: 'team@example.org', digest: 'daily', on: ['succeeded', 'failed'] }]
    const ids = ['a', 'b', 'c'].flatMap((n, i) => { const id = ended(h, n, notify, i === 1 ? 'failed' : 'succeeded', start + 10 * (i + 1)); return [`${id}.succeeded.0`, `${id}.failed.0`, `${id}.succeeded.1`, `${id}.failed.1`] })
    const seqs = new Map<string, number>()
    let ts = start + 1000
    // Every message, as the state kept them all until Dec 4 (sorted by position).
    const all: Array<MailRecord & { to: string }> = []
    for (const x of mails) {
      const seq = (seqs.get(x.origin) ?? 0) + 1
      seqs.set(x.origin, seq)
      // A late message: positioned before those recorded already (a master's clock behind).
      const at = x.late ? ts - 500 - seq : (ts += 100)
      const body = { to: x.to, ids: x.pick.map(k => ids[k]).concat(x.pick.length > 2 ? [ids[x.pick[0]]] : []), ok: x.ok, ...(x.error !== undefined ? { error: x.error } : {}), term: 1 }
      apply(h.state, { origin: x.origin, seq, ts: at, lc: 0, type: 'mail', body })
      insertByPosition(all, { to: x.to, ids: body.ids, ok: body.ok, ...(body.error !== undefined ? { error: body.error } : {}), at, pos: [at, 0, x.origin, seq] })
      const t = ts + 3600_000
      for (const it of allMailItems(h.state, t, O)) {
        // The scan every item made of its address's messages.
        let sentAt: number | null = null
        let failures = 0
        let lastError: string | undefined
        for (const r of all.filter(r => r.to === it.to)) {
          if (!r.ids.includes(it.id)) continue
          if (r.ok) { sentAt ??= r.at; continue }
          failures++
          if (r.error !== undefined) lastError = r.error
        }
        assert.deepEqual([it.sentAt, it.failures, it.lastError], [sentAt, failures, lastError], it.id)
      }
      for (const to of ['ops@example.org', 'team@example.org']) {
        const every = all.filter(r => r.to === to)
        const kept = h.state.mails[to] ?? []
        // The last ok and the failures after it (there are fewer than MAX_TRAILING_MAIL_FAILURES here).
        const lastOk = every.map(r => r.ok).lastIndexOf(true)
        assert.deepEqual(kept.map(r => r.pos), every.slice(Math.max(0, lastOk)).map(r => r.pos), `${to} keeps what its next message waits for`)
        assert.equal(addressGate(kept, to, O), addressGate(every, to, O), `${to}: the same gate`)
      }
    }
  }), { seed: 4, numRuns: 150 })
})

test('P-6 / G-4: an address that keeps failing keeps its last message that got through and the latest 64 failures after it, whatever order they come in; its backoff counts 64', () => {
  const to = 'ops@example.org'
  const m = (seq: number, ok: boolean): UnsignedEvent<'mail'> => ({ origin: 'M', seq, ts: 1000 * seq, lc: 0, type: 'mail', body: { to, ids: [`m-1.failed.${seq}`], ok, ...(ok ? {} : { error: 'down' }), term: 1 } })
  const events = Array.from({ length: 80 }, (_, i) => m(i + 1, i === 4))
  const inOrder = reduce(events)
  const kept = inOrder.mails[to]
  assert.equal(kept.length, 1 + MAX_TRAILING_MAIL_FAILURES)
  assert.ok(kept[0].ok && kept[0].at === 5000, 'the last that got through first')
  assert.deepEqual(kept.slice(1).map(r => r.at), Array.from({ length: 64 }, (_, i) => 1000 * (17 + i)), 'then the latest 64 failures')
  // (Events of one origin apply in seq order: the shuffle is across two origins.)
  const two = events.map((e, i) => ({ ...e, origin: i % 2 === 0 ? 'M' : 'N', seq: Math.floor(i / 2) + 1 }))
  const a = reduce(two)
  const b = reduce([...two.filter(e => e.origin === 'N'), ...two.filter(e => e.origin === 'M')])
  assert.deepEqual(b.mails[to], a.mails[to], 'the same records in any order')
  assert.equal(stateHash(a), stateHash(b))
  assert.equal(a.mails[to].length, 1 + MAX_TRAILING_MAIL_FAILURES)
  // Every item keeps its own count, whatever the address keeps.
  assert.equal(Object.values(inOrder.mailItems).filter(byTo => byTo[to].failures === 1).length, 79)
  assert.equal(addressGate(kept, to, O), kept[kept.length - 1].at + backoffMs(`mail:${to}`, 64))
})
