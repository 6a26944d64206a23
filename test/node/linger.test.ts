// A short job's `started` and `finished` travel as one message (issue 12: fewer messages a
// job): the executor's `started` may wait for more events to share its write batch; any other
// append (or a flush) ends the wait. Other own events go out at the next turn of the loop.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import type { CisEvent } from '../../src/events/types.js'
import { signBatch, verifyEvent } from '../../src/identity/keys.js'
import { EventLog } from '../../src/node/event-log.js'
import { apply } from '../../src/state/reducer.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'

async function log (delays: { writeDelayMs: number, lingerMs: number } = { writeDelayMs: 60_000, lingerMs: 60_000 }): Promise<{ events: EventLog, published: CisEvent[][], written: () => number }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  const published: CisEvent[][] = []
  const store = new MemoryEventStore()
  let writes = 0
  const write = store.write.bind(store)
  store.write = async (...args) => { writes++; await write(...args) }
  const events: EventLog = new EventLog({
    identity: { id, key: key as never },
    store,
    log: pino({ level: 'silent' }),
    now: () => Date.now(),
    where: 'memory',
    snapshotEvery: 5000,
    applied: es => { for (const e of es) apply(events.state, e) },
    publish: own => { published.push(own) },
    onFatal: err => { throw err },
    // (By default long enough that only another append, or a flush, can end a wait.)
    ...delays
  })
  await events.load()
  return { events, published, written: () => writes }
}

/** A signed event of another node (as the intake hands it over, checked). */
async function peerEvent (seq: number): Promise<CisEvent> {
  const key = await generateKeyPair('Ed25519')
  const origin = peerIdFromPrivateKey(key as never).toString()
  const e = { origin, seq, ts: Date.now(), lc: 0, type: 'ack' as const, body: { joblistId: 'j-9' }, sig: '' }
  signBatch(key as never, [e])
  return e as CisEvent
}

const started = { jobId: 'j-1.1', attempt: 1, pid: 42 }
const finished = { jobId: 'j-1.1', attempt: 1, state: 'succeeded' as const, exitCode: 0, signal: null }

test('R1-5 (issue 12): a lingering started and the finished after it go out in one write batch, each verifiable alone', async () => {
  const { events, published } = await log()
  const first = events.append('started', started, true)
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(published.length, 0, 'a lingering event waits for company')
  const second = events.append('finished', finished)
  await Promise.all([first, second])
  assert.equal(published.length, 1, 'one batch, one message')
  assert.deepEqual(published[0].map(e => e.type), ['started', 'finished'])
  for (const e of published[0]) assert.ok(verifyEvent(e), `${e.type} verifies alone`)
  await events.close()
})

test('R1-5 (issue 12): an own event that does not linger goes out at once; a flush ends a linger', async () => {
  const { events, published } = await log()
  await events.append('finished', finished)
  assert.equal(published.length, 1, 'published without waiting')
  const lingering = events.append('started', { ...started, jobId: 'j-2.1' }, true)
  await events.flush()
  await lingering
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['finished'], ['started']])
  await events.close()
})

test('R1-5 (issue 12): peers\' events wait to share a write; an own lingering event shortens that wait to its own, and an own event ends it', { timeout: 30_000 }, async () => {
  // Peers' events would wait a minute here; a lingering own event waits 20 ms at most.
  const { events, published, written } = await log({ writeDelayMs: 60_000, lingerMs: 20 })
  events.accept([await peerEvent(1)])
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(written(), 0, 'a peer\'s event waits for company')
  events.accept([await peerEvent(1)])
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(written(), 0, 'and so does the next one')
  // (Without the shortening this would wait the peers' minute: the test's own timeout.)
  await events.append('started', started, true)
  assert.equal(written(), 1, 'the two peers\' events and the started in one write')
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['started']], 'only the own event is published')
  events.accept([await peerEvent(1)])
  await events.append('finished', finished)
  assert.equal(written(), 2, 'an own event that does not linger ends the wait: one write for both')
  await events.close()
})
