// D-3 / R1-3: a node of a cluster stopped gracefully (SIGTERM, as the README says) and started
// again. Its running job ends as lost and runs again once it is back, and nothing else
// happens: no work is placed on it while it stops (it tells its peers it is leaving), it does
// not take the master's office on the way back before it has heard the cluster (it would decide
// on what it knew then), and it does not run an attempt it was assigned before it went that the
// master has since declared lost. A fresh node joining a running cluster does not take the
// office either. (Found by an operator's walkthrough: one restart failed a joblist, through
// three phantom lost attempts, then ran the attempt declared lost and turned it succeeded.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { api, startAgent, tempDir, waitFor } from '../helpers/agent.js'
import { BASE, startCluster, waitForMembers } from '../helpers/cluster.js'

const TOOK_OFFICE = /this node is now the master/

test('D-3/R1-3: a node stopped gracefully and started again: its job is lost once and runs again there; no work placed on it while it stops, no office taken before it hears the cluster, no attempt run that was declared lost; a joining node takes no office either', async () => {
  const c = await startCluster([{ name: 'A', priority: 10 }, { name: 'B', priority: 5 }, { name: 'C', priority: 1 }], [], { fast: false })
  try {
    const A = c.byName('A')
    // Pinned to B; its first attempt runs until it is stopped, a later one ends at once.
    const spec = { name: 'pinned', stages: [{ name: 's', jobs: [{ name: 'sleeper', run: '[ "$CIS_ATTEMPT" -ge 2 ] || sleep 60', target: { node: 'B' } }] }] }
    const r = await api(A.url, '/v1/joblists', { body: spec })
    assert.equal(r.status, 201)
    const id = r.body.id as string
    await waitFor('the job to run on B', async () => {
      const v = (await api(A.url, `/v1/joblists/${id}`)).body
      return v.stages[0].jobs[0].state === 'running' ? v : undefined
    })
    await c.byName('B').stop()
    const B = await c.byName('B').restart()
    const v = await waitFor('the joblist to end', async () => {
      const x = (await api(A.url, `/v1/joblists/${id}`)).body
      return x.state === 'succeeded' || x.state === 'failed' ? x : undefined
    }, 30_000)
    // (A job with a target runs as one physical job per node it names: B's.)
    const attempts = (v.stages[0].jobs[0].physical[0].attempts as Array<{ n: number, node: string, state: string, reason?: string }>)
    const told = attempts.map(a => `${a.n} ${a.state} ${a.reason ?? ''}`).join('; ')
    assert.equal(v.state, 'succeeded', `the joblist succeeded (${told})`)
    assert.deepEqual(attempts.map(a => a.state), ['lost', 'succeeded'], `one attempt lost (the stop), one that ran after the restart: ${told}`)
    assert.match(attempts[0].reason ?? '', /shut down/, 'the first ended by the stop, as B told it')
    assert.doesNotMatch(B.output(), TOOK_OFFICE, 'the restarted B did not take the office (A, of higher priority, is master)')

    // A fresh node joining the running cluster: it hears the master before it would stand.
    const D = await startAgent({ name: 'D', dataDir: tempDir('cis-node-'), args: [...BASE, '--swarm-key', c.keyFile, '--priority', '0', '--peer', A.p2p[0]] })
    try {
      await waitForMembers([D], 4)
      await waitFor('D to name A master', async () => ((await api(D.url, '/v1/nodes')).body.nodes as Array<{ name: string, master: boolean }>).find(n => n.master)?.name === 'A')
      assert.doesNotMatch(D.output(), TOOK_OFFICE, 'the joining D did not take the office')
    } finally {
      await D.stop()
    }
  } finally {
    await c.stopAll()
  }
})
