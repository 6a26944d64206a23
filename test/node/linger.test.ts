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
import { verifyEvent } from '../../src/identity/keys.js'
import { EventLog } from '../../src/node/event-log.js'
import { apply } from '../../src/state/reducer.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'

async function log (): Promise<{ events: EventLog, published: CisEvent[][] }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  const published: CisEvent[][] = []
  const events: EventLog = new EventLog({
    identity: { id, key: key as never },
    store: new MemoryEventStore(),
    log: pino({ level: 'silent' }),
    now: () => Date.now(),
    where: 'memory',
    snapshotEvery: 5000,
    applied: es => { for (const e of es) apply(events.state, e) },
    publish: own => { published.push(own) },
    onFatal: err => { throw err },
    // Long enough that only another append (or a flush) can end the wait in this test.
    writeDelayMs: 60_000
  })
  await events.load()
  return { events, published }
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
