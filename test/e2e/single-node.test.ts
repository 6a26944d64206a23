// One real agent process on 127.0.0.1, driven over its HTTP API.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, startAgent, waitFinal, waitFor } from '../helpers/agent.js'

let agent: Agent

before(async () => {
  // (Two variables of the agent's own: a job sees the first as it is, and its spec's value of the second.)
  agent = await startAgent({ name: 'solo', args: ['--resource', 'slot=4', '--resource', 'gpu=gpu0,gpu1'], env: { CIS_TEST_AGENT_VAR: 'from the agent', MODE: 'the agent\'s' } })
})
after(async () => {
  await agent.stop()
  cleanup(agent.dataDir)
})

const job = (name: string, run: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({ name, run, ...over })

async function submit (spec: unknown): Promise<string> {
  const r = await api(agent.url, '/v1/joblists', { body: spec })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

function workdir (jl: any, stage: number, j: number): string {
  const job = jl.stages[stage].jobs[j]
  const a = job.attempts[job.attempts.length - 1]
  return join(agent.dataDir, 'jobs', jl.id, job.id, String(a.n))
}

/** POST a body of `size` bytes; the status the server answered (it may close early). */
/**
 * POST a body of `size` bytes. The server refuses it with 413 and closes the connection, so
 * the client may hear the 413 or, if it was still writing, only the closed connection
 * (EPIPE, ECONNRESET): either way the body was refused. Any other answer is returned as is.
 */
async function postHuge (url: string, size: number): Promise<number | 'closed while sending'> {
  return await new Promise((resolve, reject) => {
    const req = request(url + '/v1/joblists', { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': size } }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', err => {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EPIPE' || code === 'ECONNRESET') resolve('closed while sending')
      else reject(err)
    })
    req.end(Buffer.alloc(size, 0x20))
  })
}

const t = (s: string | null): number => new Date(s as string).getTime()

test('R2-2/R2-3/R2-4/R2-5: stages run in their order; jobs of a stage overlap; the next waits for all', async () => {
  const id = await submit({
    name: 'staged',
    stages: [
      { name: 'one', jobs: [job('a', 'sleep 0.4'), job('b', 'sleep 0.4'), job('c', 'sleep 0.1')] },
      { name: 'two', jobs: [job('d', 'true')] },
      { name: 'three', jobs: [job('e', 'true')] }
    ]
  })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'succeeded')
  assert.deepEqual(jl.stages.map((s: any) => s.name), ['one', 'two', 'three'])
  const [a, b, c] = jl.stages[0].jobs.map((j: any) => j.attempts[0])
  assert.ok(t(a.startedAt) < t(b.endedAt) && t(b.startedAt) < t(a.endedAt), 'a and b ran at the same time (R2-4)')
  const stageOneEnd = Math.max(t(a.endedAt), t(b.endedAt), t(c.endedAt))
  const d = jl.stages[1].jobs[0].attempts[0]
  const e = jl.stages[2].jobs[0].attempts[0]
  assert.ok(t(d.startedAt) >= stageOneEnd, 'stage two started after every job of stage one ended (R2-5)')
  assert.ok(t(e.startedAt) >= t(d.endedAt))
})

test('R2-1/R2-6: a joblist and its jobs have names; IDs can be looked up by name (R4-3)', async () => {
  const id = await submit({ name: 'named-list', stages: [{ name: 's', jobs: [job('first-job', 'true'), job('second-job', 'true')] }] })
  await waitFinal(agent.url, id)
  const byName = await api(agent.url, '/v1/joblists/named-list')
  assert.equal(byName.status, 200)
  assert.equal(byName.body.id, id)
  assert.deepEqual(byName.body.stages[0].jobs.map((j: any) => j.name), ['first-job', 'second-job'])
  const jobRes = await api(agent.url, `/v1/jobs/${encodeURIComponent(`${id}/second-job`)}`)
  assert.equal(jobRes.body.id, byName.body.stages[0].jobs[1].id)
})

test('R6-1..R6-5: files are written and templated: joblist, job and file maps, literal patterns', async () => {
  const id = await submit({
    name: 'templates',
    replace: { '@V@': 'joblist-v', '@ALL@': 'from-joblist' },
    stages: [{
      name: 's',
      jobs: [job('render', 'cat a.txt sub/b.txt > out.txt', {
        replace: { '@ALL@': 'from-job', '$1': 'dollar-one', '.*': 'dot-star' },
        files: [
          { path: 'a.txt', content: 'v=@V@ all=@ALL@ own=@OWN@ regex=.* group=$1 x.y\n', replace: { '@OWN@': 'a-only' } },
          { path: 'sub/b.txt', content: 'own=@OWN@ all=@ALL@\n', replace: { '@ALL@': 'from-file' } },
          { path: 'c.txt', content: '@V@ @V@@V@' }
        ]
      })]
    }]
  })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'succeeded')
  const dir = workdir(jl, 0, 0)
  assert.equal(readFileSync(join(dir, 'a.txt'), 'utf8'), 'v=joblist-v all=from-job own=a-only regex=dot-star group=dollar-one x.y\n')
  assert.equal(readFileSync(join(dir, 'sub/b.txt'), 'utf8'), 'own=@OWN@ all=from-file\n', 'a file map applies to its own file only; it wins over the job map')
  assert.equal(readFileSync(join(dir, 'c.txt'), 'utf8'), 'joblist-v joblist-vjoblist-v')
})

test('R3-1: jobs get concrete instance IDs in CIS_RESOURCE_<TYPE>; no instance is held twice at once', async () => {
  const jobs = [1, 2, 3, 4].map(i => job(`g${i}`, 'echo "$CIS_RESOURCE_GPU" > gpu.txt; sleep 0.3', { needs: { gpu: 1 } }))
  const id = await submit({ name: 'gpus', stages: [{ name: 's', jobs }] })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'succeeded')
  const spans = jl.stages[0].jobs.map((j: any, k: number) => {
    const got = readFileSync(join(workdir(jl, 0, k), 'gpu.txt'), 'utf8').trim()
    assert.deepEqual(j.resources, { gpu: [got] })
    assert.ok(['gpu0', 'gpu1'].includes(got))
    return { gpu: got, start: t(j.attempts[0].startedAt), end: t(j.attempts[0].endedAt) }
  })
  for (const x of spans) {
    for (const y of spans) {
      if (x === y || x.gpu !== y.gpu) continue
      assert.ok(x.end <= y.start || y.end <= x.start, `${x.gpu} was held by two jobs at once`)
    }
  }
})

test('R3-4: joblists start in the order they were added', async () => {
  const ids: string[] = []
  for (let i = 0; i < 4; i++) ids.push(await submit({ name: `order-${i}`, stages: [{ name: 's', jobs: [job('x', 'sleep 0.1', { needs: { gpu: 2 } })] }] }))
  const lists = await Promise.all(ids.map(async id => await waitFinal(agent.url, id)))
  const starts = lists.map(jl => t(jl.stages[0].jobs[0].attempts[0].startedAt))
  assert.deepEqual([...starts].sort((a, b) => a - b), starts)
})

test('R6-1: every job gets CIS_JOBLIST_ID, CIS_JOBLIST_NAME, CIS_JOB_ID, CIS_JOB_NAME, CIS_ATTEMPT, CIS_NODE, CIS_ADDR, its spec\'s variables over the agent\'s, and the agent\'s others', async () => {
  const id = await submit({ name: 'envs', stages: [{ name: 's', jobs: [job('show', 'env | grep ^CIS_ | sort > env.txt; echo "$MODE" >> env.txt', { env: { MODE: 'release' } })] }] })
  const jl = await waitFinal(agent.url, id)
  const env = Object.fromEntries(readFileSync(join(workdir(jl, 0, 0), 'env.txt'), 'utf8').trim().split('\n').filter(l => l.includes('=')).map(l => l.split(/=(.*)/s).slice(0, 2)))
  assert.equal(env.CIS_JOBLIST_ID, id)
  assert.equal(env.CIS_JOBLIST_NAME, 'envs')
  assert.equal(env.CIS_JOB_ID, jl.stages[0].jobs[0].id)
  assert.equal(env.CIS_JOB_NAME, 'show')
  assert.equal(env.CIS_ATTEMPT, '1')
  assert.equal(env.CIS_NODE, 'solo')
  assert.equal(env.CIS_ADDR, agent.url)
  assert.match(env.CIS_RESOURCE_SLOT, /^slot\d$/)
  assert.equal(env.CIS_TEST_AGENT_VAR, 'from the agent')
  assert.ok(readFileSync(join(workdir(jl, 0, 0), 'env.txt'), 'utf8').trim().endsWith('\nrelease'), 'the spec\'s MODE, not the agent\'s')
})

test('retries: a failing job is tried again and the joblist succeeds on the second attempt', async () => {
  const id = await submit({ name: 'flaky', stages: [{ name: 's', jobs: [job('f', '[ "$CIS_ATTEMPT" -ge 2 ]', { retries: 2 })] }] })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'succeeded')
  assert.deepEqual(jl.stages[0].jobs[0].attempts.map((a: any) => a.state), ['failed', 'succeeded'])
})

test('a failing job fails the joblist, shows its exit code and output tail, and later stages do not run', async () => {
  const id = await submit({ name: 'broken', stages: [{ name: 's', jobs: [job('bad', 'echo "it broke" >&2; exit 3')] }, { name: 'never', jobs: [job('n', 'true')] }] })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'failed')
  const a = jl.stages[0].jobs[0].attempts[0]
  assert.equal(a.exitCode, 3)
  assert.match(a.tail, /it broke/)
  assert.equal(jl.stages[1].jobs[0].state, 'stopped')
  assert.equal(jl.stages[1].jobs[0].attempts.length, 0)
})

test('timeout: a job past its timeout is ended with its whole process group', async () => {
  const id = await submit({ name: 'slow', stages: [{ name: 's', jobs: [job('sleepy', 'sleep 30 & echo $! > child.pid; wait', { timeout: '1s' })] }] })
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'failed')
  const a = jl.stages[0].jobs[0].attempts[0]
  assert.match(a.reason, /timed out/)
  const child = Number(readFileSync(join(workdir(jl, 0, 0), 'child.pid'), 'utf8'))
  await waitFor('the background child to be gone', () => { try { process.kill(child, 0); return false } catch { return true } }, 10_000)
})

test('R4-2: stop of a running joblist ends its processes and marks it stopped', async () => {
  const id = await submit({ name: 'to-stop', stages: [{ name: 's', jobs: [job('long', 'echo $$ > me.pid; sleep 60')] }, { name: 'later', jobs: [job('x', 'true')] }] })
  await waitFor('the job to run', async () => (await api(agent.url, `/v1/joblists/${id}`)).body.stages[0].jobs[0].state === 'running')
  const r = await api(agent.url, `/v1/joblists/${id}/stop`, { method: 'POST' })
  assert.equal(r.status, 202)
  const jl = await waitFinal(agent.url, id)
  assert.equal(jl.state, 'stopped')
  assert.equal(jl.stages[0].jobs[0].state, 'stopped')
  assert.equal(jl.stages[1].jobs[0].attempts.length, 0)
  const again = await api(agent.url, `/v1/joblists/${id}/stop`, { method: 'POST' })
  assert.equal(again.status, 409)
})

test('R4-4: every finished joblist and its jobs are appended to joblists.log', async () => {
  const id = await submit({ name: 'logged', stages: [{ name: 's', jobs: [job('one', 'true'), job('two', 'true')] }] })
  await waitFinal(agent.url, id)
  const line = await waitFor('the joblists.log line', () => readFileSync(join(agent.dataDir, 'joblists.log'), 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l)).find((l: any) => l.id === id))
  assert.equal(line.state, 'succeeded')
  assert.deepEqual(line.stages[0].jobs.map((j: any) => [j.name, j.state]), [['one', 'succeeded'], ['two', 'succeeded']])
})

test('logs: stdout and stderr of an attempt are kept and served', async () => {
  const id = await submit({ name: 'out', stages: [{ name: 's', jobs: [job('talk', 'echo to-out; echo to-err >&2')] }] })
  const jl = await waitFinal(agent.url, id)
  const r = await api(agent.url, `/v1/jobs/${jl.stages[0].jobs[0].id}/logs`)
  assert.equal(r.body.stdout, 'to-out\n')
  assert.equal(r.body.stderr, 'to-err\n')
  const chunk = await api(agent.url, `/v1/jobs/${jl.stages[0].jobs[0].id}/logs?stream=stdout&offset=3`)
  assert.equal(chunk.body, 'out\n')
  assert.equal(chunk.headers.get('x-cis-done'), 'true')
})

test('bad input: validation errors name the path; YAML bodies work; traversal, unknown IDs and huge bodies are refused', async () => {
  const bad = await api(agent.url, '/v1/joblists', { body: { name: 'x', stages: [{ name: 's', jobs: [{ name: 'j' }] }] } })
  assert.equal(bad.status, 400)
  assert.equal(bad.body.code, 'ERR_SPEC_INVALID')
  assert.ok(bad.body.details.some((d: any) => d.path === 'stages[0].jobs[0].run'), JSON.stringify(bad.body))

  const trav = await api(agent.url, '/v1/joblists', { body: { name: 'x', stages: [{ name: 's', jobs: [job('j', 'true', { files: [{ path: '../escape', content: 'x' }] })] }] } })
  assert.equal(trav.status, 400)
  assert.ok(trav.body.details.some((d: any) => d.path.endsWith('files[0].path')))
  const abs = await api(agent.url, '/v1/joblists', { body: { name: 'x', stages: [{ name: 's', jobs: [job('j', 'true', { files: [{ path: '/etc/passwd', content: 'x' }] })] }] } })
  assert.equal(abs.status, 400)

  const yaml = await api(agent.url, '/v1/joblists', { raw: 'name: from-yaml\nstages:\n  - name: s\n    jobs:\n      - name: j\n        run: "true"\n', contentType: 'application/yaml' })
  assert.equal(yaml.status, 201)
  const badYaml = await api(agent.url, '/v1/joblists', { raw: 'name: [unclosed', contentType: 'application/yaml' })
  assert.equal(badYaml.status, 400)

  const none = await api(agent.url, '/v1/joblists/no-such-thing')
  assert.equal(none.status, 404)
  assert.equal(none.body.code, 'ERR_NOT_FOUND')

  const unsat = await api(agent.url, '/v1/joblists', { body: { name: 'x', stages: [{ name: 's', jobs: [job('j', 'true', { needs: { tpu: 1 } })] }] } })
  assert.equal(unsat.status, 422)
  assert.match(unsat.body.details[0].message, /tpu:1/)

  // (The exact 413 and its code are checked without sockets in test/shell/api.test.ts.)
  const huge = await postHuge(agent.url, 5 * 1024 * 1024)
  assert.ok(huge === 413 || huge === 'closed while sending', `a huge body is refused (got ${String(huge)})`)

  const health = await api(agent.url, '/v1/health')
  assert.equal(health.body.ok, true, 'the node keeps running')
})

test('nodes: the node lists itself as alive master with its resources', async () => {
  const r = await api(agent.url, '/v1/nodes')
  assert.equal(r.body.nodes.length, 1)
  const n = r.body.nodes[0]
  assert.equal(n.name, 'solo')
  assert.equal(n.self, true)
  assert.equal(n.master, true)
  assert.equal(n.alive, true)
  assert.deepEqual(n.resources.gpu, ['gpu0', 'gpu1'])
  assert.equal(n.resources.slot.length, 4)
})
