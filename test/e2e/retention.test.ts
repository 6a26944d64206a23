// G-6 retention on real agents (`store.purgeAfter`): ended joblists leave every node on their
// own that long after their end, also those archived out of memory; only the master purges
// (the other node's stats show no purge of its own); open work stays; a schedule's old runs go
// with their joblists and it keeps running without launching a purged instant again; the
// state hashes stay equal; a joblist that still owes a notification (its webhook failing)
// waits while those that ended after it go.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Cluster } from '../helpers/cluster.js'
import { startCluster, waitForMaster, waitSameHash } from '../helpers/cluster.js'
import { api, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

let c: Cluster
/** A webhook receiver that always fails: what it was asked, by path. */
let hooks: Server
const hookHits: string[] = []
let hookBase = ''
/** The config's directory (the agents' own are removed by stopAll). */
let dir = ''

before(async () => {
  hooks = createServer((req, res) => { hookHits.push(req.url ?? ''); req.resume(); res.statusCode = 500; res.end() })
  await new Promise<void>(resolve => hooks.listen(0, '127.0.0.1', resolve))
  hookBase = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`
  dir = tempDir('cis-retention-')
  const config = join(dir, 'retention.yaml')
  // Purged 2 s after the end (checked every second); archived out of memory after 200 ms first.
  writeFileSync(config, 'store:\n  archiveAfter: 200ms\n  purgeAfter: 2s\nnotify:\n  secret: a retention test secret\n  allowHosts: [127.0.0.1]\n')
  // A heartbeat timeout of 5 s, not the tests' 600 ms: on a loaded machine a stall of the
  // master's loop would otherwise hand the office to ret-b for a moment, and ret-b would purge
  // as master (what the first test checks it never does). Info logs: who was master, when.
  c = await startCluster([{ name: 'ret-a', priority: 2 }, { name: 'ret-b', priority: 1 }], ['--resource', 'slot=2', '--config', config, '--heartbeat-timeout', '5s', '--log-level', 'info'])
  await waitForMaster(c.agents, 'ret-a')
})
after(async () => {
  await c.stopAll()
  hooks.closeAllConnections()
  await new Promise<void>(resolve => hooks.close(() => resolve()))
  rmSync(dir, { recursive: true, force: true })
})

const one = (name: string, run: string): Record<string, unknown> => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] })

test('G-6: with store.purgeAfter the master purges ended joblists from every node on its own; open work, and a schedule\'s newer runs, stay', { timeout: 180_000 }, async () => {
  const [a, b] = c.agents
  const open = await api(a.url, '/v1/joblists', { body: one('open', 'sleep 60') })
  assert.equal(open.status, 201, JSON.stringify(open.body))
  const done = await api(b.url, '/v1/joblists', { body: one('done', 'true') })
  assert.equal(done.status, 201, JSON.stringify(done.body))
  const doneId = done.body.id as string
  await waitFinal(a.url, doneId)
  // A schedule every second: its early runs are purged while it keeps running.
  const sched = await api(a.url, '/v1/joblists', { body: { name: 'tick', schedule: { cron: '* * * * * *' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
  assert.equal(sched.status, 201, JSON.stringify(sched.body))
  const first = await waitFor('a first run of tick that ended', async () => {
    const runs = (await api(a.url, '/v1/schedules/tick')).body.runs as Array<{ id: string | null, instant: string, endedAt: string | null }> | undefined
    const ended = runs?.filter(r => r.id !== null && r.endedAt !== null) ?? []
    return ended.length > 0 ? ended[ended.length - 1] : undefined
  }, 30_000, 100)

  // The ended joblist leaves both nodes (it was archived out of memory first).
  for (const agent of [a, b]) {
    await waitFor(`${doneId} purged on ${agent.name}`, async () => (await api(agent.url, `/v1/joblists/${doneId}`)).status === 404, 60_000, 200)
  }
  // The schedule's first run goes too, and the schedule has runs after it, each instant once.
  const after = await waitFor('tick\'s first run purged, newer runs listed', async () => {
    const gone = (await api(a.url, `/v1/joblists/${first.id as string}`)).status === 404
    const v = (await api(a.url, '/v1/schedules/tick?limit=1000')).body as { runs: Array<{ id: string | null, instant: string, endedAt: string | null }>, runCount: number }
    return gone && v.runs.some(r => r.instant > first.instant) && !v.runs.some(r => r.id === first.id) ? v : undefined
  }, 60_000, 200)
  const instants = after.runs.map(r => r.instant)
  assert.equal(new Set(instants).size, instants.length, 'no instant launched twice (a purged one is not due again)')
  assert.ok(instants.every(i => i > first.instant), `the runs left are all newer than the purged one: ${instants.join(', ')}`)
  assert.equal(after.runCount, after.runs.length)

  // Open work stays; only the master purged.
  for (const agent of [a, b]) assert.equal((await api(agent.url, `/v1/joblists/${open.body.id as string}`)).status, 200)
  const statsA = (await api(a.url, '/v1/stats')).body.retention as { afterMs: number, last: { joblists: number, before: string | number } | null, error: string | null }
  const statsB = (await api(b.url, '/v1/stats')).body.retention as { afterMs: number, last: unknown, error: string | null }
  assert.equal(statsA.afterMs, 2000)
  assert.ok(statsA.last !== null && statsA.last.joblists >= 1, JSON.stringify(statsA))
  assert.equal(statsA.error, null)
  assert.equal(statsB.afterMs, 2000)
  // (Had ret-b held the office for a moment after all, it may have purged as master then.)
  const bMastered = /this node is now the master/.test(b.output())
  assert.ok(statsB.last === null || bMastered, `the node that is not the master never purged: ${JSON.stringify(statsB)}`)

  assert.equal((await api(a.url, '/v1/schedules/tick', { method: 'DELETE' })).status, 202)
  await waitSameHash(c.agents, 60_000)
})

test('G-6: retention leaves a joblist that still owes a notification (its webhook failing) while those that ended after it go', { timeout: 180_000 }, async () => {
  const [a, b] = c.agents
  const owed = await api(a.url, '/v1/joblists', { body: { ...one('owed', 'true'), notify: [{ webhook: `${hookBase}/fail`, on: ['succeeded'] }] } })
  assert.equal(owed.status, 201, JSON.stringify(owed.body))
  const owedId = owed.body.id as string
  await waitFinal(a.url, owedId)
  await waitFor('the webhook to be tried (and fail)', () => hookHits.includes('/fail') ? true : undefined, 30_000, 100)
  const later = await api(b.url, '/v1/joblists', { body: one('later', 'true') })
  assert.equal(later.status, 201, JSON.stringify(later.body))
  const laterId = later.body.id as string
  await waitFinal(b.url, laterId)
  // The joblist that ended after it is purged from both nodes...
  for (const agent of [a, b]) {
    await waitFor(`${laterId} purged on ${agent.name}`, async () => (await api(agent.url, `/v1/joblists/${laterId}`)).status === 404, 60_000, 200)
  }
  // ...and the one that owes its notification is still there, on both, its delivery not given up.
  for (const agent of [a, b]) {
    const v = await api(agent.url, `/v1/joblists/${owedId}`)
    assert.equal(v.status, 200, `${owedId} on ${agent.name}: ${JSON.stringify(v.body)}`)
    assert.equal(v.body.state, 'succeeded')
  }
  const n = (await api(a.url, `/v1/notifications?joblist=${owedId}`)).body.notifications as Array<{ delivered: boolean, gaveUp: boolean }>
  assert.equal(n.length, 1, JSON.stringify(n))
  assert.equal(n[0].delivered, false)
  assert.equal(n[0].gaveUp, false)
  await waitSameHash(c.agents, 60_000)
})
