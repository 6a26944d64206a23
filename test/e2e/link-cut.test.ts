// R1-1, R1-3 (issue 12): one bad link is no death. Three real agents in a full mesh; the link
// between the master (l1) and the next in line (l2) goes mute: nothing passes either way, the
// connection stays open (the test gate's `mute`), while both still reach l3. Without indirect
// probes l2 held l1 down after the timeout and took the office in its own view. With them, l2
// asks l3 how long ago it heard l1, holds l1 alive as of then, and every agent keeps l1 as
// master and alive for the whole window (several timeouts). After the link mends, work still
// runs and the agents agree.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api, sleep, waitFinal } from '../helpers/agent.js'
import { startCluster, waitForMaster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import type { ClusterAgent } from '../helpers/cluster.js'

const mute = async (a: ClusterAgent, peers: ClusterAgent[]): Promise<void> => {
  const r = await api(a.url, '/v1/debug/partition', { body: { block: peers.map(p => p.id), mute: true } })
  assert.equal(r.status, 200, `mute on ${a.name}`)
}

interface Seen { master: string, l1Alive: boolean }

async function views (agents: ClusterAgent[]): Promise<Seen[]> {
  return await Promise.all(agents.map(async a => {
    const nodes = (await api(a.url, '/v1/nodes')).body.nodes as Array<{ name: string, master: boolean, alive: boolean }>
    return { master: nodes.find(n => n.master)?.name ?? '', l1Alive: nodes.find(n => n.name === 'l1')?.alive === true }
  }))
}

test('R1-1, R1-3: a mute link between the master and the next in line (a full mesh of 3 real agents): the third vouches for the master, no agent holds it down or follows another', { timeout: 120_000 }, async () => {
  // A timeout of 2 s (interval 100 ms): a slow machine's stalls do not look like silence.
  const c = await startCluster([{ name: 'l1', priority: 30 }, { name: 'l2', priority: 20 }, { name: 'l3', priority: 10 }], ['--heartbeat-timeout', '2s', '--log-level', 'info'])
  try {
    const [l1, l2, l3] = c.agents
    await waitForMembers(c.agents, 3)
    await waitForMaster(c.agents, 'l1')
    await mute(l1, [l2])
    await mute(l2, [l1])
    // Watch for three timeouts: every agent sees l1 alive and master throughout.
    const bad: string[] = []
    const end = Date.now() + 6000
    for (let i = 0; i < 200 && Date.now() < end; i++) {
      const seen = await views(c.agents)
      seen.forEach((s, k) => { if (s.master !== 'l1' || !s.l1Alive) bad.push(`${c.agents[k].name}: master ${s.master || 'none'}, l1 ${s.l1Alive ? 'alive' : 'not alive'}`) })
      await sleep(100)
    }
    // The link was mute indeed: l2 asked l3 about l1 (its log says who it asked about).
    assert.deepEqual(bad, [], 'l1 held alive and master everywhere')
    assert.match(l2.output(), /asked about a silent peer/, 'l2 asked others about l1 (the mute link held)')
    // Mended: one cluster, work runs, the same state everywhere.
    await mute(l1, [])
    await mute(l2, [])
    const r = await api(l3.url, '/v1/joblists', { body: { name: 'after', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
    assert.equal(r.status, 201)
    assert.equal((await waitFinal(l3.url, r.body.id)).state, 'succeeded')
    await waitSameHash(c.agents)
  } finally {
    await c.stopAll()
  }
})
