// R1-6: a partitioned cluster keeps working on both sides and merges back, losing nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { heal, partition, startCluster, waitForMaster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import { api, waitFinal } from '../helpers/agent.js'

test('R1-6: partition 3|2, both sides accept and run work, heal: same hash everywhere, nothing lost, no duplicate IDs', async () => {
  const c = await startCluster([
    { name: 'p1', priority: 50 }, { name: 'p2', priority: 40 }, { name: 'p3', priority: 30 }, { name: 'p4', priority: 20 }, { name: 'p5', priority: 10 }
  ])
  try {
    const [p1, p2, p3, p4, p5] = c.agents
    await waitForMaster(c.agents, 'p1')
    await partition([[p1, p2, p3], [p4, p5]])
    await waitForMembers([p1, p2, p3], 3)
    await waitForMembers([p4, p5], 2)
    await waitForMaster([p4, p5], 'p4')
    const job = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'a', run: 'true' }, { name: 'b', run: 'true' }] }, { name: 't', jobs: [{ name: 'c', run: 'true' }] }] })
    const ids: string[] = []
    for (const [a, name] of [[p2, 'big-side-1'], [p3, 'big-side-2'], [p5, 'small-side-1'], [p4, 'small-side-2'], [p5, 'small-side-3']] as const) {
      const r = await api(a.url, '/v1/joblists', { body: job(name) })
      assert.equal(r.status, 201, `${name} accepted on its own side`)
      ids.push(r.body.id as string)
      assert.equal((await waitFinal(a.url, r.body.id)).state, 'succeeded', `${name} ran on its own side`)
    }
    assert.equal(new Set(ids).size, ids.length, 'no two sides handed out the same ID')
    await heal(c.agents)
    await waitForMembers(c.agents, 5)
    await waitForMaster(c.agents, 'p1')
    await waitSameHash(c.agents)
    for (const a of c.agents) {
      const list = (await api(a.url, '/v1/joblists')).body.joblists as Array<{ id: string, name: string, state: string }>
      assert.deepEqual(list.map(j => j.id).sort(), [...ids].sort(), `${a.name} has every joblist exactly once`)
      assert.ok(list.every(j => j.state === 'succeeded'))
    }
  } finally {
    await c.stopAll()
  }
})
