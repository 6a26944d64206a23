// Records on a real agent (G-2, G-3): accounting by owner, node, joblist and day with
// `cis acct` (--json, --csv, --records) and GET /v1/accounting; the history of a joblist with
// `cis history`; time travel with `cis status --at` and GET /v1/state?at=.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, api, cleanup, sleep, startAgent, tempDir, waitFinal } from '../helpers/agent.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

let agent: Agent

async function cis (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args, '--addr', agent.url], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

async function submit (name: string, owner: string, run: string, tags: string[] = []): Promise<string> {
  const r = await api(agent.url, '/v1/joblists', { body: { name, tags, stages: [{ name: 's', jobs: [{ name: 'a', run }, { name: 'b', run: 'true' }] }] }, headers: { 'x-cis-owner': owner } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

const ids: string[] = []
let between = ''

before(async () => {
  agent = await startAgent({ name: 'records-node', args: ['--resource', 'slot=2'] })
  ids.push(await submit('acct-1', 'alice', 'sleep 0.2', ['nightly']))
  await waitFinal(agent.url, ids[0])
  await sleep(50)
  between = new Date().toISOString()
  await sleep(50)
  ids.push(await submit('acct-2', 'bob', 'exit 3'))
  ids.push(await submit('acct-3', 'alice', 'true'))
  for (const id of ids.slice(1)) await waitFinal(agent.url, id)
})
after(async () => { await agent.stop(); cleanup(agent.dataDir) })

test('G-2: cis acct sums the attempts per owner (jobs, failed, wall), with a total; --owner, --tag and --joblist filter; the API agrees', async () => {
  const r = await cis(['acct', '--json'])
  assert.equal(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout)
  const rows = Object.fromEntries(j.groups.map((g: any) => [g.group, g]))
  assert.equal(rows.alice.jobs, 4)
  assert.equal(rows.alice.failed, 0)
  assert.equal(rows.bob.jobs, 2)
  assert.equal(rows.bob.failed, 1)
  assert.equal(rows.total.jobs, 6)
  assert.ok(rows.alice.wallS > 0, `alice's sleep 0.2 counts: ${String(rows.alice.wallS)}`)
  assert.equal((await api(agent.url, '/v1/accounting')).body.groups.at(-1).jobs, 6)
  const alice = JSON.parse((await cis(['acct', '--owner', 'alice', '--records', '--json'])).stdout)
  assert.deepEqual([...new Set(alice.records.map((x: any) => x.owner))], ['alice'])
  assert.equal(alice.records.length, 4)
  assert.equal(alice.scanned, 4, 'a query by owner reads only that owner\'s records')
  const tagged = JSON.parse((await cis(['acct', '--tag', 'nightly', '--records', '--json'])).stdout)
  assert.deepEqual([...new Set(tagged.records.map((x: any) => x.joblistId))], [ids[0]])
  const one = JSON.parse((await cis(['acct', '--joblist', 'acct-2', '--records', '--json'])).stdout)
  const failed = one.records.find((x: any) => x.jobName === 'a')
  assert.equal(failed.state, 'failed')
  assert.equal(failed.exitCode, 3)
  assert.equal(failed.node, 'records-node')
  assert.equal(failed.attempt, 1)
  assert.ok(typeof failed.startedAt === 'string' && typeof failed.endedAt === 'string')
  if (process.platform === 'linux') {
    // Measured by the executor (G-2): CPU from the job's shell, peak memory sampled from /proc.
    const slept = alice.records.find((x: any) => x.joblistId === ids[0] && x.jobName === 'a')
    assert.equal(typeof slept.cpuUserS, 'number')
    assert.equal(typeof slept.cpuSysS, 'number')
    assert.ok(slept.maxRssKb > 0, `peak memory of sleep 0.2: ${String(slept.maxRssKb)}`)
    const shown = (await api(agent.url, `/v1/joblists/${ids[0]}`)).body.stages[0].jobs[0].attempts[0]
    assert.equal(typeof shown.usage?.cpuUserMs, 'number', 'the attempt view shows it too')
  }
  const text = await cis(['acct', '--by', 'node'])
  assert.match(text.stdout, /records-node\s+6\s+1\s/)
  assert.match(text.stdout, /total\s+6\s+1\s/)
})

test('G-2: cis acct --csv gives a header and one line per record; --by day per UTC day; bad --since and --by exit 2 saying what is accepted', async () => {
  const csv = await cis(['acct', '--records', '--csv'])
  assert.equal(csv.code, 0, csv.stderr)
  const lines = csv.stdout.trim().split('\n')
  assert.equal(lines[0].split(',')[0], 'joblistId')
  assert.equal(lines.length, 1 + 6)
  const day = JSON.parse((await cis(['acct', '--by', 'day', '--json'])).stdout)
  assert.match(day.groups[0].group, /^\d{4}-\d{2}-\d{2}$/)
  const since = await cis(['acct', '--since', 'last tuesday'])
  assert.equal(since.code, 2)
  assert.match(since.stderr, /since: 'last tuesday' is not a time: give an ISO date/)
  const by = await cis(['acct', '--by', 'colour'])
  assert.equal(by.code, 2)
  assert.match(by.stderr, /--by 'colour': use owner, node, joblist or day/)
  const future = JSON.parse((await cis(['acct', '--since', '2099-01-01', '--until', '2099-01-02', '--json'])).stdout)
  assert.equal(future.groups.at(-1).jobs, 0, 'nothing ran then')
})

test('G-3: cis history lists every change of a joblist and its jobs: submit, accept, assign, start and end of each attempt', async () => {
  const r = await cis(['history', ids[1], '--json'])
  assert.equal(r.code, 0, r.stderr)
  const h = JSON.parse(r.stdout)
  assert.equal(h.id, ids[1])
  const types = h.events.map((e: any) => e.type)
  assert.equal(types[0], 'submit')
  assert.equal(types[1], 'accept')
  assert.equal(types.filter((t: string) => t === 'finished').length, 2)
  assert.ok(h.events.some((e: any) => e.type === 'finished' && /failed \(exit 3\)/.test(e.text)))
  assert.ok(h.events.every((e: any) => e.node === 'records-node'))
  const text = await cis(['history', 'acct-2'])
  assert.match(text.stdout, /submitted by bob/)
  const missing = await cis(['history', 'no-such-joblist'])
  assert.equal(missing.code, 1)
})

test('G-3: cis status --at shows the joblists as they were then; GET /v1/state?at=now has the current hash', async () => {
  const then = JSON.parse((await cis(['status', '--at', between, '--json'])).stdout)
  assert.deepEqual(then.joblists.map((j: any) => j.id), [ids[0]], 'only the first joblist existed then')
  assert.equal(then.joblists[0].state, 'succeeded')
  const one = await api(agent.url, `/v1/joblists/${ids[1]}?at=${encodeURIComponent(between)}`)
  assert.equal(one.status, 404)
  const text = await cis(['status', ids[0], '--at', between])
  assert.match(text.stdout, /as it was at/)
  const now = (await api(agent.url, '/v1/state?at=now')).body
  assert.equal(now.hash, (await api(agent.url, '/v1/state')).body.hash)
  const bad = await cis(['status', '--at', 'soon'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /at: 'soon' is not a time/)
})

test('G-1: store.backend chooses the spooling backend: memory runs work like level but keeps nothing across a restart, and says so', async () => {
  const dir = tempDir()
  const config = join(dir, 'cis.yaml')
  writeFileSync(config, 'store:\n  backend: memory\n')
  const data = tempDir()
  let a = await startAgent({ name: 'memory-node', dataDir: data, args: ['--config', config, '--log-level', 'warn'] })
  try {
    const r = await api(a.url, '/v1/joblists', { body: { name: 'in-memory', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
    assert.equal(r.status, 201)
    assert.equal((await waitFinal(a.url, r.body.id)).state, 'succeeded')
    assert.match(a.output(), /store.backend is memory: nothing this node learns survives a restart/)
    await a.stop()
    a = await startAgent({ name: 'memory-node', dataDir: data, args: ['--config', config] })
    assert.deepEqual((await api(a.url, '/v1/joblists')).body.joblists, [], 'nothing survived the restart')
  } finally {
    await a.stop()
    cleanup(data)
    cleanup(dir)
  }
})
