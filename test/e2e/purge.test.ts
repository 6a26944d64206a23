// G-6 on real agents: `cis admin purge` removes ended joblists from every node, also one that
// was stopped during the purge: when it is back it catches up and cuts the same joblists; the
// state hashes are equal everywhere; accounting has no records of them; open and newer work
// stays; a dry run counts without purging; bad input is a 400 / exit 2.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import type { Cluster, ClusterAgent } from '../helpers/cluster.js'
import { startCluster, waitForMembers, waitSameHash } from '../helpers/cluster.js'
import { CIS, ROOT, api, sleep, waitFinal, waitFor } from '../helpers/agent.js'

let c: Cluster

async function cis (url: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args, '--addr', url], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

const one = (name: string, run = 'true'): Record<string, unknown> => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] })

async function submit (url: string, name: string, run?: string): Promise<string> {
  const r = await api(url, '/v1/joblists', { body: one(name, run) })
  assert.equal(r.status, 201, JSON.stringify(r.body))
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
