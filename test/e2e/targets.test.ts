// S-1..S-4 on real agents: jobs for one node, all nodes, a profile; logical jobs.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Cluster } from '../helpers/cluster.js'
import { startCluster, waitForMaster } from '../helpers/cluster.js'
import { api, waitFinal } from '../helpers/agent.js'

let c: Cluster
before(async () => {
  c = await startCluster([
    { name: 'alpha', priority: 3, args: ['--profile', 'linux', '--profile', 'gpu-box'] },
    { name: 'beta', priority: 2, args: ['--profile', 'linux'] },
    { name: 'gamma', priority: 1, args: ['--profile', 'windows'] }
  ])
  await waitForMaster(c.agents, 'alpha')
})
after(async () => { await c.stopAll() })

async function runOn (target: unknown, run = 'echo "ran on $CIS_NODE"'): Promise<any> {
  const r = await api(c.agents[2].url, '/v1/joblists', { body: { name: 'targeted', stages: [{ name: 's', jobs: [{ name: 'x', run, target }] }] } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return await waitFinal(c.agents[2].url, r.body.id)
}

test('S-2/S-4: a job for all nodes runs once on every node; the logical job succeeds when all do', async () => {
  const jl = await runOn({ all: true })
  assert.equal(jl.state, 'succeeded')
  const logical = jl.stages[0].jobs[0]
  assert.equal(logical.state, 'succeeded')
  assert.deepEqual(logical.physical.map((p: any) => p.node).sort(), ['alpha', 'beta', 'gamma'])
  for (const p of logical.physical) {
    const logs = await api(c.agents[0].url, `/v1/jobs/${encodeURIComponent(p.id)}/logs`)
    assert.equal(logs.body.stdout, `ran on ${p.node as string}\n`, 'each physical job has its own logs')
  }
})

test('S-3: a job for a profile runs on exactly the nodes that advertise it', async () => {
  const jl = await runOn({ profile: 'linux' })
  assert.deepEqual(jl.stages[0].jobs[0].physical.map((p: any) => p.node).sort(), ['alpha', 'beta'])
})

test('S-1: a job for one named node runs only there', async () => {
  const jl = await runOn({ node: 'gamma' })
  assert.deepEqual(jl.stages[0].jobs[0].physical.map((p: any) => p.node), ['gamma'])
  assert.equal(jl.stages[0].jobs[0].physical[0].attempts[0].node, 'gamma')
})

test('S-4: if one physical job fails, the logical job and the joblist fail; the others still ran', async () => {
  const jl = await runOn({ all: true }, '[ "$CIS_NODE" != beta ]')
  assert.equal(jl.state, 'failed')
  const states = Object.fromEntries(jl.stages[0].jobs[0].physical.map((p: any) => [p.node, p.state]))
  assert.deepEqual(states, { alpha: 'succeeded', beta: 'failed', gamma: 'succeeded' })
})

test('S-1: a target that matches no node is refused at submit with a clear message', async () => {
  const r = await api(c.agents[0].url, '/v1/joblists', { body: { name: 'nowhere', stages: [{ name: 's', jobs: [{ name: 'x', run: 'true', target: { node: 'delta' } }] }] } })
  assert.equal(r.status, 422)
  assert.match(r.body.details[0].message, /no node is named delta/)
})
