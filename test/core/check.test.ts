// Shape checks of events from peers (src/events/check.ts): what is well formed passes, every
// malformed envelope or body is refused with its message, oversized strings are refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_TIME, asEvent, checkEvent } from '../../src/events/check.js'
import type { EventBodies, EventType } from '../../src/events/types.js'
import { EVENT_TYPES } from '../../src/events/types.js'
import { validateJoblist } from '../../src/spec/validate.js'

const resolved = validateJoblist({
  name: 'jl',
  tags: ['t'],
  notify: [{ webhook: 'https://hooks.example.com/cis', on: ['failed'] }, { webhook: 'http://127.0.0.1:9000/' }],
  stages: [{ name: 's', jobs: [{ name: 'j', run: 'echo hi', needs: { slot: 1 }, timeout: '1m', files: [{ path: 'a.txt', content: 'x', mode: '0755' }] }, { name: 'k', run: 'true', target: { all: true } }] }]
})
assert.ok(resolved.ok)
const spec = resolved.spec
const scheduled = validateJoblist({ name: 'nightly', schedule: { cron: '0 2 * * *', timezone: 'Europe/Berlin' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
assert.ok(scheduled.ok)

/** A valid body of each type, every optional field present. */
const VALID: { [T in EventType]: EventBodies[T] } = {
  node: { name: 'n', priority: -3, profiles: ['gpu'], resources: { slot: ['s0', 's1'], gpu: [] }, api: 'http://127.0.0.1:7700', addresses: ['/ip4/127.0.0.1/tcp/7701'], version: '0.1.0' },
  submit: { spec, owner: 'alice', schedule: { name: 'nightly', instant: 1_700_000_000_000, manual: true } },
  stop: { joblistId: 'ab12-1', jobId: 'ab12-1.2' },
  master: { term: 1 },
  accept: { request: 'origin:3', id: 'ab12-1', term: 0, onLost: 'retry', maxLost: 3, expand: { 2: ['node-a', 'node-b'] }, assign: [{ jobId: 'ab12-1.1', attempt: 1, node: 'node-a', resources: { slot: ['s0'] } }] },
  assign: { jobId: 'ab12-1.1', attempt: 1, node: 'node-a', resources: { slot: ['s0'] }, term: 2 },
  cancel: { joblistId: 'ab12-1', jobId: 'ab12-1.1', request: 'origin:4', term: 2 },
  lose: { jobId: 'ab12-1.1', attempt: 2, reason: 'node gone', term: 2 },
  started: { jobId: 'ab12-1.1', attempt: 1, pid: 4242 },
  finished: { jobId: 'ab12-1.1', attempt: 1, state: 'failed', exitCode: 1, signal: null, reason: 'exit 1', tail: 'oops\n', usage: { cpuUserMs: 1200, cpuSysMs: 35, maxRssKb: 81_920 }, started: { at: 1_700_000_000_000, pid: 4242 } },
  schedule: { spec: scheduled.spec, owner: 'alice' },
  control: { name: 'nightly', op: 'pause' },
  skip: { name: 'nightly', from: 1_700_000_000_000, to: 1_700_000_060_000, count: 2, reason: 'overlap', term: 3 },
  ack: { joblistId: 'ab12-1' },
  update: { joblistId: 'ab12-1', priority: -7, tags: ['nightly', 'team-x'] },
  delivery: { id: 'ab12-1.failed.0', attempt: 2, ok: false, status: 503, error: 'HTTP 503', retryAfterMs: 30_000, gone: true, term: 4 },
  mail: { to: 'alice@example.org', ids: ['ab12-1.failed.0', 'ab12-2.succeeded.1'], ok: false, error: 'connect ECONNREFUSED', term: 4 },
  purge: { before: 1_700_000_000_000, ids: ['ab12-1', 'ab12-2'], requests: ['origin:3', 'origin:9'] }
}

/** The message for a wrong field of each type's body. */
const MESSAGE: Record<EventType, RegExp> = {
  node: /^bad node info$/,
  submit: /^bad (owner|schedule run|joblist: .*)$/,
  stop: /^bad stop$/,
  master: /^bad term$/,
  accept: /^bad accept$/,
  assign: /^bad assign$/,
  cancel: /^bad cancel$/,
  lose: /^bad lose$/,
  started: /^bad started$/,
  finished: /^bad finished$/,
  schedule: /^bad (owner|schedule: .*|joblist: .*)$/,
  control: /^bad control$/,
  skip: /^bad skip$/,
  ack: /^bad ack$/,
  update: /^bad update$/,
  delivery: /^bad delivery$/,
  mail: /^bad mail$/,
  purge: /^bad purge$/
}

const OPTIONAL: Partial<Record<EventType, string[]>> = {
  stop: ['jobId'],
  accept: ['expand', 'assign'],
  cancel: ['jobId'],
  finished: ['reason', 'tail', 'usage', 'started'],
  submit: ['schedule'],
  update: ['priority', 'tags'],
  delivery: ['status', 'error', 'retryAfterMs', 'gone'],
  mail: ['error']
}

function event (type: EventType, body: unknown = VALID[type], over: Record<string, unknown> = {}): Record<string, unknown> {
  return { origin: '12D3KooWorigin', seq: 7, ts: 1_700_000_000_000, lc: 2, type, body: structuredClone(body), sig: 'c2lnbmF0dXJl', ...over }
}

test('check: one valid event of each type passes; asEvent gives it back', () => {
  assert.deepEqual(Object.keys(VALID).sort(), [...EVENT_TYPES].sort(), 'a sample for every type')
  for (const type of EVENT_TYPES) {
    const e = event(type)
    assert.equal(checkEvent(e), null, type)
    assert.equal(asEvent(e), e, type)
    // And without its optional fields.
    const body = structuredClone(VALID[type]) as unknown as Record<string, unknown>
    for (const k of OPTIONAL[type] ?? []) delete body[k]
    assert.equal(checkEvent(event(type, body)), null, `${type} without ${(OPTIONAL[type] ?? []).join(', ')}`)
  }
  // Edge values that are allowed.
  assert.equal(checkEvent(event('finished', { ...VALID.finished, state: 'lost', exitCode: null, signal: 'SIGKILL' })), null)
  assert.equal(checkEvent(event('node', { ...VALID.node, priority: -1e9 })), null, 'the lowest priority')
  assert.equal(checkEvent(event('started', { ...VALID.started, pid: 0 })), null)
  // D-1: the edges of an update's priority, an empty tag list, and an update of one field.
  assert.equal(checkEvent(event('update', { joblistId: 'ab12-1', priority: 1000 })), null)
  assert.equal(checkEvent(event('update', { joblistId: 'ab12-1', priority: -1000 })), null)
  assert.equal(checkEvent(event('update', { joblistId: 'ab12-1', tags: [] })), null)
  assert.equal(checkEvent(event('update', { joblistId: 'ab12-1', tags: Array(100).fill('t'.repeat(100)) })), null)
})

const kind = (v: unknown): string => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v

test('check: for each type, a body with any field of the wrong kind, or a required field missing, fails with the type\'s message', () => {
  // For each field, every value of another kind than the valid one (-5.5 for a number: not an integer).
  const wrongs: unknown[] = [-5.5, 'x', null, [], {}, true]
  // Fields that take two kinds: an exit code or null, a signal name or null.
  const twoKinds: Record<string, string> = { 'finished.exitCode': 'null', 'finished.signal': 'string' }
  let checked = 0
  for (const type of EVENT_TYPES) {
    const valid = VALID[type] as unknown as Record<string, unknown>
    for (const field of Object.keys(valid)) {
      for (const wrong of wrongs) {
        if (kind(wrong) === kind(valid[field]) && typeof wrong !== 'number') continue
        if (twoKinds[`${type}.${field}`] === kind(wrong)) continue
        const body = { ...valid, [field]: wrong }
        assert.match(checkEvent(event(type, body)) ?? 'passed', MESSAGE[type], `${type}.${field} = ${JSON.stringify(wrong)}`)
        checked++
      }
      if (!(OPTIONAL[type] ?? []).includes(field)) {
        const body = { ...valid }
        delete body[field]
        assert.match(checkEvent(event(type, body)) ?? 'passed', MESSAGE[type], `${type} without ${field}`)
      }
    }
  }
  assert.ok(checked > 150, `${checked} wrong fields checked`)
})

test('check: out-of-range values in a body fail with the type\'s message', () => {
  const cases: Array<[EventType, Record<string, unknown>]> = [
    ['master', { term: 0 }],
    ['node', { priority: -1e9 - 1 }],
    ['node', { profiles: ['ok', 3] }],
    ['node', { resources: { slot: 's0' } }],
    ['node', { resources: { slot: [1] } }],
    ['assign', { attempt: 0 }],
    ['delivery', { attempt: 0 }],
    ['delivery', { id: 'ab12-1.queued.0' }],
    ['delivery', { id: 'ab12-1.failed' }],
    ['delivery', { gone: false }],
    ['delivery', { status: 1000 }],
    ['mail', { to: 'not-an-address' }],
    ['mail', { ids: [] }],
    ['mail', { ids: ['ab12-1.queued.0'] }],
    ['mail', { ok: 'yes' }],
    ['mail', { error: 'x'.repeat(1025) }],
    ['assign', { term: -1 }],
    ['lose', { attempt: 0 }],
    ['started', { attempt: 0 }],
    ['started', { pid: 1.5 }],
    ['finished', { state: 'exploded' }],
    ['finished', { exitCode: 1.5 }],
    ['finished', { usage: { cpuUserMs: -1, cpuSysMs: 0 } }],
    ['finished', { usage: { cpuUserMs: 1 } }],
    ['finished', { usage: {} }],
    ['finished', { started: { at: 1 } }],
    ['finished', { started: { at: -1, pid: 1 } }],
    ['finished', { started: { at: 1.5, pid: 1 } }],
    // (Past the latest instant a Date holds, MAX_TIME: every view of it threw, the master's webhook payload too.)
    ['finished', { started: { at: 8.64e15 + 1, pid: 1 } }],
    ['finished', { started: { at: 2 ** 53 - 1, pid: 1 } }],
    ['finished', { started: 'now' }],
    ['accept', { onLost: 'maybe' }],
    // D-3: an executor makes jobs/JOBLIST/… from the ID: never a path, a dot or an empty name.
    ...['..', '.', '../../etc', 'ab12/1', 'ab12\\1', 'ab12-1.1', '', 'ab 12', 'x'.repeat(129)].map(id => ['accept', { id, assign: undefined }] as [EventType, Record<string, unknown>]),
    ['accept', { maxLost: -1 }],
    ['accept', { expand: { 1: 'node-a' } }],
    ['accept', { assign: [] }],
    ['accept', { assign: [{ jobId: 'ab12-2.1', attempt: 1, node: 'node-a', resources: {} }] }],
    ['accept', { assign: [{ jobId: 'ab12-10.1', attempt: 1, node: 'node-a', resources: {} }] }],
    ['accept', { assign: [{ jobId: 'ab12-1.1', attempt: 0, node: 'node-a', resources: {} }] }],
    ['accept', { assign: [{ jobId: 'ab12-1.1', attempt: 1, node: 'node-a', resources: {}, term: 9 }] }],
    ['accept', { assign: { jobId: 'ab12-1.1', attempt: 1, node: 'node-a', resources: {} } }],
    ['submit', { spec: { ...spec, stages: [] } }],
    ['submit', { spec: { ...spec, name: undefined } }],
    ['submit', { spec: { ...spec, extra: 1 } }],
    ['submit', { schedule: { name: 'n', instant: -1 } }],
    ['submit', { schedule: { name: 'n', instant: 5, manual: false } }],
    ['schedule', { spec }],
    ['schedule', { spec: { ...scheduled.spec, schedule: { cron: '61 * * * *' } } }],
    ['control', { op: 'explode' }],
    ['skip', { to: 1 }],
    ['skip', { count: 0 }],
    ['skip', { reason: 'bored' }],
    ['update', { priority: 1001 }],
    ['update', { priority: -1001 }],
    ['update', { priority: 2.5 }],
    ['update', { tags: ['ok', 3] }],
    ['update', { tags: [''] }],
    ['update', { tags: ['t'.repeat(101)] }],
    ['update', { tags: Array(101).fill('t') }]
  ]
  for (const [type, over] of cases) {
    const body = { ...(VALID[type] as unknown as Record<string, unknown>), ...over }
    assert.match(checkEvent(event(type, body)) ?? 'passed', MESSAGE[type], `${type} ${JSON.stringify(over)}`)
  }
  // A submit names where its joblist is wrong.
  assert.match(checkEvent(event('submit', { ...VALID.submit, spec: { ...spec, stages: [{ name: 's', jobs: [{ name: 'j' }] }] } })) ?? '', /^bad joblist: stages\[0\]\.jobs\[0\]\.run /)
  assert.equal(checkEvent(event('submit', { ...VALID.submit, owner: 7 })), 'bad owner')
})

test('check: a time at the latest instant a Date holds passes, and its views can be made', () => {
  const e = event('finished', { ...VALID.finished, started: { at: MAX_TIME, pid: 1 } }, { ts: MAX_TIME })
  assert.equal(checkEvent(e), null)
  assert.equal(new Date(MAX_TIME).toISOString(), '+275760-09-13T00:00:00.000Z')
})

test('check: a bad envelope fails with its message: object, origin, seq, clock, signature, type, body', () => {
  const cases: Array<[unknown, string | RegExp]> = [
    [null, 'not an object'],
    [[], 'not an object'],
    ['event', 'not an object'],
    [42, 'not an object'],
    [event('stop', undefined, { origin: '' }), 'bad origin'],
    [event('stop', undefined, { origin: 12 }), 'bad origin'],
    [event('stop', undefined, { origin: undefined }), 'bad origin'],
    [event('stop', undefined, { seq: 0 }), 'bad seq'],
    [event('stop', undefined, { seq: -1 }), 'bad seq'],
    [event('stop', undefined, { seq: 1.5 }), 'bad seq'],
    [event('stop', undefined, { seq: '7' }), 'bad seq'],
    [event('stop', undefined, { seq: 2 ** 53 }), 'bad seq'],
    [event('stop', undefined, { ts: -1 }), 'bad clock'],
    [event('stop', undefined, { ts: '1' }), 'bad clock'],
    [event('stop', undefined, { ts: 8.64e15 + 1 }), 'bad clock'],
    [event('stop', undefined, { lc: 0.5 }), 'bad clock'],
    [event('stop', undefined, { lc: undefined }), 'bad clock'],
    [event('stop', undefined, { sig: undefined }), 'bad signature field'],
    [event('stop', undefined, { sig: 5 }), 'bad signature field'],
    [event('stop', undefined, { type: 'nope' }), 'unknown type nope'],
    [event('stop', undefined, { type: undefined }), 'unknown type undefined'],
    [event('stop', undefined, { type: 'x'.repeat(100) }), `unknown type ${'x'.repeat(32)}`],
    [event('stop', undefined, { type: 'toString' }), 'unknown type toString'],
    [event('stop', null), 'bad body'],
    [event('stop', []), 'bad body'],
    [event('stop', 'stop'), 'bad body'],
    [event('stop', undefined, { body: undefined }), 'bad body']
  ]
  for (const [x, message] of cases) {
    assert.equal(checkEvent(x), message, JSON.stringify(x)?.slice(0, 120))
    assert.equal(asEvent(x), message)
  }
})

test('check: oversized strings and lists are refused (and the largest allowed pass)', () => {
  const cases: Array<{ what: string, at: (n: number) => unknown, max: number, message: string }> = [
    { what: 'origin', at: n => event('stop', undefined, { origin: 'o'.repeat(n) }), max: 128, message: 'bad origin' },
    { what: 'signature', at: n => event('stop', undefined, { sig: 's'.repeat(n) }), max: 1024, message: 'bad signature field' },
    { what: 'node name', at: n => event('node', { ...VALID.node, name: 'n'.repeat(n) }), max: 256, message: 'bad node info' },
    { what: 'node api', at: n => event('node', { ...VALID.node, api: 'a'.repeat(n) }), max: 256, message: 'bad node info' },
    { what: 'node profiles (count)', at: n => event('node', { ...VALID.node, profiles: Array(n).fill('p') }), max: 1000, message: 'bad node info' },
    { what: 'resource IDs (count)', at: n => event('node', { ...VALID.node, resources: { slot: Array(n).fill('s') } }), max: 4096, message: 'bad node info' },
    { what: 'resource types (count)', at: n => event('node', { ...VALID.node, resources: Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, []])) }), max: 256, message: 'bad node info' },
    { what: 'submit owner', at: n => event('submit', { ...VALID.submit, owner: 'o'.repeat(n) }), max: 256, message: 'bad owner' },
    { what: 'stop joblistId', at: n => event('stop', { joblistId: 'j'.repeat(n) }), max: 256, message: 'bad stop' },
    { what: 'update joblistId', at: n => event('update', { joblistId: 'j'.repeat(n) }), max: 256, message: 'bad update' },
    { what: 'stop jobId', at: n => event('stop', { joblistId: 'j', jobId: 'j'.repeat(n) }), max: 256, message: 'bad stop' },
    { what: 'accept request', at: n => event('accept', { ...VALID.accept, request: 'r'.repeat(n) }), max: 256, message: 'bad accept' },
    { what: 'accept expand (keys)', at: n => event('accept', { ...VALID.accept, expand: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, []])) }), max: 1000, message: 'bad accept' },
    { what: 'assign node', at: n => event('assign', { ...VALID.assign, node: 'n'.repeat(n) }), max: 256, message: 'bad assign' },
    { what: 'cancel request', at: n => event('cancel', { ...VALID.cancel, request: 'r'.repeat(n) }), max: 256, message: 'bad cancel' },
    { what: 'lose reason', at: n => event('lose', { ...VALID.lose, reason: 'r'.repeat(n) }), max: 4096, message: 'bad lose' },
    { what: 'started jobId', at: n => event('started', { ...VALID.started, jobId: 'j'.repeat(n) }), max: 256, message: 'bad started' },
    { what: 'finished reason', at: n => event('finished', { ...VALID.finished, reason: 'r'.repeat(n) }), max: 4096, message: 'bad finished' },
    { what: 'finished tail', at: n => event('finished', { ...VALID.finished, tail: 't'.repeat(n) }), max: 8192, message: 'bad finished' },
    { what: 'finished signal', at: n => event('finished', { ...VALID.finished, signal: 'S'.repeat(n) }), max: 256, message: 'bad finished' }
  ]
  for (const c of cases) {
    assert.equal(checkEvent(c.at(c.max)), null, `${c.what}: ${c.max} is allowed`)
    assert.equal(checkEvent(c.at(c.max + 1)), c.message, `${c.what}: ${c.max + 1} is refused`)
    assert.equal(checkEvent(c.at(c.max * 100)), c.message, `${c.what}: ${c.max * 100} is refused`)
  }
  // A joblist in a submit is held to the spec's limits.
  const long = { ...spec, name: 'n'.repeat(10_000) }
  assert.match(checkEvent(event('submit', { ...VALID.submit, spec: long })) ?? 'passed', /^bad joblist: name /)
})

test('check: never throws, whatever it is given; what it accepts has a well-formed envelope (property)', () => {
  const envelope = fc.record({
    origin: fc.oneof(fc.string({ maxLength: 3 }), fc.anything()),
    seq: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.anything()),
    ts: fc.oneof(fc.nat(), fc.double(), fc.anything()),
    lc: fc.oneof(fc.nat(), fc.anything()),
    type: fc.oneof(fc.constantFrom(...EVENT_TYPES), fc.anything()),
    body: fc.oneof(fc.constantFrom(...Object.values(VALID)), fc.object(), fc.anything()),
    sig: fc.oneof(fc.string(), fc.anything())
  }, { requiredKeys: [] })
  fc.assert(fc.property(fc.oneof(envelope, fc.anything()), x => {
    const r = checkEvent(x)
    assert.ok(r === null || typeof r === 'string')
    if (r === null) {
      const e = x as Record<string, unknown>
      assert.ok(typeof e.origin === 'string' && e.origin !== '')
      assert.ok(Number.isSafeInteger(e.seq) && (e.seq as number) >= 1)
      assert.ok(EVENT_TYPES.includes(e.type as EventType))
      assert.ok(typeof e.sig === 'string')
    }
  }), { seed: 11, numRuns: 2000 })
})
