// A short chaos run in `npm test` (the long one is `npm run chaos`).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chaos } from '../../chaos/chaos.js'

test('R1-1/R1-3/R1-6/D-3/S-1/D-2 chaos (short): kills, restarts and partitions lose nothing and break no invariant', async () => {
  const r = await chaos(20261124, 20, 4)
  process.stderr.write(`chaos result: ${JSON.stringify(r)}\n`)
  assert.ok(r.joblists > 10, 'work was submitted')
  assert.ok(r.kills + r.partitions > 0, 'there was chaos')
  assert.equal(r.lost, 0, 'every accepted joblist ended, each with one ID')
  assert.equal(r.brokenRecords, 0, 'every joblist has the records of its jobs')
  assert.equal(r.stageViolations, 0, 'no stage started before the previous one ended')
  assert.equal(r.doubleHeld, 0, 'no instance held by two running jobs on one node')
  assert.equal(r.hashesEqual, true, 'every node has the same state hash')
  assert.ok(r.scheduleRuns > 0, 'the schedules ran')
  assert.equal(r.scheduleViolations, 0, 'S-1: no instant run twice while connected or by one node; every instant run or skipped')
  assert.equal(r.webhooksMissing, 0, `D-2: every status change asked for was delivered at least once (${r.webhooksDue} due, ${r.webhookDuplicates} duplicates)`)
})

test('G-6 chaos with retention (short): kills, restarts and partitions while ended joblists are purged by store.purgeAfter; each one missing was purged after its end was told, nothing open purged, the same state everywhere', async () => {
  const r = await chaos(20261206, 20, 4, { purgeAfter: '6s', archiveAfter: '1s' })
  process.stderr.write(`chaos result (purgeAfter 6s): ${JSON.stringify(r)}\n`)
  assert.ok(r.kills + r.partitions > 0, 'there was chaos')
  assert.ok((r.purged ?? 0) > 0, 'retention purged ended joblists during the run')
  assert.equal(r.purgedOpen, 0, 'no joblist purged before its end was told')
  assert.equal(r.lost, 0, 'every accepted joblist ended, or was purged after it ended; each with one ID')
  assert.equal(r.brokenRecords, 0, 'every joblist has the records of its jobs')
  assert.equal(r.stageViolations, 0)
  assert.equal(r.doubleHeld, 0)
  assert.equal(r.hashesEqual, true, 'every node has the same state hash')
  assert.equal(r.scheduleViolations, 0, 'S-1 on the instants whose runs could not have been purged')
  assert.equal(r.webhooksMissing, 0)
})

test('D-3 restart storm (short): kill -9 / restart cycles leave the store readable and the state equal to the peers\'', async () => {
  const { restartStorm } = await import('../../chaos/restarts.js')
  const r = await restartStorm(8)
  assert.equal(r.cycles, 8)
  assert.ok(r.joblists >= 7)
  assert.equal(r.allEnded, true, 'every joblist ended')
  assert.equal(r.hashesEqual, true, 'the restarted node has the same state as its peers')
})
