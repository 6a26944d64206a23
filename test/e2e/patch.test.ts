// D-1 end to end on a real agent: changing queued work (PATCH /v1/joblists/{id},
// PATCH /v1/jobs/{id}, `cis set`) and the one-job shortcut (POST /v1/jobs).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, api, cleanup, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

let agent: Agent
let dir: string

before(async () => {
  dir = tempDir()
  // One slot, and the priority policy without aging: the order is the priority's alone.
  const config = join(dir, 'cis.yaml')
  writeFileSync(config, 'scheduler:\n  policy: priority\n  aging: 0\n')
  agent = await startAgent({ name: 'patch-node', args: ['--resource', 'slot=1', '--config', config] })
})
after(async () => { await agent.stop(); cleanup(agent.dataDir); cleanup(dir) })

const one = (name: string, run: string, over: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ name, ...over, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] })

async function submit (spec: Record<string, unknown>): Promise<string> {
  const r = await api(agent.url, '/v1/joblists', { body: spec })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id
}

async function cis (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

test('D-1: PATCH changes a queued joblist: a raised priority runs first (priority policy), tags show in GET; bad changes are 400, unknown 404, ended 409; cis set', { timeout: 90_000 }, async () => {
  const go = join(dir, 'go')
  // The blocker holds the only slot until the file `go` exists.
  const blocker = await submit(one('blocker', `while [ ! -f '${go}' ]; do sleep 0.05; done`))
  await waitFor('the blocker to run', async () => (await api(agent.url, `/v1/joblists/${blocker}`)).body.state === 'running')
  const a = await submit(one('first-in', 'sleep 0.2', { tags: ['orig'] }))
  const b = await submit(one('second-in', 'sleep 0.2'))
  const c = await submit(one('third-in', 'sleep 0.2'))

  // Raise the last one above the others; change the first one's tags.
  const up = await api(agent.url, `/v1/joblists/${c}`, { method: 'PATCH', body: { priority: 50 } })
  assert.equal(up.status, 202, JSON.stringify(up.body))
  assert.equal(up.body.id, c)
  assert.equal(up.body.priority, 50)
  assert.match(up.body.request, /:\d+$/)
  const retag = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: { tags: ['x', 'y'] } })
  assert.equal(retag.status, 202, JSON.stringify(retag.body))
  const shown = (await api(agent.url, `/v1/joblists/${a}`)).body
  assert.deepEqual(shown.tags, ['x', 'y'], 'the new tags replace the old ones')
  assert.equal(shown.priority, 0, 'a field not in the change keeps its value')
  assert.equal((await api(agent.url, `/v1/joblists/${c}`)).body.priority, 50)

  // `cis set`: priority and tags of the second one, by the CLI.
  const set = await cis(['set', b, '--priority', '-5', '--tag', 'p', '--tag', 'q', '--addr', agent.url])
  assert.equal(set.code, 0, set.stderr)
  assert.match(set.stdout, new RegExp(`joblist ${b}: priority -5, tags p, q`))
  const viaCli = (await api(agent.url, `/v1/joblists/${b}`)).body
  assert.equal(viaCli.priority, -5)
  assert.deepEqual(viaCli.tags, ['p', 'q'])
  const json = JSON.parse((await cis(['set', b, '--priority', '-6', '--json', '--addr', agent.url])).stdout)
  assert.equal(json.priority, -6)
  assert.deepEqual(json.tags, ['p', 'q'], 'only the priority changed')
  const nothing = await cis(['set', b, '--addr', agent.url])
  assert.equal(nothing.code, 2)
  assert.match(nothing.stderr, /nothing to change/)
  const badCli = await cis(['set', b, '--priority', '5000', '--addr', agent.url])
  assert.equal(badCli.code, 2)
  assert.match(badCli.stderr, /priority: at most 1000/)

  // Fields that cannot change are named; unknown fields too; notify is not available yet.
  const fixed = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: { priority: 3, name: 'renamed', stages: [], replace: {} } })
  assert.equal(fixed.status, 400)
  assert.equal(fixed.body.code, 'ERR_BAD_REQUEST')
  assert.match(fixed.body.error, /name, stages, replace cannot be changed/)
  assert.deepEqual(fixed.body.details.map((d: { path: string }) => d.path), ['name', 'stages', 'replace'])
  const unknown = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: { colour: 'red' } })
  assert.equal(unknown.status, 400)
  assert.match(unknown.body.error, /unknown field\(s\) colour/)
  // notify changes are checked like submitted ones: the shape, then this node's settings (no secret: no webhooks).
  const notify = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: { notify: ['ops@example.com'] } })
  assert.equal(notify.status, 400)
  assert.equal(notify.body.code, 'ERR_SPEC_INVALID')
  assert.match(notify.body.error, /notify\[0\]: must be a mapping/)
  const unsigned = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: { notify: [{ webhook: 'http://127.0.0.1:9/hook' }] } })
  assert.equal(unsigned.status, 400)
  assert.match(unsigned.body.error, /notify\[0\]\.webhook: webhooks are not enabled on this cluster: set notify.secret/)
  for (const [body, pattern] of [[{ priority: 5000 }, /priority: at most 1000/], [{ priority: -1001 }, /priority: at least -1000/], [{ priority: 1.5 }, /priority: must be a whole number/], [{ tags: 'x' }, /tags: must be a list of strings/], [{ tags: ['ok', 3] }, /tags\[1\]: must be a string/]] as const) {
    const r = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body })
    assert.equal(r.status, 400, JSON.stringify(body))
    assert.equal(r.body.code, 'ERR_SPEC_INVALID')
    assert.match(r.body.error, pattern)
  }
  const empty = await api(agent.url, `/v1/joblists/${a}`, { method: 'PATCH', body: {} })
  assert.equal(empty.status, 400)
  assert.match(empty.body.error, /nothing to change/)
  assert.equal((await api(agent.url, `/v1/joblists/${a}`)).body.priority, 0, 'a refused change changed nothing')
  const missing = await api(agent.url, '/v1/joblists/zzzz-999', { method: 'PATCH', body: { priority: 1 } })
  assert.equal(missing.status, 404)
  assert.equal(missing.body.code, 'ERR_NOT_FOUND')

  // PATCH of a job: only notify can change (checked like a submitted one); other fields are 400, named.
  const jobId = `${a}.1`
  const pj = await api(agent.url, `/v1/jobs/${jobId}`, { method: 'PATCH', body: { notify: true } })
  assert.equal(pj.status, 400)
  assert.equal(pj.body.code, 'ERR_SPEC_INVALID')
  assert.match(pj.body.error, /notify: must be a list/)
  const pr = await api(agent.url, `/v1/jobs/${jobId}`, { method: 'PATCH', body: { retries: 3 } })
  assert.equal(pr.status, 400)
  assert.match(pr.body.error, /^retries cannot be changed: only notify can be changed on a job/)
  assert.deepEqual(pr.body.details, [{ path: 'retries', message: 'cannot be changed once submitted' }])
  assert.equal((await api(agent.url, '/v1/jobs/zzzz-999.1', { method: 'PATCH', body: { notify: true } })).status, 404)

  // Let the work run: the raised one first, then by priority: first-in (0), second-in (-6).
  writeFileSync(go, '')
  const ends = await Promise.all([blocker, a, b, c].map(async id => await waitFinal(agent.url, id)))
  for (const e of ends) assert.equal(e.state, 'succeeded')
  const started = (jl: any): number => new Date(jl.stages[0].jobs[0].attempts[0].startedAt).getTime()
  const [, ea, eb, ec] = ends
  assert.ok(started(ec) < started(ea), `the raised joblist ran before the one accepted before it (${started(ec)} < ${started(ea)})`)
  assert.ok(started(ea) < started(eb), `the lowered joblist ran last (${started(ea)} < ${started(eb)})`)

  // Ended: 409, for the joblist, its job, and through the CLI.
  const ended = await api(agent.url, `/v1/joblists/${blocker}`, { method: 'PATCH', body: { priority: 1 } })
  assert.equal(ended.status, 409)
  assert.equal(ended.body.code, 'ERR_ALREADY_ENDED')
  const endedJob = await api(agent.url, `/v1/jobs/${blocker}.1`, { method: 'PATCH', body: { notify: true } })
  assert.equal(endedJob.status, 409)
  assert.equal(endedJob.body.code, 'ERR_ALREADY_ENDED')
  const endedCli = await cis(['set', blocker, '--priority', '1', '--addr', agent.url])
  assert.equal(endedCli.code, 1)
  assert.match(endedCli.stderr, /already ended/)
})

test('D-1: POST /v1/jobs runs one job as a one-stage joblist; its problems are at paths of the job', { timeout: 60_000 }, async () => {
  const r = await api(agent.url, '/v1/jobs', { body: { name: 'single', run: 'echo one-job', env: { GREETING: 'hi' }, retries: 1 } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  assert.match(r.body.joblistId, /^[0-9a-z]{4}-\d+$/)
  assert.equal(r.body.id, `${r.body.joblistId as string}.1`)
  assert.equal(r.body.name, 'single')
  assert.ok(typeof r.body.state === 'string')
  const jl = await waitFinal(agent.url, r.body.joblistId)
  assert.equal(jl.state, 'succeeded')
  assert.equal(jl.name, 'single')
  assert.deepEqual(jl.stages.map((s: { name: string }) => s.name), ['main'])
  const logs = await api(agent.url, `/v1/jobs/${r.body.id as string}/logs`)
  assert.match(logs.body.stdout, /one-job/)

  const bad = await api(agent.url, '/v1/jobs', { body: { name: 'nope', runn: 'true', retries: -1 } })
  assert.equal(bad.status, 400)
  assert.equal(bad.body.code, 'ERR_SPEC_INVALID')
  const paths = bad.body.details.map((d: { path: string, message: string }) => `${d.path}: ${d.message}`)
  assert.ok(paths.includes('run: required'), paths.join(' | '))
  assert.ok(paths.some((p: string) => p.startsWith('retries: ')), paths.join(' | '))
  assert.ok(paths.some((p: string) => /^runn: unknown field/.test(p)), paths.join(' | '))
  assert.ok(!paths.some((p: string) => p.startsWith('stages')), 'no path of the wrapper')
  const noName = await api(agent.url, '/v1/jobs', { body: { run: 'true' } })
  assert.equal(noName.status, 400)
  assert.deepEqual(noName.body.details.map((d: { path: string }) => d.path), ['name'], 'the name problem once')
  const notObject = await api(agent.url, '/v1/jobs', { body: ['x'] })
  assert.equal(notObject.status, 400)
  const unsat = await api(agent.url, '/v1/jobs', { body: { name: 'gpu-job', run: 'true', needs: { gpu: 1 } } })
  assert.equal(unsat.status, 422)
  assert.equal(unsat.body.code, 'ERR_UNSATISFIABLE')
})
