// G-3: the history of a joblist is every event about it (its request, its accept, its jobs'
// attempts, its changes and notifications), in clock order, each in one line; the state at
// a time is the events up to it applied — the state at the time of the k-th event equals the
// state after the first k events.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import { byClock, eventSubjects, historyOf, stateAt } from '../../src/state/history.js'
import type { UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

function workload (seed: number): Harness {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  h.node('B', { slot: ['s0', 's1'] })
  let r = seed
  const next = (): number => { r = (r * 1103515245 + 12345) % 2147483648; return r / 2147483648 }
  for (let i = 0; i < 6; i++) {
    h.submit(joblist(`w${i}`, [['a', [job('x'), job('y', { retries: 1 })]], ['b', [job('z')]]]), next() < 0.5 ? 'A' : 'B')
    h.settle()
    if (next() < 0.7) { h.runAll(next() < 0.2 ? 'failed' : 'succeeded'); h.settle() }
  }
  h.runAll()
  h.settle()
  h.runAll()
  h.settle()
  return h
}

test('G-3: the state at the time of the k-th event equals the state after applying the first k events (property)', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 10_000 }), (seed, pick) => {
    const h = workload(seed)
    const events = [...h.events].sort(byClock)
    const k = 1 + (pick % events.length)
    assert.equal(stateHash(stateAt(events, events[k - 1].ts)), stateHash(reduce(events.slice(0, k))))
    // In any order of arrival: time travel sorts by clock.
    assert.equal(stateHash(stateAt([...events].reverse(), events[k - 1].ts)), stateHash(reduce(events.slice(0, k))))
  }), { numRuns: 40 })
})

test('G-3: before the first event the state is empty; after the last it is the whole state', () => {
  const h = workload(7)
  const events = [...h.events].sort(byClock)
  assert.equal(Object.keys(stateAt(events, events[0].ts - 1).joblists).length, 0)
  assert.equal(stateHash(stateAt(events, events[events.length - 1].ts + 1000)), stateHash(h.state))
})

test('G-3: the history of a joblist: its submit, accept, every attempt of its jobs, its changes, in clock order; nothing of other joblists', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('told', [['s', [job('x', { retries: 1 })]]]), 'A')
  const other = h.submit(joblist('other', [['s', [job('y')]]]), 'A')
  h.settle()
  const id = h.joblistId(req)
  h.emit('U', 'update', { joblistId: id, priority: 7 })
  h.start(`${id}.1`)
  h.finish(`${id}.1`, 'failed')
  h.settle()
  h.start(`${id}.1`)
  h.finish(`${id}.1`)
  h.settle()
  const hist = historyOf(h.events, new Set([req, id]), n => `node-${n}`)
  const texts = hist.map(e => `${e.type}: ${e.text}`)
  assert.equal(texts[0], 'submit: submitted by tester')
  assert.match(texts[1], new RegExp(`^accept: accepted as ${id} \\(master term \\d+\\)$`))
  assert.ok(texts.includes('update: changed: priority 7'))
  assert.ok(texts.some(t => new RegExp(`^assign: job ${id}\\.1 attempt 1 assigned to node-A \\(slot s0\\)$`).test(t)), texts.join('\n'))
  assert.ok(texts.includes(`finished: job ${id}.1 attempt 1 failed (exit 1)`), texts.join('\n'))
  assert.ok(texts.includes(`finished: job ${id}.1 attempt 2 succeeded (exit 0)`), texts.join('\n'))
  for (let i = 1; i < hist.length; i++) assert.ok(hist[i - 1].at <= hist[i].at, 'clock order')
  assert.equal(hist[0].node, 'node-A')
  const otherId = h.joblistId(other)
  assert.ok(!hist.some(e => e.text.includes(otherId)), 'nothing of the other joblist')
})

test('G-3 (issue 12): a short job\'s start told with its end is a line of its own, at the start\'s time, before the end', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('quick', [['s', [job('x')]]]), 'A')
  h.settle()
  const id = h.joblistId(req)
  h.finishQuick(`${id}.1`)
  h.settle()
  const hist = historyOf(h.events, new Set([req, id]), n => `node-${n}`)
  const texts = hist.map(e => `${e.type}: ${e.text}`)
  const s = texts.indexOf(`started: job ${id}.1 attempt 1 started (pid 100)`)
  const f = texts.indexOf(`finished: job ${id}.1 attempt 1 succeeded (exit 0)`)
  assert.ok(s >= 0 && f === s + 1, texts.join('\n'))
  const end = h.events.find(e => e.type === 'finished')
  assert.equal(hist[s].at, (end?.body as { started: { at: number } }).started.at)
  assert.equal(hist[s].seq, end?.seq, 'the line names the event that told it')
  for (let i = 1; i < hist.length; i++) assert.ok(hist[i - 1].at <= hist[i].at, 'clock order')
})

test('G-3: what each kind of event is about', () => {
  const e = (type: string, body: unknown): UnsignedEvent => ({ origin: 'O', seq: 3, ts: 1, lc: 0, type, body } as unknown as UnsignedEvent)
  assert.deepEqual(eventSubjects(e('submit', {})), ['O:3'])
  assert.deepEqual(eventSubjects(e('accept', { request: 'O:3', id: 'ab12-1' })), ['O:3', 'ab12-1'])
  assert.deepEqual(eventSubjects(e('finished', { jobId: 'ab12-1.2.3' })), ['ab12-1'])
  assert.deepEqual(eventSubjects(e('delivery', { id: 'ab12-1.2.failed.0' })), ['ab12-1'])
  assert.deepEqual(eventSubjects(e('mail', { ids: ['ab12-1.failed.0', 'ab12-2.failed.0', 'ab12-1.running.0'] })), ['ab12-1', 'ab12-2'])
  assert.deepEqual(eventSubjects(e('node', {})), [])
})

test('G-3 (issue 12): the jobs an accept carries are a line each, right after the accept\'s', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('placed', [['s', [job('x'), job('y')]]]), 'A')
  const id = 'm-1'
  h.emit('M', 'master', { term: 1 })
  h.emit('M', 'accept', { request: req, id, term: 1, onLost: 'retry', maxLost: 1, assign: [{ jobId: `${id}.1`, attempt: 1, node: 'A', resources: { slot: ['s0'] } }] })
  assert.equal(h.state.attempts[`${id}.1`][1].node, 'A')
  const texts = historyOf(h.events, new Set([req, id]), n => `node-${n}`).map(e => `${e.type}: ${e.text}`)
  const a = texts.indexOf(`accept: accepted as ${id} (master term 1)`)
  assert.ok(a >= 0, texts.join('\n'))
  assert.equal(texts[a + 1], `assign: job ${id}.1 attempt 1 assigned to node-A (slot s0)`)
  assert.equal(texts.filter(t => t.startsWith('assign:')).length, 1)
})
