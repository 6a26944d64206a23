// Issue 11 (D-2, P-6, S-5), end to end: webhooks from real agents to a receiver on
// 127.0.0.1. Signed per Standard Webhooks with every configured secret; retried with the same
// webhook-id until a 2xx; Retry-After honoured; a 410 disables the subscription; a host not in
// notify.allowHosts is refused at submit; after a SIGKILL of the master the new master sends
// what was not recorded as delivered.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, api, cleanup, sleep, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import { execFile } from 'node:child_process'
import { startCluster, waitForMaster } from '../helpers/cluster.js'

const NEW_KEY = Buffer.from('the-new-signing-key-of-this-test')
const OLD_SECRET = 'an old plain secret'
const SECRETS = [`whsec_${NEW_KEY.toString('base64')}`, OLD_SECRET]

interface Hit { path: string, id: string, timestamp: string, signature: string, body: any, arrived: number, answered?: number, status?: number }

/** The receiver: per path, a function of the request number (1-based) → status and headers. */
const hits: Hit[] = []
const script = new Map<string, (n: number) => { status: number, headers?: Record<string, string> }>()
let server: Server
let base = ''
let dir = ''
let configFile = ''
let agent: Agent | undefined

function verified (h: Hit, raw: string): boolean {
  const sigs = h.signature.split(' ')
  const expect = [NEW_KEY, Buffer.from(OLD_SECRET)].map(k => `v1,${createHmac('sha256', k).update(`${h.id}.${h.timestamp}.${raw}`).digest('base64')}`)
  return sigs.length === 2 && expect.every(e => sigs.includes(e))
}

function receive (req: IncomingMessage, res: ServerResponse): void {
  let raw = ''
  req.on('data', (d: Buffer) => { raw += d.toString() })
  req.on('end', () => {
    const path = req.url ?? ''
    const h: Hit = { path, id: String(req.headers['webhook-id']), timestamp: String(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), body: JSON.parse(raw), arrived: Date.now() }
    if (req.headers['content-type'] !== 'application/json' || !verified(h, raw)) {
      h.status = 401
    } else {
      const n = hits.filter(x => x.path === path).length + 1
      const a = script.get(path)?.(n) ?? { status: 200 }
      h.status = a.status
      for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v)
    }
    hits.push(h)
    h.answered = Date.now()
    res.statusCode = h.status
    res.end()
  })
}

const at = (path: string): Hit[] => hits.filter(h => h.path === path)
const hook = (path: string, on?: string[]): Record<string, unknown> => ({ webhook: `${base}${path}`, ...(on !== undefined ? { on } : {}) })
const joblist = (name: string, run: string, notify: unknown[]): Record<string, unknown> => ({ name, notify, stages: [{ name: 's', jobs: [{ name: 'j', run, needs: { slot: 1 } }] }] })

async function submit (url: string, spec: Record<string, unknown>): Promise<string> {
  const r = await api(url, '/v1/joblists', { body: spec })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

async function cis (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

async function notifications (url: string, id: string): Promise<any[]> {
  return (await api(url, `/v1/notifications?joblist=${id}`)).body.notifications
}

before(async () => {
  server = createServer(receive)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  dir = tempDir('cis-notify-')
  configFile = join(dir, 'cis.yaml')
  writeFileSync(configFile, `notify:\n  secret: [${SECRETS.map(s => JSON.stringify(s)).join(', ')}]\n  allowHosts: [127.0.0.1]\n  timeout: 5s\n`)
  agent = await startAgent({ name: 'notify-node', args: ['--resource', 'slot=2', '--config', configFile] })
})

after(async () => {
  await agent?.stop()
  if (agent !== undefined) cleanup(agent.dataDir)
  cleanup(dir)
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

test('S-5: a webhook whose host is not in notify.allowHosts is refused at submit, naming the path; an email entry is refused', async () => {
  const url = (agent as Agent).url
  const r = await api(url, '/v1/joblists', { body: joblist('outside', 'true', [hook('/ok'), { webhook: 'http://192.0.2.10:8080/hook' }]) })
  assert.equal(r.status, 400)
  assert.match(r.body.error, /notify\[1\]\.webhook: host 192\.0\.2\.10:8080 is not allowed: add it to notify\.allowHosts/)
  assert.deepEqual(r.body.details.map((d: any) => d.path), ['notify[1].webhook'])
  const local = await api(url, '/v1/joblists', { body: joblist('local', 'true', [{ webhook: 'http://localhost:9/x' }]) })
  assert.equal(local.status, 400, 'loopback only if listed')
  const email = await api(url, '/v1/joblists', { body: joblist('mail', 'true', [{ email: 'ops@example.com' }]) })
  assert.equal(email.status, 400)
  assert.ok(email.body.details.some((d: any) => d.path === 'notify[0].email' && /email notifications are not enabled on this cluster: configure smtp/.test(d.message)))
})

test('P-6: 500, 500, then 200: three signed attempts with the same webhook-id; the delivery shows as delivered', async () => {
  const url = (agent as Agent).url
  script.set('/flaky', n => ({ status: n <= 2 ? 500 : 200 }))
  const id = await submit(url, joblist('flaky', 'true', [hook('/flaky', ['succeeded'])]))
  await waitFinal(url, id)
  const list = await waitFor('the delivery to be recorded as delivered', async () => {
    const l = await notifications(url, id)
    return l.length === 1 && l[0].delivered === true ? l : undefined
  }, 30_000)
  const got = at('/flaky')
  assert.deepEqual(got.map(h => h.status), [500, 500, 200])
  assert.deepEqual([...new Set(got.map(h => h.id))], [`${id}.succeeded.0`], 'the same webhook-id on every attempt')
  assert.equal(got[2].body.type, 'joblist.succeeded')
  assert.equal(got[2].body.id, `${id}.succeeded.0`)
  assert.equal(got[2].body.data.id, id)
  assert.equal(got[2].body.data.state, 'succeeded')
  assert.deepEqual(list[0].attempts.map((a: any) => [a.ok, a.status]), [[false, 500], [false, 500], [true, 200]])
  assert.equal(list[0].url, `${base}/flaky`)
  assert.equal(list[0].gaveUp, false)
  assert.equal(list[0].disabled, false)
  // The CLI shows it.
  const all = (await api(url, '/v1/notifications')).body.notifications
  assert.ok(all.some((n: any) => n.id === `${id}.succeeded.0`))
})

test('P-6: Retry-After is honoured: the next attempt comes no earlier than it says', async () => {
  const url = (agent as Agent).url
  script.set('/later', n => n === 1 ? { status: 503, headers: { 'retry-after': '2' } } : { status: 200 })
  const id = await submit(url, joblist('later', 'true', [hook('/later', ['succeeded'])]))
  await waitFinal(url, id)
  await waitFor('the second attempt', () => at('/later').length >= 2, 30_000)
  const [first, second] = at('/later')
  assert.equal(first.status, 503)
  assert.equal(second.status, 200)
  assert.ok(second.arrived - (first.answered as number) >= 2000, `${second.arrived - (first.answered as number)} ms after the 503`)
  const list = await waitFor('delivered', async () => { const l = await notifications(url, id); return l[0]?.delivered === true ? l : undefined })
  assert.equal(list[0].attempts[0].retryAfterMs, 2000)
})

test('S-5: a 410 disables the subscription: no more deliveries for it; another subscription of the joblist goes on', async () => {
  const url = (agent as Agent).url
  script.set('/gone', () => ({ status: 410 }))
  const id = await submit(url, joblist('gone', 'sleep 1', [hook('/gone'), hook('/other', ['succeeded'])]))
  await waitFinal(url, id)
  const list = await waitFor('the subscription to show as disabled and the other as delivered', async () => {
    const l = await notifications(url, id)
    const sub0 = l.filter((n: any) => n.id.endsWith('.0'))
    const sub1 = l.filter((n: any) => n.id.endsWith('.1'))
    return sub0.length === 2 && sub0.every((n: any) => n.disabled === true) && sub1.length === 1 && sub1[0].delivered === true ? l : undefined
  }, 30_000)
  assert.deepEqual(list.filter((n: any) => n.id.endsWith('.0')).map((n: any) => n.state).sort(), ['running', 'succeeded'])
  const count = at('/gone').length
  assert.ok(count >= 1 && count <= 2, `${count} requests to /gone (running, and succeeded if both were due at once)`)
  assert.ok(at('/gone').every(h => h.status === 410))
  // Longer than the first backoff: nothing more comes for the disabled subscription.
  await sleep(2500)
  assert.equal(at('/gone').length, count)
})

test('D-2: notify on a job: POST /v1/jobs with notify sends signed job.running and job.failed with the job view; a job of a joblist too', async () => {
  const url = (agent as Agent).url
  const r = await api(url, '/v1/jobs', { body: { name: 'job-hooked', run: 'exit 4', notify: [hook('/job-one')] } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  const jobId = r.body.id as string
  await waitFinal(url, r.body.joblistId)
  const list = await waitFor('both job deliveries delivered', async () => {
    const l = await notifications(url, r.body.joblistId)
    return l.length === 2 && l.every((n: any) => n.delivered === true) ? l : undefined
  }, 30_000)
  assert.deepEqual(list.map((n: any) => n.id).sort(), [`${jobId}.failed.0`, `${jobId}.running.0`])
  assert.ok(list.every((n: any) => n.subject === 'job' && n.subjectId === jobId && n.name === 'job-hooked/job-hooked'))
  const failed = at('/job-one').find(h => h.id === `${jobId}.failed.0`)
  assert.ok(failed !== undefined && failed.status === 200, 'signed and accepted by the receiver')
  assert.equal(failed.body.type, 'job.failed')
  assert.equal(failed.body.data.id, jobId)
  assert.equal(failed.body.data.state, 'failed')
  assert.match(failed.body.data.summary, /exit 4/)
  // In a joblist: only the job with notify is told, and only of the states it asks for.
  const id = await submit(url, { name: 'two-jobs', stages: [{ name: 's', jobs: [{ name: 'quiet', run: 'true' }, { name: 'loud', run: 'true', notify: [hook('/job-two', ['succeeded'])] }] }] })
  await waitFinal(url, id)
  await waitFor('the job delivery', () => at('/job-two').some(h => h.status === 200), 30_000)
  assert.deepEqual(at('/job-two').map(h => [h.id, h.body.type, h.body.data.name]), [[`${id}.2.succeeded.0`, 'job.succeeded', 'loud']])
  // A job's webhook outside allowHosts is refused at submit, at the job's path.
  const bad = await api(url, '/v1/joblists', { body: { name: 'bad-job-hook', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', notify: [{ webhook: 'http://192.0.2.10/x' }] }] }] } })
  assert.equal(bad.status, 400)
  assert.deepEqual(bad.body.details.map((d: any) => d.path), ['stages[0].jobs[0].notify[0].webhook'])
})

test('D-1/D-2: PATCH notify of a queued joblist and of its job: a kept webhook keeps its ID and history, an added one is told from then on, a removed one no more; outside allowHosts is 400', async () => {
  const url = (agent as Agent).url
  const go = join(dir, 'go-patch-notify')
  const id = await submit(url, { name: 'patched-notify', notify: [hook('/keep'), hook('/drop')], stages: [{ name: 's', jobs: [{ name: 'j', run: `while [ ! -f '${go}' ]; do sleep 0.05; done` }] }] })
  await waitFor('the running deliveries of the submitted list', () => at('/keep').some(h => h.id === `${id}.running.0` && h.status === 200) && at('/drop').some(h => h.id === `${id}.running.1`), 30_000)
  // Replace the list: keep /keep (only succeeded now), drop /drop, add /added.
  const r = await api(url, `/v1/joblists/${id}`, { method: 'PATCH', body: { notify: [hook('/added'), hook('/keep', ['succeeded'])] } })
  assert.equal(r.status, 202, JSON.stringify(r.body))
  assert.deepEqual(r.body.notify.map((n: any) => [n.webhook.replace(base, ''), n.key, n.on]), [['/added', r.body.notify[0].key, ['running', 'succeeded', 'failed', 'stopped']], ['/keep', '0', ['succeeded']]])
  assert.match(r.body.notify[0].key, /^h[0-9a-f]{8}$/)
  const addedKey = r.body.notify[0].key as string
  assert.deepEqual((await api(url, `/v1/joblists/${id}`)).body.notify.map((n: any) => n.key), [addedKey, '0'], 'the joblist view shows the list as it stands')
  // The job's own list, by PATCH /v1/jobs (and cis set --job).
  const pj = await api(url, `/v1/jobs/${id}.1`, { method: 'PATCH', body: { notify: [hook('/job-patched', ['succeeded'])] } })
  assert.equal(pj.status, 202, JSON.stringify(pj.body))
  assert.equal(pj.body.notify[0].webhook, `${base}/job-patched`)
  const outside = await api(url, `/v1/jobs/${id}.1`, { method: 'PATCH', body: { notify: [{ webhook: 'http://192.0.2.10/x' }] } })
  assert.equal(outside.status, 400)
  assert.match(outside.body.error, /notify\[0\]\.webhook: host 192\.0\.2\.10 is not allowed/)
  writeFileSync(go, '')
  await waitFinal(url, id)
  let last: unknown
  const list = await waitFor('the deliveries of the changed lists', async () => {
    const l = await notifications(url, id)
    last = l.map((n: any) => [n.id, n.delivered, n.attempts.length])
    const want = [`${id}.running.0`, `${id}.running.1`, `${id}.succeeded.0`, `${id}.succeeded.${addedKey}`]
    return want.every(w => l.some((n: any) => n.id === w && n.delivered === true)) && l.some((n: any) => n.subject === 'job' && n.delivered === true) ? l : undefined
  }, 30_000).catch(err => { throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`) })
  assert.ok(!list.some((n: any) => n.id === `${id}.running.${addedKey}`), 'the added webhook is not told of running, reached before it was added')
  assert.ok(!list.some((n: any) => n.id === `${id}.succeeded.1`), 'the dropped webhook is not told of succeeded')
  assert.deepEqual(at('/drop').map(h => h.id), [`${id}.running.1`])
  const dropped = list.find((n: any) => n.id === `${id}.running.1`)
  assert.equal(dropped.retired, true, 'a delivery of a removed subscription stays in the list for its history, marked retired')
  assert.equal(dropped.delivered, true)
  assert.deepEqual(at('/added').map(h => [h.id, h.body.type]), [[`${id}.succeeded.${addedKey}`, 'joblist.succeeded']])
  assert.deepEqual(at('/job-patched').map(h => [h.body.type, h.body.data.id]), [['job.succeeded', `${id}.1`]])
  assert.equal(at('/keep').filter(h => h.id === `${id}.running.0`).length, 1, 'the kept webhook is not told of running again')
})

test('D-1: cis set --webhook/--email/--on/--no-notify changes a joblist\'s notify list; --job a job\'s; bad flags exit 2', async () => {
  const url = (agent as Agent).url
  const go = join(dir, 'go-cli-notify')
  const id = await submit(url, { name: 'cli-notify', stages: [{ name: 's', jobs: [{ name: 'j', run: `while [ ! -f '${go}' ]; do sleep 0.05; done` }] }] })
  const set = await cis(['set', id, '--webhook', `${base}/cli`, '--on', 'succeeded,failed', '--addr', url])
  assert.equal(set.code, 0, set.stderr)
  assert.match(set.stdout, new RegExp(`joblist ${id}: priority 0, tags \\(none\\), notify ${base}/cli on succeeded,failed`))
  const job = JSON.parse((await cis(['set', `${id}.1`, '--job', '--webhook', `${base}/cli-job`, '--json', '--addr', url])).stdout)
  assert.equal(job.id, `${id}.1`)
  assert.deepEqual(job.notify.map((n: any) => n.webhook), [`${base}/cli-job`])
  const onAlone = await cis(['set', id, '--on', 'failed', '--addr', url])
  assert.equal(onAlone.code, 2)
  assert.match(onAlone.stderr, /--on and --digest apply to the --webhook and --email given/)
  const jobPriority = await cis(['set', `${id}.1`, '--job', '--priority', '3', '--addr', url])
  assert.equal(jobPriority.code, 2)
  assert.match(jobPriority.stderr, /leave out --job/)
  const outside = await cis(['set', id, '--webhook', 'http://192.0.2.10/x', '--addr', url])
  assert.equal(outside.code, 2, 'refused input: exit 2')
  assert.match(outside.stderr, /not allowed: add it to notify.allowHosts/)
  const cleared = JSON.parse((await cis(['set', `${id}.1`, '--job', '--no-notify', '--json', '--addr', url])).stdout)
  assert.deepEqual(cleared.notify, [])
  writeFileSync(go, '')
  await waitFinal(url, id)
  await waitFor('the delivery to /cli', () => at('/cli').some(h => h.status === 200), 30_000)
  assert.deepEqual(at('/cli').map(h => h.body.type), ['joblist.succeeded'])
  assert.deepEqual(at('/cli-job'), [], 'the job\'s list was cleared before it ended')
})

test('D-2: SIGKILL the master while deliveries are due: the new master delivers each at least once, with the same webhook-ids', async () => {
  let open = false
  script.set('/takeover-a', () => ({ status: open ? 200 : 500 }))
  script.set('/takeover-b', () => ({ status: open ? 200 : 500 }))
  const c = await startCluster([{ name: 'n-master', priority: 2 }, { name: 'n-next', priority: 1 }], ['--config', configFile, '--resource', 'slot=1'])
  try {
    const [m, next] = c.agents
    await waitForMaster(c.agents, 'n-master')
    const id = await submit(next.url, joblist('takeover', 'true', [hook('/takeover-a'), hook('/takeover-b', ['succeeded', 'failed'])]))
    await waitFinal(next.url, id)
    const ids = [`${id}.running.0`, `${id}.succeeded.0`, `${id}.succeeded.1`]
    await waitFor('every delivery to be attempted by the first master', () => ids.every(x => hits.some(h => h.id === x)), 30_000)
    await waitFor('the follower to see the failed attempts', async () => (await notifications(next.url, id)).every((n: any) => n.attempts.length >= 1) || undefined, 30_000)
    await m.kill()
    await waitForMaster([next], 'n-next')
    open = true
    const list = await waitFor('every delivery to be delivered by the new master', async () => {
      const l = await notifications(next.url, id)
      return l.length === 3 && l.every((n: any) => n.delivered === true) ? l : undefined
    }, 40_000)
    assert.deepEqual(list.map((n: any) => n.id).sort(), [...ids].sort())
    for (const x of ids) {
      assert.ok(hits.some(h => h.id === x && h.status === 200), `${x} answered 200 at least once`)
      assert.ok(hits.filter(h => h.id === x).length >= 2, `${x}: a failed attempt before the takeover, then the delivery`)
    }
  } finally {
    await c.stopAll()
  }
})

test('D-2: the whole cluster restarts while deliveries are due: after the restart each is delivered at least once, with the same webhook-ids', async () => {
  let open = false
  script.set('/restart', () => ({ status: open ? 200 : 500 }))
  const c = await startCluster([{ name: 'r-one', priority: 2 }, { name: 'r-two', priority: 1 }], ['--config', configFile, '--resource', 'slot=1'])
  try {
    await waitForMaster(c.agents, 'r-one')
    const id = await submit(c.agents[1].url, joblist('restarted', 'true', [hook('/restart', ['succeeded'])]))
    await waitFinal(c.agents[1].url, id)
    const wanted = `${id}.succeeded.0`
    await waitFor('a failed attempt before the stop', () => hits.some(h => h.id === wanted && h.status === 500), 30_000)
    // Every agent stops; the receiver then starts to accept; the agents come back on their data.
    for (const a of c.agents) await a.stop()
    open = true
    const again = [await c.agents[0].restart()]
    again.push(await c.agents[1].restart())
    await waitForMaster(again, 'r-one')
    const list = await waitFor('the delivery after the restart', async () => {
      const l = await notifications(again[1].url, id)
      return l.length === 1 && l[0].delivered === true ? l : undefined
    }, 40_000)
    assert.equal(list[0].id, wanted)
    assert.ok(hits.some(h => h.id === wanted && h.status === 200), 'delivered with the same webhook-id')
  } finally {
    await c.stopAll()
  }
})
