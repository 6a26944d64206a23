// A short job's start is told with its end (issue 12: a fifth fewer events a short job): the
// executor's start is held START_HOLD_MS; if the job ends within it, one `finished` event
// carries the start, else a `started` event tells it. Own events go out at the next turn of
// the loop; peers' events wait to share a write, and an own event ends that wait.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import type { CisEvent } from '../../src/events/types.js'
import { checkEvent } from '../../src/events/check.js'
import { signBatch, verifyEvent } from '../../src/identity/keys.js'
import { EventLog } from '../../src/node/event-log.js'
import { StartHold } from '../../src/node/start-hold.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { memoryEventLog } from '../helpers/event-log.js'

const silent = pino({ level: 'silent' })

async function log (writeDelayMs = 60_000): Promise<{ events: EventLog, published: CisEvent[][], written: () => number }> {
  const store = new MemoryEventStore()
  let writes = 0
  const write = store.write.bind(store)
  store.write = async (...args) => { writes++; await write(...args) }
  // (By default long enough that only an own event, or a flush, can end a wait.)
  const { events, published } = await memoryEventLog({ store, writeDelayMs })
  return { events, published, written: () => writes }
}

function hold (events: EventLog, holdMs: number): StartHold {
  return new StartHold({ log: silent, append: async (t, b) => await events.append(t, b), clock: () => events.clockMs(), holdMs })
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

test('R1-5 (issue 12): a job that ends within the hold is told by one finished event carrying its start, valid and verifiable alone', async () => {
  const { events, published } = await log()
  const starts = hold(events, 60_000)
  const before = events.clockMs()
  const told = starts.started(started)
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(published.length, 0, 'a held start is not told yet')
  assert.equal(starts.size, 1)
  await starts.finished(finished)
  await told
  assert.equal(starts.size, 0)
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['finished']], 'one event, one message')
  const e = published[0][0] as CisEvent<'finished'>
  assert.equal(e.body.started?.pid, 42)
  assert.ok(e.body.started !== undefined && e.body.started.at >= before && e.body.started.at <= e.ts, 'the start is timed on the clock, before the end')
  assert.equal(checkEvent(e), null)
  assert.ok(verifyEvent(e))
  await events.close()
})

test('R1-5 (issue 12): a job still running after the hold is told started by a started event, then its finished alone', async () => {
  const { events, published } = await log()
  const starts = hold(events, 20)
  await starts.started({ ...started, jobId: 'j-2.1' })
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['started']], 'told when the hold ends')
  await starts.finished({ ...finished, jobId: 'j-2.1' })
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['started'], ['finished']])
  assert.equal((published[1][0] as CisEvent<'finished'>).body.started, undefined, 'the start is not told twice')
  await events.close()
})

test('R1-5 (issue 12): a start the fork server held already is told at once if the job still runs, and with its end, timed when it began, if it ended', async () => {
  const { events, published } = await log()
  // The agent's own hold is a minute here: only the fork server's say can end it sooner.
  const starts = hold(events, 60_000)
  await starts.started({ ...started, jobId: 'j-3.1' }, { sinceMs: 10, ending: false })
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['started']], 'still running after the fork server\'s hold: told at once')
  assert.equal(starts.size, 0)
  await starts.finished({ ...finished, jobId: 'j-3.1' })
  assert.equal((published[1][0] as CisEvent<'finished'>).body.started, undefined, 'the start is not told twice')

  const before = events.clockMs()
  const told = starts.started({ ...started, jobId: 'j-4.1' }, { sinceMs: 7, ending: true })
  assert.equal(starts.size, 1, 'ended within the fork server\'s hold: kept for its end')
  await starts.finished({ ...finished, jobId: 'j-4.1' })
  await told
  assert.deepEqual(published.slice(2).map(b => b.map(e => e.type)), [['finished']], 'one event for the short job')
  const e = published[2][0] as CisEvent<'finished'>
  assert.ok(e.body.started !== undefined && e.body.started.at <= e.ts - 7 && e.body.started.at >= before - 7, `the start timed when the job began, 7 ms before it was heard of: ${JSON.stringify(e.body.started)}, ts ${e.ts}`)
  assert.ok(verifyEvent(e))
  await events.close()
})

test('R1-5 (issue 12): peers\' events wait to share a write; an own event ends the wait (one write for all)', { timeout: 30_000 }, async () => {
  // Peers' events would wait a minute here.
  const { events, published, written } = await log()
  events.accept([await peerEvent(1)])
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(written(), 0, 'a peer\'s event waits for company')
  events.accept([await peerEvent(1)])
  for (let i = 0; i < 5; i++) await tick()
  assert.equal(written(), 0, 'and so does the next one')
  await events.append('finished', finished)
  assert.equal(written(), 1, 'the two peers\' events and the own one in one write')
  assert.deepEqual(published.map(b => b.map(e => e.type)), [['finished']], 'only the own event is published')
  await events.close()
})
