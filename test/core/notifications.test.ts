// Issue 11 (D-2, P-6, S-5): webhook deliveries are derived from the state. A joblist with
// notify subscriptions owes one delivery per subscription and per reached state it asks for,
// with a stable ID; `delivery` events record attempts; backoff is deterministic; a 410
// disables the subscription; the result is the same in any arrival order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import { BACKOFF_CAP_MS, allDeliveries, backoffMs, dueDeliveries, hostAllowed } from '../../src/state/notifications.js'
import type { EventBodies, UnsignedEvent } from '../../src/events/types.js'
import { validateJoblist } from '../../src/spec/validate.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const O = { retryForMs: 24 * 3600 * 1000 }

function setup (notify = [{ webhook: 'https://hooks.example.com/a', on: ['running' as const, 'succeeded' as const, 'failed' as const, 'stopped' as const] }, { webhook: 'https://hooks.example.com/b', on: ['failed' as const] }]): { h: Harness, id: string } {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('hooked', [['s', [job('x')]]], { notify }), 'A')
  h.settle()
  return { h, id: h.joblistId(req) }
}

const delivery = (origin: string, seq: number, ts: number, body: Omit<EventBodies['delivery'], 'term'>): UnsignedEvent<'delivery'> =>
  ({ origin, seq, ts, lc: 0, type: 'delivery', body: { term: 1, ...body } })

test('D-2: nothing is owed before a state is reached; running, then the final state, each per subscription that asks for it', () => {
  const { h, id } = setup()
  assert.deepEqual(dueDeliveries(h.state, h.now, O), [], 'queued: nothing')
  h.start(`${id}.1`)
  const running = dueDeliveries(h.state, h.now, O)
  assert.deepEqual(running.map(d => d.id), [`${id}.running.0`])
  assert.equal(running[0].url, 'https://hooks.example.com/a')
  h.finish(`${id}.1`, 'failed')
  h.settle()
  const ids = dueDeliveries(h.state, h.now, O).map(d => d.id).sort()
  assert.deepEqual(ids, [`${id}.failed.0`, `${id}.failed.1`, `${id}.running.0`].sort(), 'subscription 1 asked for failed only')
  assert.equal(allDeliveries(h.state, h.now, O, id).length, 3)
})

test('P-6: an ok attempt delivers; failed attempts back off 1s, 2s, 4s … (capped) with a deterministic jitter; Retry-After wins', () => {
  const { h, id } = setup([{ webhook: 'https://hooks.example.com/a', on: ['running'] }])
  h.start(`${id}.1`)
  const d0 = dueDeliveries(h.state, h.now, O)[0]
  const did = d0.id
  // The jitter is a pure function of (id, attempt): the same everywhere, within [base, 1.25 base].
  for (let n = 1; n <= 12; n++) {
    const b = backoffMs(did, n)
    const base = Math.min(BACKOFF_CAP_MS, 1000 * 2 ** (n - 1))
    assert.equal(b, backoffMs(did, n))
    assert.ok(b >= base && b <= base * 1.25, `attempt ${n}: ${b}`)
  }
  assert.ok(backoffMs(did, 40) <= BACKOFF_CAP_MS * 1.25)
  const t1 = h.now + 10
  h.emit('M', 'delivery', { id: did, attempt: 1, ok: false, status: 500, error: 'HTTP 500', term: 1 })
  let [d] = allDeliveries(h.state, t1, O, id)
  assert.equal(d.attempts.length, 1)
  assert.equal(d.nextAt, d.attempts[0].at + backoffMs(did, 1))
  assert.deepEqual(dueDeliveries(h.state, d.attempts[0].at + backoffMs(did, 1) - 1, O), [], 'not due before the backoff')
  assert.equal(dueDeliveries(h.state, d.attempts[0].at + backoffMs(did, 1), O).length, 1)
  h.emit('M', 'delivery', { id: did, attempt: 2, ok: false, status: 503, retryAfterMs: 60_000, term: 1 })
  ;[d] = allDeliveries(h.state, h.now, O, id)
  assert.equal(d.nextAt, d.attempts[1].at + 60_000, 'Retry-After')
  h.emit('M', 'delivery', { id: did, attempt: 3, ok: true, status: 200, term: 1 })
  ;[d] = allDeliveries(h.state, h.now, O, id)
  assert.equal(d.delivered, true)
  assert.equal(d.nextAt, null)
  assert.deepEqual(dueDeliveries(h.state, h.now + 1e9, O), [])
})

test('P-6: a delivery gives up once its next attempt would come after retryFor since the state was reached', () => {
  const { h, id } = setup([{ webhook: 'https://hooks.example.com/a', on: ['running'] }])
  h.start(`${id}.1`)
  const did = `${id}.running.0`
  const o = { retryForMs: 2500 }
  h.emit('M', 'delivery', { id: did, attempt: 1, ok: false, error: 'ECONNREFUSED', term: 1 })
  assert.equal(allDeliveries(h.state, h.now, o, id)[0].gaveUp, false)
  h.emit('M', 'delivery', { id: did, attempt: 2, ok: false, error: 'ECONNREFUSED', term: 1 })
  h.emit('M', 'delivery', { id: did, attempt: 3, ok: false, error: 'ECONNREFUSED', term: 1 })
  // Recorded at about reachedAt + 3 ms; the next would come >= 4 s later: past 2.5 s.
  const [d] = allDeliveries(h.state, h.now, o, id)
  assert.equal(d.gaveUp, true)
  assert.equal(d.nextAt, null)
  assert.deepEqual(dueDeliveries(h.state, h.now + 1e9, o), [])
})

test('S-5: a 410 disables the subscription: none of its deliveries are due any more; other subscriptions go on', () => {
  const { h, id } = setup()
  h.start(`${id}.1`)
  h.emit('M', 'delivery', { id: `${id}.running.0`, attempt: 1, ok: false, status: 410, gone: true, term: 1 })
  h.finish(`${id}.1`, 'failed')
  h.settle()
  const all = allDeliveries(h.state, h.now, O, id)
  assert.deepEqual(all.filter(d => d.key === '0').map(d => [d.state, d.disabled, d.nextAt]), [['running', true, null], ['failed', true, null]])
  assert.deepEqual(dueDeliveries(h.state, h.now + 1e9, O).map(d => d.id), [`${id}.failed.1`])
})

test('D-2: delivery events give the same state (and the same deliveries) in any arrival order', () => {
  const { h, id } = setup()
  h.start(`${id}.1`)
  h.finish(`${id}.1`, 'succeeded')
  h.settle()
  const base = h.events.slice()
  const ds = [
    delivery('M1', 1, 9000, { id: `${id}.running.0`, attempt: 1, ok: false, status: 500 }),
    delivery('M1', 2, 9100, { id: `${id}.running.0`, attempt: 2, ok: false, status: 503, retryAfterMs: 5000 }),
    delivery('M2', 1, 9050, { id: `${id}.running.0`, attempt: 2, ok: false, error: 'ETIMEDOUT' }),
    delivery('M2', 2, 9200, { id: `${id}.succeeded.0`, attempt: 1, ok: true, status: 204 })
  ]
  const expected = reduce([...base, ...ds])
  const hash = stateHash(expected)
  const view = JSON.stringify(allDeliveries(expected, 10_000, O))
  assert.deepEqual(expected.deliveries[`${id}.running.0`].map(a => a.pos[0]), [9000, 9050, 9100], 'sorted by position')
  const perms = (xs: UnsignedEvent[]): UnsignedEvent[][] => xs.length <= 1 ? [xs] : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map(p => [x, ...p]))
  for (const order of perms(ds).filter(p => p.indexOf(ds[0]) < p.indexOf(ds[1]) && p.indexOf(ds[2]) < p.indexOf(ds[3]))) {
    for (const all of [[...base, ...order], [...order, ...base]]) {
      const s = reduce(all)
      assert.equal(stateHash(s), hash)
      assert.equal(JSON.stringify(allDeliveries(s, 10_000, O)), view)
    }
  }
})

test('D-2: the notify spec: on defaults to every state; URLs must be http(s); email addresses are checked; paths are named', () => {
  const base = { name: 'n', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] }
  const ok = validateJoblist({ ...base, notify: [{ webhook: 'https://h.example/x' }, { webhook: 'http://127.0.0.1:9/y', on: ['failed', 'running'] }] })
  assert.ok(ok.ok)
  assert.deepEqual(ok.spec.notify, [{ webhook: 'https://h.example/x', on: ['running', 'succeeded', 'failed', 'stopped'] }, { webhook: 'http://127.0.0.1:9/y', on: ['running', 'failed'] }])
  const issues = (v: unknown): string[] => { const r = validateJoblist({ ...base, notify: v }); return r.ok ? [] : r.issues.map(i => `${i.path}: ${i.message}`) }
  assert.match(issues([{ webhook: 'ftp://x/y' }])[0], /^notify\[0\]\.webhook: must be an http: or https: URL/)
  assert.match(issues([{ webhook: 'https://ok/' }, { webhook: 'not a url' }])[0], /^notify\[1\]\.webhook: must be an http: or https: URL/)
  assert.match(issues([{ email: 'ops at example.com' }])[0], /^notify\[0\]\.email: must be an email address/)
  assert.match(issues([{ webhook: 'https://ok/', on: ['queued'] }])[0], /^notify\[0\]\.on\[0\]: must be one of running, succeeded, failed, stopped/)
  assert.match(issues([{ on: ['failed'] }])[0], /^notify\[0\]\.webhook: required/)
  assert.match(issues([{ webhook: 'https://ok/', bogus: 1 }])[0], /^notify\[0\]\.bogus: unknown field/)
})

test('S-5: allowHosts: a host allows any port, host:port only that port', () => {
  assert.equal(hostAllowed('http://127.0.0.1:9000/x', ['127.0.0.1']), true)
  assert.equal(hostAllowed('http://127.0.0.1:9000/x', ['127.0.0.1:9000']), true)
  assert.equal(hostAllowed('http://127.0.0.1:9001/x', ['127.0.0.1:9000']), false)
  assert.equal(hostAllowed('https://hooks.example.com/x', ['hooks.example.com:443']), true)
  assert.equal(hostAllowed('https://Hooks.Example.com/x', ['hooks.example.com']), true)
  assert.equal(hostAllowed('http://[::1]:8080/x', ['[::1]:8080']), true)
  assert.equal(hostAllowed('http://localhost/x', []), false)
  assert.equal(hostAllowed('http://evil.example/x', ['hooks.example.com']), false)
})
