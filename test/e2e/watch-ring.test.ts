// Issue 12 (R1-1, R1-3, R1-6): the watch ring of a large cluster, with real agents over real
// libp2p. Five agents told to use it above 3 nodes (`--watch-ring-above 3`; the default is
// 16, and 17 agents are more than `npm test` should start): a frozen agent (SIGSTOP: its
// connections stay open, it only falls silent) is held down by its watchers and alive again
// when it wakes; a partition 3|2 runs work on both sides and merges back; a SIGKILLed master
// is replaced and, restarted, is alive everywhere and master again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { heal, partition, startCluster, waitForMaster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import { api, membershipCount, waitFinal } from '../helpers/agent.js'

test('R1-1, R1-3, R1-6 issue 12: the watch ring with real agents: a frozen node is held down and comes back, a partition heals, a killed master is replaced and returns', { timeout: 300_000 }, async () => {
  const c = await startCluster([
    { name: 'w1', priority: 50 }, { name: 'w2', priority: 40 }, { name: 'w3', priority: 30 }, { name: 'w4', priority: 20 }, { name: 'w5', priority: 10 }
  ], ['--watch-ring-above', '3', '--log-level', 'info'])
  const [w1, w2, w3, w4, w5] = c.agents
  let frozen: number | undefined
  try {
    await waitForMaster(c.agents, 'w1')
    for (const a of c.agents) assert.match(a.output(), /membership: the watch ring \(more than 3 nodes\)/, 'every agent uses the watch ring')
    // P-5: the ring's messages are counted by kind: beats to and from watchers, watch requests.
    const counted = async (a: typeof w1, direction: 'sent' | 'received', kind: string): Promise<number> => await membershipCount(a.url, direction, kind)
    for (const a of [w1, w3]) {
      assert.ok(await counted(a, 'received', 'beats') > 0, `${a.name} counted the beats it received`)
      assert.ok(await counted(a, 'sent', 'beats') > 0, `${a.name} counted the beats it sent`)
    }
    assert.ok((await Promise.all(c.agents.map(async a => await counted(a, 'sent', 'watch')))).some(n => n > 0), 'a watch request counted')

    // Frozen: no connection closes; only its watchers' probes can tell.
    frozen = w5.proc.pid as number
    process.kill(frozen, 'SIGSTOP')
    await waitForMembers([w1, w2, w3, w4], 4)
    process.kill(frozen, 'SIGCONT')
    frozen = undefined
    await waitForMembers(c.agents, 5)
    assert.ok([w1, w2, w3, w4].some(a => /a watched node did not answer: holding it down/.test(a.output())), 'a watcher held it down')

    await partition([[w1, w2, w3], [w4, w5]])
    await waitForMembers([w1, w2, w3], 3)
    await waitForMembers([w4, w5], 2)
    await waitForMaster([w4, w5], 'w4')
    const job = (name: string): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'a', run: 'true' }] }] })
    const ids: string[] = []
    for (const [a, name] of [[w2, 'big-side'], [w5, 'small-side']] as const) {
      const r = await api(a.url, '/v1/joblists', { body: job(name) })
      assert.equal(r.status, 201, `${name} accepted on its own side`)
      ids.push(r.body.id as string)
      assert.equal((await waitFinal(a.url, r.body.id)).state, 'succeeded', `${name} ran on its own side`)
    }
    await heal(c.agents)
    await waitForMembers(c.agents, 5)
    await waitForMaster(c.agents, 'w1')
    await waitSameHash(c.agents)
    for (const a of c.agents) {
      const list = (await api(a.url, '/v1/joblists')).body.joblists as Array<{ id: string }>
      assert.deepEqual(list.map(j => j.id).sort(), [...ids].sort(), 'every joblist exactly once on every agent')
    }

    await w1.kill()
    await waitForMembers([w2, w3, w4, w5], 4)
    await waitForMaster([w2, w3, w4, w5], 'w2')
    const again = await w1.restart()
    await waitForMembers(c.alive(), 5)
    await waitForMaster(c.alive(), 'w1')
    assert.equal(c.alive().includes(again), true)
  } finally {
    if (frozen !== undefined) process.kill(frozen, 'SIGCONT')
    await c.stopAll()
  }
})
