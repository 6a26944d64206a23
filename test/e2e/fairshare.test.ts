// P-4 on a real agent under the fairshare policy (issue 12: the master reads the owners' usage
// from its index, usage-index.ts, not from every joblist in memory): an owner who used the
// cluster waits behind one who did not, the work that made the difference partly archived out
// of memory by then (its usage counted as past). Under `npm test` (CIS_CHECK_SNAPSHOTS=1) the
// master compares its index with the usage computed from the state at every pass, and a
// difference stops the agent: it must still be healthy at the end.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

let agent: Agent
let dir: string

before(async () => {
  dir = tempDir()
  // One slot; fairshare without aging, usage halving every hour; ended joblists archived after 1 s.
  const config = join(dir, 'cis.yaml')
  writeFileSync(config, 'scheduler:\n  policy: fairshare\n  aging: 0\n  fairShare:\n    halfLife: 1h\nstore:\n  archiveAfter: 1s\n')
  agent = await startAgent({ name: 'fair-node', args: ['--resource', 'slot=1', '--config', config] })
})
after(async () => { await agent.stop(); cleanup(agent.dataDir); cleanup(dir) })

async function submit (name: string, owner: string, run: string): Promise<string> {
  const r = await api(agent.url, '/v1/joblists', { body: { name, priority: 50, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] }, headers: { 'x-cis-owner': owner } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

const startedAt = async (id: string): Promise<number> => new Date((await api(agent.url, `/v1/joblists/${id}`)).body.stages[0].jobs[0].attempts[0].startedAt).getTime()

test('P-4 (issue 12): under fairshare an owner who used the cluster waits behind one who did not, with part of that use archived; the master\'s index of usage agrees with the state at every pass', { timeout: 120_000 }, async () => {
  const used: string[] = []
  for (let i = 0; i < 4; i++) used.push(await submit(`heavy-${i}`, 'heavy', 'sleep 0.3'))
  for (const id of used) assert.equal((await waitFinal(agent.url, id)).state, 'succeeded')
  await waitFor('some of heavy\'s joblists archived out of memory', async () => ((await api(agent.url, '/v1/stats')).body.archived as number) > 0 ? true : undefined, 30_000, 100)
  const usage = (await api(agent.url, '/v1/usage')).body
  const heavy = usage.owners.find((u: { owner: string }) => u.owner === 'heavy')
  assert.ok(heavy !== undefined && heavy.usage > 0, `heavy's use counts: ${JSON.stringify(usage.owners)}`)
  // The slot taken (until the test says: both late joblists queued, however slow the machine);
  // then heavy's next joblist, then light's: light's runs first.
  const go = join(dir, 'go')
  const blocker = await submit('blocker', 'heavy', `for i in $(seq 600); do [ -e ${go} ] && exit 0; sleep 0.05; done; exit 1`)
  await waitFor('the blocker to start', async () => (await api(agent.url, `/v1/joblists/${blocker}`)).body.state === 'running' ? true : undefined, 30_000, 20)
  const heavyLate = await submit('heavy-late', 'heavy', 'true')
  const lightLate = await submit('light-late', 'light', 'true')
  writeFileSync(go, '')
  for (const id of [blocker, heavyLate, lightLate]) assert.equal((await waitFinal(agent.url, id)).state, 'succeeded')
  assert.ok(await startedAt(lightLate) <= await startedAt(heavyLate), 'light\'s joblist, submitted after heavy\'s, ran first')
  assert.equal((await api(agent.url, '/v1/health')).status, 200, 'the agent is still up: its index never differed from the state')
})
