// D-3: what the node's log does when a write batch cannot be made or written: the batch's
// appends are refused, the node is stopped (onFatal) with a message that says whose fault it
// is: the disk's for the store's write, a defect of cis for a snapshot that cannot be made
// (before Dec 6 that snapshot was computed outside the write's try: an unhandled rejection).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { memoryEventLog } from '../helpers/event-log.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'

test('D-3: a snapshot that cannot be made fails its batch and stops the node, said as a defect of cis, not of the disk', async () => {
  let fatal: Error | undefined
  const { events } = await memoryEventLog({ snapshotEvery: 1, onFatal: e => { fatal = e } })
  // (A value JSON cannot hold, in a part every snapshot writes: the snapshot throws.)
  ;(events.state as unknown as Record<string, unknown>).acceptCount = { x: 1n }
  await assert.rejects(events.append('stop', { joblistId: 'ab12-1', request: 'r1', term: 1 } as never), /a defect of cis, not of the disk/)
  assert.match(fatal?.message ?? '', /cannot write to the store in memory: .*a defect of cis/)
})

test('D-3: a store write that fails (a full disk) fails its batch and stops the node, said as the disk\'s', async () => {
  let fatal: Error | undefined
  const store = new MemoryEventStore()
  store.write = async () => { throw new Error('ENOSPC: no space left on device') }
  const { events } = await memoryEventLog({ store, onFatal: e => { fatal = e } })
  await assert.rejects(events.append('stop', { joblistId: 'ab12-1', request: 'r1', term: 1 } as never), /ENOSPC.*is the disk full\?/)
  assert.match(fatal?.message ?? '', /is the disk full\?/)
})
