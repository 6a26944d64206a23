// A blip is not a death (R1-1, R1-6, D-3): a node silent for the heartbeat timeout is
// disconnected (the election moves on) but its running attempts are only `unknown` until
// lostAfter; a node whose agent is gone for certain loses its attempts at once; a job with
// `retryLost: false` never runs twice.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ClusterAgent, Cluster } from '../helpers/cluster.js'
import { heal, partition, startCluster, waitForMaster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import { api, sleep, waitFinal, waitFor } from '../helpers/agent.js'

let c: Cluster
let d1: ClusterAgent

before(async () => {
  // d1 is the master and has no slot: every job runs on d2 or d3.
  c = await startCluster([
    { name: 'd1', priority: 30, args: ['--resource', 'slot=0'] },
    { name: 'd2', priority: 20, args: ['--resource', 'slot=1'] },
    { name: 'd3', priority: 10, args: ['--resource', 'slot=1'] }
  ])
  d1 = c.byName('d1')
  await waitForMembers(c.agents, 3)
  await waitForMaster(c.agents, 'd1')
})
after(async () => { await c.stopAll() })

interface Job { id: string, state: string, attempts: Array<{ n: number, state: string, nodeId: string, reason: string | null, startedAt: string | null, lostInMs?: number }> }

/** The attempts that really ran (an attempt the executing node refused never started). */
const ran = (j: Job): Job['attempts'] => j.attempts.filter(a => a.startedAt !== null)

/** Submit a one-job joblist; wait until its job runs; the joblist ID, the job ID and the agent running it. */
async function runOne (name: string, job: Record<string, unknown>): Promise<{ id: string, jobId: string, runner: ClusterAgent }> {
  const r = await api(d1.url, '/v1/joblists', { body: { name, stages: [{ name: 's', jobs: [{ name: 'j', ...job }] }] } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  const id = r.body.id as string
  const jobId = `${id}.1`
  const running = await waitFor(`${name} to run`, async () => {
    const j = (await api(d1.url, `/v1/jobs/${jobId}`)).body as Job
    return j.state === 'running' ? j : undefined
  })
  const runner = c.agents.find(a => a.id === running.attempts[0].nodeId)
  assert.ok(runner !== undefined && runner !== d1)
  return { id, jobId, runner }
}

const others = (x: ClusterAgent): ClusterAgent[] => c.agents.filter(a => a !== x)

async function isolate (x: ClusterAgent): Promise<void> {
  await partition([[x], others(x)])
  await waitForMembers(others(x), 2)
}

async function reunite (): Promise<void> {
  await heal(c.agents)
  await waitForMembers(c.agents, 3)
  await waitForMaster(c.agents, 'd1')
}

test('R1-6/R1-1: a node running a job is cut off for 2 s (under lostAfter): the job is unknown meanwhile, then runs exactly once and succeeds', async () => {
  const { id, jobId, runner } = await runOne('blip', { run: 'sleep 5' })
  await isolate(runner)
  try {
    // The master's view: disconnected, so unknown, with the time left before it counts as lost.
    const seen = await waitFor('the job to show as unknown on the master', async () => {
      const j = (await api(d1.url, `/v1/jobs/${jobId}`)).body as Job
      return j.state === 'unknown' ? j : undefined
    })
    assert.equal(seen.attempts.length, 1)
    assert.equal(seen.attempts[0].state, 'unknown')
    assert.ok((seen.attempts[0].lostInMs ?? 0) > 0, 'it says how long until it counts as lost')
    await sleep(2000)
  } finally {
    await reunite()
  }
  const jl = await waitFinal(d1.url, id)
  assert.equal(jl.state, 'succeeded')
  const j = jl.stages[0].jobs[0] as Job
  assert.deepEqual(ran(j).map(a => [a.state, a.nodeId]), [['succeeded', runner.id]], 'one run, on the node that was cut off')
  assert.equal(jl.duplicates, 0)
})

test('R1-1/R1-6: cut off for longer than a short lostAfter, the job runs again elsewhere; both runs stay in the history and duplicates is 1', async () => {
  const { id, jobId, runner } = await runOne('long-cut', { run: 'sleep 4', lostAfter: '1s' })
  await isolate(runner)
  try {
    await waitFor('the job to run again on the other node', async () => {
      const j = (await api(d1.url, `/v1/jobs/${jobId}`)).body as Job
      return j.attempts.length === 2 && j.attempts[1].state === 'running'
    })
  } finally {
    await reunite()
  }
  let last: unknown
  const jl = await waitFor('both attempts to end', async () => {
    const b = (await api(d1.url, `/v1/joblists/${id}`)).body
    last = b.stages[0].jobs[0]
    return b.state === 'succeeded' && ran(b.stages[0].jobs[0] as Job).every(a => a.state === 'succeeded') ? b : undefined
  }, 30_000).catch(err => { throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`) })
  const runs = ran(jl.stages[0].jobs[0] as Job)
  assert.equal(runs.length, 2, 'it ran twice')
  assert.equal(runs[0].nodeId, runner.id)
  assert.notEqual(runs[1].nodeId, runner.id, 'the second run was elsewhere')
  assert.equal(jl.duplicates, 1, 'the run that was only thought lost is counted')
  await waitSameHash(c.agents)
})

test('R1-1/D-3: with retryLost: false, a job cut off for longer than lostAfter fails as lost and never runs a second time', async () => {
  const { id, jobId, runner } = await runOne('at-most-once', { run: 'sleep 4', lostAfter: '1s', retryLost: false })
  await isolate(runner)
  try {
    const failed = await waitFinal(d1.url, id)
    assert.equal(failed.state, 'failed')
    assert.equal(failed.stages[0].jobs[0].state, 'lost')
  } finally {
    await reunite()
  }
  // The node that was cut off reports how its run ended; the job stays lost, with one attempt.
  const j = await waitFor("the cut-off node's report to arrive", async () => {
    const b = (await api(d1.url, `/v1/jobs/${jobId}`)).body as Job
    return b.attempts[0]?.state === 'succeeded' ? b : undefined
  }, 30_000)
  assert.equal(j.state, 'lost')
  assert.equal(ran(j).length, 1, 'it never ran a second time')
  assert.equal((await api(d1.url, `/v1/joblists/${id}`)).body.state, 'failed')
  await waitSameHash(c.agents)
})

test('R1-1/D-3: when a node\'s agent is gone for certain (killed: its port refuses), its jobs are lost at once and run elsewhere, without waiting for lostAfter', async () => {
  // The default lostAfter (1 minute) is longer than this test may wait.
  const { id, jobId, runner } = await runOne('killed', { run: 'sleep 3' })
  await runner.kill()
  const jl = await waitFinal(d1.url, id, 40_000)
  assert.equal(jl.state, 'succeeded')
  const j = jl.stages[0].jobs[0] as Job
  assert.deepEqual(ran(j).map(a => a.state), ['lost', 'succeeded'])
  assert.match(j.attempts[0].reason ?? '', /gone/)
  assert.notEqual(ran(j)[1].nodeId, runner.id)
  assert.equal(jobId, j.id)
})
