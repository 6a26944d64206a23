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
import { api, cleanup, sleep, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
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
