// G-4, memory that does not grow with history: on a real agent whose ended joblists are archived
// out of memory at once (store.archiveAfter: 100ms), every query still finds them (status by ID
// and by name, the list by name, a job, history, accounting, a schedule's runs), the state hash does not change,
// a kill -9 and restart keeps all of it, and a purge brings them back to remove them.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, joblistsInMemory, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { apply } from '../../src/state/reducer.js'
import { emptyState } from '../../src/state/types.js'
import type { ClusterState } from '../../src/state/types.js'
import { stateHash } from '../../src/state/hash.js'

/** Every stored event applied from empty, in memory (nothing archived). */
async function replay (storePath: string): Promise<ClusterState> {
  const store = new LevelEventStore(storePath)
  await store.open()
  try {
    const state = emptyState()
    for (const origin of await store.origins()) for await (const e of store.readOrigin(origin, 0)) apply(state, e)
    return state
  } finally { await store.close() }
}

let agent: Agent
let dataDir = ''
let args: string[] = []
const ids: string[] = []
const views = new Map<string, unknown>()
let hash = ''
let acct: unknown
let schedule: { runs: unknown[], last: unknown }
/** `GET /v1/stats`' joblists by state before archiving: the archived ones still count (P-5). */
let stats: Record<string, number> = {}

/** `GET /v1/stats`' joblists by state equal a count of the whole state's (archived ones read back). */
async function statsAgree (what: string): Promise<Record<string, number>> {
  const counted = (await api(agent.url, '/v1/stats')).body.joblists as Record<string, number>
  const whole: Record<string, number> = {}
  for (const jl of Object.values((await api(agent.url, '/v1/state?full=true')).body.state.joblists) as Array<{ state: string }>) whole[jl.state] = (whole[jl.state] ?? 0) + 1
  assert.deepEqual(Object.fromEntries(Object.entries(counted).filter(([, n]) => n !== 0)), whole, what)
  return counted
}

const inMemory = async (): Promise<string[]> => await joblistsInMemory(agent.url)

before(async () => {
  dataDir = tempDir('cis-archive-')
  const config = join(dataDir, 'archive.yaml')
  writeFileSync(config, 'store:\n  archiveAfter: 100ms\nsnapshotEvery: 50\n')
  args = ['--resource', 'slot=2', '--config', config]
  agent = await startAgent({ name: 'archiver', dataDir, args })
  // Asked first now: from here on the counts follow the events (P-5), not a count at the asking.
  assert.deepEqual((await api(agent.url, '/v1/stats')).body.joblists, {})
  for (let i = 0; i < 4; i++) {
    const r = await api(agent.url, '/v1/joblists', { body: { name: i < 3 ? 'nightly' : 'other', stages: [{ name: 's', jobs: [{ name: 'a', run: `echo run-${i}` }, { name: 'b', run: 'true' }] }] }, headers: { 'x-cis-owner': 'alice' } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    ids.push(r.body.id as string)
  }
  // A schedule (every second): three runs, then paused.
  assert.equal((await api(agent.url, '/v1/joblists', { body: { name: 'every1', schedule: { cron: '* * * * * *' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })).status, 201)
  await waitFor('three runs of every1', async () => ((await api(agent.url, '/v1/schedules/every1')).body.runs as Array<{ endedAt: string | null }>).filter(r => r.endedAt !== null).length >= 3, 30_000, 100)
  assert.equal((await api(agent.url, '/v1/schedules/every1/pause', { body: {} })).status, 202)
  schedule = await waitFor('every1 settled', async () => {
    const v = (await api(agent.url, '/v1/schedules/every1')).body
    return v.runs.every((r: { endedAt: string | null }) => r.endedAt !== null) ? v : undefined
  })
  for (const id of ids) views.set(id, (await waitFinal(agent.url, id)))
  for (const id of ids) views.set(id, (await api(agent.url, `/v1/joblists/${id}`)).body)
  acct = (await api(agent.url, '/v1/accounting?by=joblist')).body.groups
  // Everything ended and nothing else happens: the hash now is the hash once archived.
  hash = (await api(agent.url, '/v1/state')).body.hash
  stats = await statsAgree('before the wait for the archive')
  // In memory then: only the schedule's last run (its summary shows it).
  await waitFor('the ended joblists archived out of memory', async () => (await inMemory()).length === 1, 30_000, 200)
})
after(async () => { await agent?.stop(); cleanup(dataDir) })

test('G-4: archived joblists leave memory but are found by ID, by name, in a list by name, as jobs, as a schedule\'s runs; the state hash is unchanged', async () => {
  assert.equal((await api(agent.url, '/v1/state')).body.hash, hash, 'archiving changes nothing any node derives')
  const counted = (await api(agent.url, '/v1/stats')).body
  assert.deepEqual(counted.joblists, stats, 'the stats count the archived joblists as before, by state')
  assert.equal(counted.archived, ids.length + schedule.runs.length - 1, 'all but the schedule\'s last run are out of memory')
  await statsAgree('the stats and the whole state agree')
  const full = (await api(agent.url, '/v1/state?full=true')).body
  assert.deepEqual(Object.keys(full.state.joblists).length, ids.length + schedule.runs.length, 'the whole state has the archived joblists back')
  for (const id of ids) assert.ok(full.state.joblists[id] !== undefined)
  assert.equal(stateHash(full.state), full.hash, 'and is the state the hash is of')
  for (const id of ids) {
    const r = await api(agent.url, `/v1/joblists/${id}`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, views.get(id), `${id} reads as it did in memory`)
  }
  const latest = await api(agent.url, '/v1/joblists/nightly')
  assert.equal(latest.body.id, ids[2], 'a name finds its latest archived joblist')
  const listed = (await api(agent.url, '/v1/joblists?name=nightly')).body.joblists.map((j: { id: string }) => j.id)
  assert.deepEqual(listed, ids.slice(0, 3))
  const sched = (await api(agent.url, '/v1/schedules/every1')).body
  assert.ok(schedule.runs.length >= 3)
  assert.deepEqual(sched.runs, schedule.runs, 'a schedule\'s archived runs are read back for its view')
  assert.deepEqual(sched.last, schedule.last)
  const job = await api(agent.url, `/v1/jobs/${ids[0]}.1`)
  assert.equal(job.status, 200)
  assert.equal(job.body.state, 'succeeded')
  const out = await api(agent.url, `/v1/jobs/${ids[0]}.1/logs`)
  assert.match(JSON.stringify(out.body), /run-0/, 'the output of an archived job is read as before')
  const history = await api(agent.url, `/v1/joblists/${ids[1]}/history`)
  assert.equal(history.status, 200)
  assert.ok(history.body.events.length >= 5, 'the history comes from the store')
  assert.deepEqual((await api(agent.url, '/v1/accounting?by=joblist')).body.groups, acct, 'accounting reads the archive')
  const one = await api(agent.url, `/v1/accounting?joblist=${ids[3]}&records=true`)
  assert.equal(one.body.records.length, 2)
  const alice = await api(agent.url, '/v1/accounting?owner=alice&records=true')
  assert.equal(alice.body.records.length, 8, 'by owner, through the archive\'s owner index')
  assert.equal((await api(agent.url, '/v1/accounting?owner=bob&records=true')).body.records.length, 0)
  assert.equal((await api(agent.url, '/v1/joblists/no-such-thing')).status, 404)
})

test('G-4: after kill -9 and a restart the archive is there: same views, memory still empty of them; the hash is the hash of all stored events replayed in memory', async () => {
  await agent.kill()
  agent = await startAgent({ name: 'archiver', dataDir, args })
  assert.equal((await inMemory()).length, 1)
  assert.deepEqual((await api(agent.url, '/v1/stats')).body.joblists, stats, 'counted again at the restart')
  for (const id of ids) assert.deepEqual((await api(agent.url, `/v1/joblists/${id}`)).body, views.get(id))
  assert.deepEqual((await api(agent.url, '/v1/schedules/every1')).body.runs, schedule.runs)
  // (The restart wrote a node event: the hash moved with it. Replayed from the store with
  // nothing archived, the events give the hash the agent reports with its archive.)
  const live = (await api(agent.url, '/v1/state')).body
  await agent.stop()
  const replayed = await replay(join(dataDir, 'store'))
  assert.deepEqual(replayed.applied, live.origins)
  assert.equal(stateHash(replayed), live.hash)
  agent = await startAgent({ name: 'archiver', dataDir, args })
  // Counted now, at the start: the purge that follows is followed event by event.
  assert.deepEqual((await api(agent.url, '/v1/stats')).body.joblists, stats)
})

test('G-4, G-6: a purge names archived joblists: they come back to memory and are removed everywhere', async () => {
  const r = await api(agent.url, '/v1/admin/purge', { body: { before: new Date(Date.now() + 1000).toISOString() } })
  assert.equal(r.status, 202, JSON.stringify(r.body))
  assert.equal(r.body.joblists, ids.length + schedule.runs.length, 'the archived joblists are purged too (and the schedule\'s runs)')
  await waitFor('purged', async () => (await api(agent.url, `/v1/joblists/${ids[0]}`)).status === 404)
  for (const id of ids) assert.equal((await api(agent.url, `/v1/joblists/${id}`)).status, 404)
  assert.equal((await api(agent.url, '/v1/joblists?name=nightly')).body.joblists.length, 0)
  assert.equal((await api(agent.url, '/v1/accounting?records=true')).body.records.length, 0)
  assert.deepEqual(await inMemory(), [])
  const left = await statsAgree('after the purge')
  assert.deepEqual(Object.entries(left).filter(([, n]) => n !== 0), [], 'the stats count none left, in memory or archived')
  assert.equal((await api(agent.url, '/v1/schedules/every1')).body.runs.length, 0, 'the schedule\'s runs went too')
})
