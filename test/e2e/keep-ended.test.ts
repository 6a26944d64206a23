// G-4 and issue 12 (per-node costs that do not grow with the cluster's throughput): with
// `store.keepEnded`, a real agent holds at most that many ended joblists in memory, whatever
// `store.archiveAfter` says: the earliest ended go to the archive first, every query still finds
// them, the state hash does not change, and a kill -9 and restart keeps it so.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, joblistsInMemory, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import { stateHash } from '../../src/state/hash.js'

let agent: Agent
let dataDir = ''
let args: string[] = []
const ids: string[] = []
const views = new Map<string, unknown>()
let hash = ''

const inMemory = async (): Promise<string[]> => await joblistsInMemory(agent.url)

before(async () => {
  dataDir = tempDir('cis-keep-ended-')
  const config = join(dataDir, 'keep.yaml')
  // An hour before anything would leave memory by its age; at most two ended joblists held.
  writeFileSync(config, 'store:\n  archiveAfter: 1h\n  keepEnded: 2\nsnapshotEvery: 20\n')
  args = ['--resource', 'slot=1', '--config', config]
  agent = await startAgent({ name: 'keeper', dataDir, args })
  // One at a time, so they end in the order submitted.
  for (let i = 0; i < 5; i++) {
    const r = await api(agent.url, '/v1/joblists', { body: { name: `kept-${i}`, stages: [{ name: 's', jobs: [{ name: 'a', run: `echo kept-${i}` }] }] } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    ids.push(r.body.id as string)
    views.set(ids[i], await waitFinal(agent.url, ids[i]))
  }
  for (const id of ids) views.set(id, (await api(agent.url, `/v1/joblists/${id}`)).body)
  hash = (await api(agent.url, '/v1/state')).body.hash
})
after(async () => { await agent?.stop(); cleanup(dataDir) })

test('G-4, issue 12: store.keepEnded: the earliest ended joblists leave memory before archiveAfter, the last two stay; all are found as before; the hash is unchanged', async () => {
  // (The archive pass runs with a snapshot, and every 10 s on an idle agent.)
  await waitFor('three of five ended joblists archived', async () => (await api(agent.url, '/v1/stats')).body.archived === 3, 40_000, 200)
  assert.deepEqual(await inMemory(), ids.slice(3).sort(), 'the two ended last stay in memory')
  assert.equal((await api(agent.url, '/v1/state')).body.hash, hash, 'archiving changes nothing any node derives')
  for (const id of ids) {
    const r = await api(agent.url, `/v1/joblists/${id}`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, views.get(id), `${id} reads as it did in memory`)
  }
  assert.equal((await api(agent.url, '/v1/stats')).body.joblists.succeeded, 5, 'the stats count the archived ones')
})

test('G-4, issue 12: after kill -9 and a restart the bound still holds and every joblist reads the same', async () => {
  await agent.kill()
  agent = await startAgent({ name: 'keeper', dataDir, args })
  // (Had the kill come before the archive's write was durable, the restarted agent archives them again.)
  await waitFor('the bound to hold after the restart', async () => (await api(agent.url, '/v1/stats')).body.archived === 3, 40_000, 200)
  assert.deepEqual(await inMemory(), ids.slice(3).sort())
  // (The restarted agent announced itself, an event: the hash moved. The whole state, the archived
  // joblists read back, is still the state the hash is of.)
  const full = (await api(agent.url, '/v1/state?full=true')).body
  for (const id of ids) assert.ok(full.state.joblists[id] !== undefined, `${id} in the whole state`)
  assert.equal(stateHash(full.state), full.hash)
  for (const id of ids) assert.deepEqual((await api(agent.url, `/v1/joblists/${id}`)).body, views.get(id))
})
