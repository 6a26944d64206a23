// G-6 on real agents: `cis admin purge` removes ended joblists from every node, also one that
// was stopped during the purge: when it is back it catches up and cuts the same joblists; the
// state hashes are equal everywhere; accounting has no records of them; open and newer work
// stays; a dry run counts without purging; bad input is a 400 / exit 2.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import type { Cluster, ClusterAgent } from '../helpers/cluster.js'
import { startCluster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import { CIS, ROOT, api, sleep, startAgent, waitFinal, waitFor } from '../helpers/agent.js'
import { FAST } from '../helpers/cluster.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { join } from 'node:path'

let c: Cluster
/** The joblists the first test purges, and their request keys. */
let purgedIds: string[] = []
let purgedRequests: string[] = []
let kept = ''
/** The events of the purged joblists (distinct origin:seq of their histories before the purge). */
let purgedEvents = 0
const requestOf = new Map<string, string>()

async function cis (url: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args, ...(url !== '' ? ['--addr', url] : [])], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

const one = (name: string, run = 'true'): Record<string, unknown> => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] })

async function submit (url: string, name: string, run?: string): Promise<string> {
  const r = await api(url, '/v1/joblists', { body: one(name, run) })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  requestOf.set(r.body.id as string, r.body.request as string)
  return r.body.id as string
}

before(async () => {
  c = await startCluster([{ name: 'p-a', priority: 3 }, { name: 'p-b', priority: 2 }, { name: 'p-c', priority: 1 }], ['--resource', 'slot=2'])
})
after(async () => { await c.stopAll() })

test('G-6: a purge reaches every node, also one stopped meanwhile; hashes equal; purged joblists and their accounting are gone; newer and open work stays', { timeout: 180_000 }, async () => {
  const [a, b] = c.agents
  let cNode = c.agents[2]
  const old = [await submit(a.url, 'old-1'), await submit(b.url, 'old-2'), await submit(a.url, 'old-3', 'exit 2')]
  for (const id of old) await waitFinal(a.url, id)
  await waitSameHash(c.agents)
  await sleep(20)
  const cut = new Date().toISOString()
  await sleep(20)
  const newer = await submit(a.url, 'newer')
  await waitFinal(a.url, newer)
  await waitSameHash(c.agents)
  for (const id of old) {
    const h = await api(a.url, `/v1/joblists/${id}/history`)
    assert.ok(h.body.events.length >= 5, `${id} has its history before the purge`)
    purgedEvents += new Set((h.body.events as Array<{ origin: string, seq: number }>).map(e => `${e.origin}:${e.seq}`)).size
    purgedRequests.push(requestOf.get(id) as string)
  }
  purgedIds = old
  kept = newer

  // p-c stops; the purge happens without it.
  await cNode.stop()
  const dry = await cis(a.url, ['admin', 'purge', '--before', cut, '--dry-run', '--json'])
  assert.equal(dry.code, 0, dry.stderr)
  const d = JSON.parse(dry.stdout)
  assert.equal(d.joblists, 3)
  assert.deepEqual([...d.ids].sort(), [...old].sort())
  assert.equal((await api(a.url, `/v1/joblists/${old[0]}`)).status, 200, 'a dry run purges nothing')
  const open = await submit(b.url, 'open', 'sleep 30')
  const r = await cis(a.url, ['admin', 'purge', '--before', cut])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /purged 3 ended joblist\(s\)/)
  await waitSameHash([a, b])
  for (const agent of [a, b]) {
    for (const id of old) assert.equal((await api(agent.url, `/v1/joblists/${id}`)).status, 404, `${id} gone on ${agent.url}`)
    assert.equal((await api(agent.url, `/v1/joblists/${newer}`)).body.state, 'succeeded', 'newer work stays')
    const acct = (await api(agent.url, '/v1/accounting?records=true&since=1970-01-01')).body.records as Array<{ joblistId: string }>
    assert.ok(acct.every(x => !old.includes(x.joblistId)), 'no accounting records of purged joblists')
    assert.ok(acct.some(x => x.joblistId === newer))
  }

  // p-c comes back: it learns of the purge and cuts the same.
  cNode = await cNode.restart()
  c.agents[2] = cNode
  await waitForMembers(c.agents, 3, 60_000)
  await waitSameHash(c.agents, 60_000)
  for (const id of old) assert.equal((await api(cNode.url, `/v1/joblists/${id}`)).status, 404, `${id} gone on the node that was away`)
  assert.equal((await api(cNode.url, `/v1/joblists/${open}`)).body.state !== undefined, true, 'open work is there')
  assert.ok(['running', 'queued'].includes((await api(a.url, `/v1/joblists/${open}`)).body.state as string), 'open work is never purged')
  await api(a.url, `/v1/joblists/${open}/stop`, { method: 'POST' })
  await waitFinal(a.url, open)
  await waitFor('every node to agree after the stop', async () => { await waitSameHash(c.agents, 5000); return true }, 60_000)
})

test('G-6: purge input: neither or both of --older-than and --before, a bad span, an unknown field: 400 / exit 2', async () => {
  const a = c.agents[0] as ClusterAgent
  const none = await cis(a.url, ['admin', 'purge'])
  assert.equal(none.code, 2)
  assert.match(none.stderr, /give --older-than SPAN \(e\.g\. 90d\) or --before TIME/)
  const bad = await cis(a.url, ['admin', 'purge', '--older-than', 'ninety days'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /olderThan: 'ninety days' is not a span: give e\.g\. 30m, 12h, 90d or 2w/)
  const both = await api(a.url, '/v1/admin/purge', { body: { olderThan: '1d', before: '2026-01-01' } })
  assert.equal(both.status, 400)
  const unknown = await api(a.url, '/v1/admin/purge', { body: { olderThan: '1d', everything: true } })
  assert.equal(unknown.status, 400)
  assert.match(unknown.body.error, /unknown field\(s\) everything/)
  const nothing = await cis(a.url, ['admin', 'purge', '--older-than', '3650d'])
  assert.equal(nothing.code, 0)
  assert.match(nothing.stdout, /nothing to purge/)
})

test('G-6: the purged joblists\' events leave every node\'s log, also that of the node that was away; a new node never fetches them; hashes stay equal', { timeout: 180_000 }, async () => {
  assert.ok(purgedIds.length === 3 && purgedRequests.every(r => typeof r === 'string' && r.includes(':')), 'the first test purged three joblists')
  const [a] = c.agents
  // Every node takes them out of its log (p-c: once it applied the purge it missed).
  for (const agent of c.agents) {
    const r = await waitFor(`${agent.url} to take the purged events out of its log`, async () => {
      const st = (await api(agent.url, '/v1/stats')).body.reclaim as { pending: number, taken: number }
      return st.pending === 0 && st.taken > 0 ? st : undefined
    }, 60_000)
    // Every event of their histories: two or three each (a submit carrying its accept when made
    // on the master, or a submit and an accept; the assign carried; a finished carrying the start).
    assert.ok(purgedEvents >= 2 * purgedIds.length, `the purged joblists had ${purgedEvents} events`)
    assert.ok(r.taken >= purgedEvents, `events taken out on ${agent.url}: ${r.taken}, of ${purgedEvents}`)
  }
  // A new node with an empty store joins: it gets skips for them, not the events.
  const d = await startAgent({ name: 'p-d', args: [...FAST, '--swarm-key', c.keyFile, '--priority', '0', '--peer', a.p2p[0], '--resource', 'slot=2'] })
  c.agents.push(d as ClusterAgent)
  await waitForMembers(c.agents, 4, 60_000)
  await waitSameHash(c.agents, 60_000)
  await waitFor('the new node to settle its purges', async () => ((await api(d.url, '/v1/stats')).body.reclaim.pending === 0) || undefined, 60_000)
  assert.equal((await api(d.url, `/v1/joblists/${kept}`)).body.state, 'succeeded', 'the new node has what was not purged')
  // A backup of a log with gaps restores: the purge events in it cover them.
  const file = join(c.dir, 'after-purge.jsonl')
  const b = await cis(a.url, ['admin', 'backup', file])
  assert.equal(b.code, 0, b.stderr)
  const r = await cis('', ['admin', 'restore', file, '--data', join(c.dir, 'restored')])
  assert.equal(r.code, 0, r.stderr + r.stdout)
  // Now look into every node's log on disk.
  for (const agent of c.agents) await agent.stop()
  for (const agent of c.agents) {
    const store = new LevelEventStore(join(agent.dataDir, 'store'))
    await store.open()
    try {
      for (const s of [...purgedIds, ...purgedRequests]) {
        const types: string[] = []
        for await (const e of store.readSubject(s)) types.push(e.type)
        assert.ok(types.every(t => t === 'purge'), `only the purge itself names ${s} in ${agent.dataDir}: ${types.join(',')}`)
      }
      const keptTypes: string[] = []
      for await (const e of store.readSubject(kept)) keptTypes.push(e.type)
      assert.ok(keptTypes.includes('finished'), `the kept joblist's events stay in ${agent.dataDir}`)
    } finally { await store.close() }
  }
})
