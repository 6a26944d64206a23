// The fault-injecting store (src/store/faulty-store.ts), and the node on a full disk (D-3).
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import type { CisEvent } from '../../src/events/types.js'
import { CisNode } from '../../src/node/node.js'
import type { JoblistSpec } from '../../src/spec/types.js'
import { validateJoblist } from '../../src/spec/validate.js'
import type { StoredSnapshot } from '../../src/store/event-store.js'
import { fullSnapshot, snapshotState } from '../../src/store/snapshot-parts.js'
import { FaultyStore } from '../../src/store/faulty-store.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { emptyState } from '../../src/state/types.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'
import { storeEvent } from './conformance.js'

async function collect (it: AsyncIterable<CisEvent>): Promise<CisEvent[]> {
  const out: CisEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

async function rejection (p: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  try {
    await p
  } catch (err) {
    return err as NodeJS.ErrnoException
  }
  assert.fail('expected a rejection')
}

async function faulty (): Promise<{ inner: MemoryEventStore, store: FaultyStore }> {
  const inner = new MemoryEventStore()
  const store = new FaultyStore(inner)
  await store.open()
  return { inner, store }
}

test('FaultyStore: with no faults every call reaches the wrapped store, and writes are counted', async () => {
  const { inner, store } = await faulty()
  const events = [storeEvent('a', 1), storeEvent('a', 2), storeEvent('b', 1)]
  const snap = fullSnapshot(emptyState())
  await store.write(events.slice(0, 2))
  await store.write(events.slice(2), snap)
  await store.write([])
  assert.equal(store.writes, 3)
  assert.equal(store.failures, 0)
  assert.deepEqual(await collect(inner.readOrigin('a', 0)), events.slice(0, 2), 'the wrapped store has the events')
  assert.deepEqual(await collect(store.readOrigin('a', 1)), events.slice(1, 2))
  assert.deepEqual([...await store.origins()].sort(), ['a', 'b'])
  assert.deepEqual(await store.getEvent('b', 1), events[2])
  assert.deepEqual(snapshotState(await store.loadSnapshot() as StoredSnapshot), emptyState())
  assert.equal(store.inner, inner)
})

test('FaultyStore: failWrites makes every later write reject like a full disk (ENOSPC) and write nothing; reads go on; heal() lets writes through again', async () => {
  const { inner, store } = await faulty()
  await store.write([storeEvent('a', 1)])
  store.failWrites()
  for (let i = 0; i < 3; i++) {
    const err = await rejection(store.write([storeEvent('a', 2 + i), storeEvent('new', 1)], fullSnapshot(emptyState())))
    assert.equal(err.code, 'ENOSPC')
    assert.match(err.message, /no space left/i)
  }
  assert.equal(store.writes, 1)
  assert.equal(store.failures, 3)
  // Atomic: not one of the events, nor the snapshot, nor the new origin.
  assert.deepEqual((await collect(inner.readOrigin('a', 0))).map(e => e.seq), [1])
  assert.deepEqual(await store.origins(), ['a'])
  assert.equal(await store.getEvent('a', 2), undefined)
  assert.equal(await store.loadSnapshot(), undefined)
  store.heal()
  await store.write([storeEvent('a', 2)])
  assert.equal(store.writes, 2)
  assert.deepEqual((await collect(store.readOrigin('a', 0))).map(e => e.seq), [1, 2])
})

test('FaultyStore: failWrites(err) rejects with the error given', async () => {
  const { store } = await faulty()
  const mine = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
  store.failWrites(mine)
  assert.equal(await rejection(store.write([storeEvent('a', 1)])), mine)
  assert.equal(await store.getEvent('a', 1), undefined)
})

test('FaultyStore: failAfterWrites(n) lets n more writes through, then every write fails until heal()', async () => {
  const { store } = await faulty()
  await store.write([storeEvent('a', 1)])
  store.failAfterWrites(2)
  await store.write([storeEvent('a', 2)])
  await store.write([storeEvent('a', 3)])
  assert.equal((await rejection(store.write([storeEvent('a', 4)]))).code, 'ENOSPC')
  assert.equal((await rejection(store.write([]))).code, 'ENOSPC', 'an empty write fails too')
  assert.equal(store.writes, 3)
  assert.equal(store.failures, 2)
  assert.deepEqual((await collect(store.readOrigin('a', 0))).map(e => e.seq), [1, 2, 3])
  store.failAfterWrites(0)
  assert.equal((await rejection(store.write([storeEvent('a', 4)]))).code, 'ENOSPC', 'n = 0: the next write fails')
  store.heal()
  await store.write([storeEvent('a', 4)])
  assert.deepEqual((await collect(store.readOrigin('a', 3))).map(e => e.seq), [4])
})

// ---- the node on a full disk ----

const spec = (name: string): JoblistSpec => {
  const r = validateJoblist({ name, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
  assert.ok(r.ok, JSON.stringify(r))
  return r.spec
}

const nodeConfig = (dir: string): ReturnType<typeof defaultConfig> => ({ ...defaultConfig(), data: dir, name: 't', mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] })

/** Resolves with what `p` gives, or with 'timeout' after `ms`. */
async function within<T> (p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<'timeout'>(resolve => { timer = setTimeout(() => resolve('timeout'), ms) })
  try { return await Promise.race([p, t]) } finally { clearTimeout(timer) }
}

/** True if something accepts TCP connections on 127.0.0.1:port. */
async function listening (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

const tcpPort = (node: CisNode): number => Number(/\/tcp\/(\d+)/.exec(node.mesh?.addresses()[0] ?? '')?.[1])

test('D-3: a full disk (a store whose writes fail) stops the node cleanly; after space is freed it resumes from what is on disk, losing nothing it accepted', { timeout: 60_000 }, async () => {
  const dir = tempDir()
  const disk = new MemoryEventStore()
  const store = new FaultyStore(disk)
  const fatal: Error[] = []
  const first = new CisNode({ config: nodeConfig(dir), log: pino({ level: 'silent' }), store, onFatal: err => { fatal.push(err) } })
  let second: CisNode | undefined
  try {
    await first.start()
    await first.announce('http://127.0.0.1:0')
    const { request, id } = await first.submit(spec('a'), 'tester', 10_000)
    assert.ok(id !== null, 'the single node, its own master, accepts the joblist')
    await waitFor('the joblist to end', () => first.state.joblists[id]?.state === 'succeeded')
    await first.flush()
    const durable = first.state.applied[first.id]
    assert.equal(disk.byOrigin.get(first.id)?.length, durable, 'everything the node made is on disk')

    store.failWrites()
    const err = await rejection(first.requestStop('x'))
    assert.match(err.message, /store|disk/i)
    assert.equal(fatal.length, 1, 'onFatal is called once')
    assert.match(fatal[0].message, /cannot write to the store/)
    assert.match(fatal[0].message, /disk full/)
    assert.match(fatal[0].message, /ENOSPC/, 'it says what the store said')
    // A second request is refused too, and does not call onFatal again.
    await rejection(first.append('stop', { joblistId: 'y' }))
    assert.equal(fatal.length, 1, 'onFatal is called once, not per failed write')
    assert.equal(disk.byOrigin.get(first.id)?.length, durable, 'nothing of the failed writes is on disk')

    const stopped = await within(first.stop().then(() => 'stopped' as const, (e: Error) => e), 15_000)
    assert.equal(stopped, 'stopped', 'stop() after the fatal error returns without error')

    // Space is freed: a new node on the same disk and data directory.
    store.heal()
    second = new CisNode({ config: nodeConfig(dir), log: pino({ level: 'silent' }), store: new FaultyStore(disk), onFatal: err => { fatal.push(err) } })
    await second.start()
    assert.equal(second.id, first.id, 'the same node (same data directory)')
    assert.ok(second.state.requests[request] !== undefined, 'the accepted submit request is there')
    assert.equal(second.state.requests[request].joblistId, id)
    assert.equal(second.state.joblists[id]?.state, 'succeeded', 'the joblist and its outcome are there')
    assert.equal(second.state.applied[first.id], durable, 'every durable event was read back, and none of the refused ones')
    const stops = Object.values(second.state.stops).map(s => s.joblistId)
    assert.ok(!stops.includes('x') && !stops.includes('y'), `the refused requests are not there (stops: ${JSON.stringify(stops)})`)
    // It goes on: a new request is accepted and durable.
    await second.announce('http://127.0.0.1:0')
    const next = await second.submit(spec('b'), 'tester', 10_000)
    assert.ok(next.id !== null, 'the restarted node accepts new joblists')
    assert.equal(fatal.length, 1, 'no fatal error after the restart')
    await second.flush()
    assert.ok(disk.byOrigin.get(first.id)?.some(e => e.type === 'submit' && e.seq > durable), 'the new request is on disk')
    const port = tcpPort(second)
    assert.equal(await listening(port), true)
    assert.equal(await within(second.stop(), 15_000), undefined, 'the restarted node stops')
    assert.equal(await listening(port), false, 'a stopped node no longer listens')
  } finally {
    await within(first.stop(), 15_000)
    if (second !== undefined) await within(second.stop(), 15_000)
    cleanup(dir)
  }
})

test('D-3: after a fatal store error, stop() still ends the node (its p2p port closes)', {
  timeout: 60_000
}, async () => {
  const dir = tempDir()
  const store = new FaultyStore(new MemoryEventStore())
  let fatal = 0
  const node = new CisNode({ config: nodeConfig(dir), log: pino({ level: 'silent' }), store, onFatal: () => { fatal++ } })
  try {
    await node.start()
    await node.announce('http://127.0.0.1:0')
    // (Once its master claim is written: see the next test for a failure that catches that.)
    await waitFor('the node to claim master', () => node.state.terms[node.id] !== undefined)
    await node.flush()
    const port = tcpPort(node)
    assert.equal(await listening(port), true, 'the node listens')
    store.failWrites()
    await rejection(node.requestStop('x'))
    assert.equal(fatal, 1)
    assert.notEqual(await within(node.stop(), 15_000), 'timeout', 'stop() returns')
    assert.equal(await listening(port), false, 'after stop() the node no longer listens for peers')
  } finally {
    await within(node.stop(), 15_000)
    cleanup(dir)
  }
})

test('D-3: a full disk just as the node claims master gives its requests an error, without an unhandled rejection', {
  timeout: 60_000
}, async () => {
  const dir = tempDir()
  const store = new FaultyStore(new MemoryEventStore())
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  let fatal = 0
  const node = new CisNode({ config: nodeConfig(dir), log: pino({ level: 'silent' }), store, onFatal: () => { fatal++ } })
  try {
    await node.start()
    await node.announce('http://127.0.0.1:0') // queues the scheduler, which claims master
    store.failWrites()
    const err = await rejection(node.requestStop('x'))
    assert.match(err.message, /cannot write to the store/)
    assert.equal(fatal, 1)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(node.state.terms[node.id], 1, 'the master claim was made (and its write failed with the request)')
    assert.deepEqual(unhandled.map(e => (e as Error).message), [], 'no unhandled rejection')
  } finally {
    process.off('unhandledRejection', onUnhandled)
    await within(node.stop(), 15_000)
    cleanup(dir)
  }
})
