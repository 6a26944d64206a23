// Issue 12 / D-3: the node's log with a journal of own events (store.journal, own-journal.ts).
// An own event is signed, journaled and published in the turn it was appended, its append
// resolved, before LevelDB's write (which comes with peers' events later, one write for all);
// in LevelDB it is as it was sent. A journal that cannot be written fails the append and stops
// the node, said as the disk's.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { CisEvent } from '../../src/events/types.js'
import { verifyEvent } from '../../src/identity/keys.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { SnapshotWrite } from '../../src/store/event-store.js'
import { memoryEventLog } from '../helpers/event-log.js'

/** A store in memory with a journal, whose writes wait until `release()`. */
class HeldStore extends MemoryEventStore {
  journaled: CisEvent[][] = []
  writes: CisEvent[][] = []
  private gate: Promise<void> = new Promise(() => {})
  private open_: () => void = () => {}
  failJournal: Error | undefined
  constructor () {
    super()
    this.gate = new Promise(resolve => { this.open_ = resolve })
  }

  journal = {
    append: (events: readonly CisEvent[]): void => {
      if (this.failJournal !== undefined) throw this.failJournal
      this.journaled.push(events.map(e => ({ ...e })))
    }
  }

  release (): void { this.open_() }

  override async write (events: CisEvent[], snapshot?: SnapshotWrite): Promise<void> {
    await this.gate
    this.writes.push(events.map(e => ({ ...e })))
    await super.write(events, snapshot)
  }
}

test('issue 12 / D-3: with a journal, an own event is journaled, published and its append resolved before LevelDB\'s write; it is written after, as sent', async () => {
  const store = new HeldStore()
  const { events, published } = await memoryEventLog({ store, writeDelayMs: 10_000 })
  const a = events.append('stop', { joblistId: 'ab12-1', request: 'r1', term: 1 } as never)
  const b = events.append('stop', { joblistId: 'ab12-2', request: 'r2', term: 1 } as never)
  const [ea, eb] = await Promise.all([a, b])
  assert.equal(store.writes.length, 0, 'no LevelDB write yet (held, and the peers\' delay is 10 s)')
  assert.deepEqual(store.journaled.map(batch => batch.map(e => e.seq)), [[1, 2]], 'one journal line for the turn\'s two events')
  assert.deepEqual(published.map(batch => batch.map(e => e.seq)), [[1, 2]])
  assert.ok(verifyEvent(ea) && verifyEvent(eb), 'signed before they were journaled and sent')
  assert.deepEqual(store.journaled[0], published[0].map(e => ({ ...e })), 'what was journaled is what was sent')

  // A peer's pull meanwhile gets them from memory (unstored), waiting for their write and in it.
  assert.deepEqual(events.unstored(ea.origin, 0).map(e => e.seq), [1, 2])
  assert.deepEqual(events.unstored(ea.origin, 1).map(e => e.seq), [2])
  // flush() (a backup, a stop) ends the wait: the write holds them, as they were sent.
  const flushed = events.flush()
  await new Promise(resolve => setImmediate(resolve))
  assert.deepEqual(events.unstored(ea.origin, 0).map(e => e.seq), [1, 2], 'being written: still served from memory')
  store.release()
  await flushed
  assert.deepEqual(events.unstored(ea.origin, 0), [], 'in the store: served from there')
  assert.deepEqual(store.writes.flat().map(e => e.sig), published[0].map(e => e.sig))
  assert.equal(published.length, 1, 'published once, not again with the write')
  assert.equal(events.written, 2)
})

test('issue 12 / D-3: a journal that cannot be written (a full disk) fails the append and stops the node, said as the disk\'s; nothing is published', async () => {
  const store = new HeldStore()
  store.failJournal = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
  let fatal: Error | undefined
  const { events, published } = await memoryEventLog({ store, onFatal: e => { fatal = e } })
  await assert.rejects(events.append('stop', { joblistId: 'ab12-1', request: 'r1', term: 1 } as never), /ENOSPC.*is the disk full\?/)
  assert.match(fatal?.message ?? '', /is the disk full\?/)
  assert.equal(published.length, 0)
  store.release()
})

test('issue 12: without a journal (the store in memory), an own event is published only once its write completed, as before', async () => {
  const store = new HeldStore()
  ;(store as { journal?: unknown }).journal = undefined
  const { events, published } = await memoryEventLog({ store })
  let resolved = false
  const a = events.append('stop', { joblistId: 'ab12-1', request: 'r1', term: 1 } as never).then(() => { resolved = true })
  await new Promise(resolve => setTimeout(resolve, 50))
  assert.equal(resolved, false)
  assert.equal(published.length, 0, 'not sent before it is durable')
  const [self] = Object.keys(events.state.applied) // (the event is applied: its origin is this node)
  assert.equal(events.state.applied[self], 1)
  assert.deepEqual(events.unstored(self, 0), [], 'not served to a pull before it is durable either')
  store.release()
  await a
  assert.deepEqual(published.map(batch => batch.map(e => e.seq)), [[1]])
})

test('issue 12: peers\' events applied and not yet written are served to a pull from memory, in seq order', async () => {
  const store = new HeldStore()
  const { events } = await memoryEventLog({ store, writeDelayMs: 10_000 })
  const peer = (seq: number): CisEvent => ({ origin: 'peer-a', seq, ts: 1_700_000_000_000 + seq, lc: 0, type: 'stop', body: { joblistId: `jl-${seq}` }, sig: `sig-${seq}` }) as CisEvent
  events.accept([peer(1), peer(2)])
  events.accept([peer(3)])
  assert.deepEqual(events.unstored('peer-a', 1).map(e => e.sig), ['sig-2', 'sig-3'])
  assert.deepEqual(events.unstored('peer-b', 0), [])
  const flushed = events.flush()
  store.release()
  await flushed
  assert.deepEqual(events.unstored('peer-a', 0), [])
  assert.deepEqual(store.writes.flat().map(e => e.seq), [1, 2, 3])
})
