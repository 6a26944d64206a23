// P-5: the live stream's contract on real agents: a snapshot first, then numbered changes;
// filters; resuming with Last-Event-ID (exactly what was missed) or, when that cannot be
// done, a fresh snapshot; a client's copy equals GET /v1/joblists after a storm of changes,
// a dropped connection and a master change; `cis watch --json`; `cis logs -f` and
// `cis submit --wait` follow streams instead of polling (counted by a proxy).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { Agent as HttpAgent, createServer, get as httpGet, request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LiveClient } from '../../src/live/client.js'
import { readSse } from '../../src/live/sse.js'
import type { SseEvent } from '../../src/live/sse.js'
import { api, CIS, cleanup, ROOT, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import type { Agent } from '../helpers/agent.js'
import { startCluster, waitForMaster, waitForMembers } from '../helpers/cluster.js'

const job = (name: string, run = 'true'): unknown => ({ name, stages: [{ name: 's', jobs: [{ name: 'j', run, needs: {} }] }] })

/** Read SSE messages from `path` until `until` says stop (bounded); then drop the connection. */
async function collect (url: string, path: string, until: (got: SseEvent[]) => boolean, headers: Record<string, string> = {}, onFirst?: () => void): Promise<SseEvent[]> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), 20_000)
  const got: SseEvent[] = []
  try {
    const res = await fetch(url + path, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal })
    assert.equal(res.status, 200, await (res.status === 200 ? Promise.resolve('') : res.text()))
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
    for await (const m of readSse(res.body as ReadableStream<Uint8Array>, ctrl.signal)) {
      got.push(m)
      if (got.length === 1) onFirst?.()
      if (until(got)) break
    }
  } catch (err) {
    if (!ctrl.signal.aborted) throw err
    throw new Error(`timed out reading ${path}; got ${got.map(m => m.event).join(',')}`)
  } finally {
    clearTimeout(timer)
    ctrl.abort()
  }
  return got
}

/** The joblists as GET /v1/joblists lists them, by ID. */
async function apiJoblists (url: string): Promise<Map<string, unknown>> {
  const list = (await api(url, '/v1/joblists')).body.joblists as Array<{ id: string }>
  return new Map(list.map(j => [j.id, j]))
}

async function copyEqualsApi (client: LiveClient, url: string): Promise<void> {
  // Once the work has ended nothing changes any more: then the copy must be exactly the API's.
  await waitFor('every joblist to end', async () => [...(await apiJoblists(url)).values()].every(j => ['succeeded', 'failed', 'stopped'].includes((j as { state: string }).state)), 60_000, 100)
  await waitFor('the live copy to equal GET /v1/joblists', async () => {
    const want = await apiJoblists(url)
    if (want.size !== client.copy.joblists.size) return false
    for (const [id, j] of want) if (JSON.stringify(client.copy.joblists.get(id)) !== JSON.stringify(j)) return false
    return true
  }, 30_000, 100)
  // And once more, stated: the same joblists, field for field.
  assert.deepEqual(new Map([...client.copy.joblists].map(([k, v]) => [k, v as unknown])), await apiJoblists(url))
}

/** A LiveClient whose current connection the test can cut (to force a reconnect). */
function cuttable (url: string): { client: LiveClient, cut: () => void, opened: () => number } {
  let current: AbortController | undefined
  let opens = 0
  const client = new LiveClient({
    base: url,
    open: async (path, headers, signal) => {
      opens++
      current = new AbortController()
      const both = AbortSignal.any([signal, current.signal])
      const res = await fetch(url + path, { headers: { accept: 'text/event-stream', ...headers }, signal: both })
      if (!res.ok || res.body === null) throw new Error(`${res.status}`)
      return res.body
    }
  })
  return { client, cut: () => current?.abort(), opened: () => opens }
}

test('P-5: the stream starts with a snapshot, then one numbered change per change; filters; bad filters are 4xx', async () => {
  const agent = await startAgent({ args: ['--resource', 'slot=4'] })
  try {
    const first = (await api(agent.url, '/v1/joblists', { body: job('before') })).body.id as string
    await waitFor('before to end', async () => (await api(agent.url, `/v1/joblists/${first}`)).body.state === 'succeeded')
    let subscribed = false
    const reading = collect(agent.url, '/v1/events', got => got.some(m => m.event === 'change' && m.data.includes('"name":"after"') && m.data.includes('"state":"succeeded"')), {}, () => { subscribed = true })
    await waitFor('the snapshot to arrive', () => subscribed)
    const second = (await api(agent.url, '/v1/joblists', { body: job('after') })).body.id as string
    const got = await reading
    assert.equal(got[0].event, 'snapshot')
    const snap = JSON.parse(got[0].data)
    assert.ok(Array.isArray(snap.joblists) && Array.isArray(snap.nodes) && Array.isArray(snap.schedules))
    assert.ok(snap.joblists.some((j: { id: string }) => j.id === first), 'the snapshot has what was there')
    const changes = got.slice(1)
    assert.ok(changes.length > 0 && changes.every(m => m.event === 'change' && m.id !== null))
    const nums = got.map(m => Number((m.id ?? '').split('-')[1]))
    for (let i = 1; i < nums.length; i++) assert.ok(nums[i] > nums[i - 1], 'IDs increase')
    assert.ok(changes.some(m => JSON.parse(m.data).joblist?.id === second))

    // ?topic=nodes: only nodes.
    const nodesOnly = await collect(agent.url, '/v1/events?topic=nodes', got => got.length >= 1)
    assert.deepEqual(Object.keys(JSON.parse(nodesOnly[0].data)).sort(), ['nodes', 'self'])
    // ?joblist=ID: that joblist in full.
    const one = await collect(agent.url, `/v1/events?joblist=${second}`, got => got.length >= 1)
    assert.equal(JSON.parse(one[0].data).joblist.id, second)
    assert.ok(Array.isArray(JSON.parse(one[0].data).joblist.stages), 'in full, with its stages')
    assert.equal((await api(agent.url, '/v1/events?topic=bogus')).status, 400)
    assert.equal((await api(agent.url, '/v1/events?joblist=nope-1')).status, 404)
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
  }
})

test('P-5: a reconnect with Last-Event-ID gets exactly what it missed; an ID that cannot be resumed (another run of the agent) gets a fresh snapshot', async () => {
  let agent: Agent = await startAgent({ args: ['--resource', 'slot=4'] })
  const dataDir = agent.dataDir
  try {
    const start = await collect(agent.url, '/v1/events?topic=joblists', got => got.length >= 1)
    const lastId = start[0].id as string
    const ids: string[] = []
    for (let i = 0; i < 5; i++) ids.push((await api(agent.url, '/v1/joblists', { body: job(`missed-${i}`) })).body.id as string)
    await waitFor('all five to end', async () => { const all = await apiJoblists(agent.url); return ids.every(id => (all.get(id) as { state: string } | undefined)?.state === 'succeeded') })
    const resumed = await collect(agent.url, '/v1/events?topic=joblists', got => ids.every(id => got.some(m => JSON.parse(m.data).joblist?.id === id && JSON.parse(m.data).joblist.state === 'succeeded')), { 'last-event-id': lastId })
    assert.ok(resumed.every(m => m.event === 'change'), 'no snapshot: the missed changes only')
    assert.ok(Number((resumed[0].id ?? '').split('-')[1]) > Number(lastId.split('-')[1]), 'starting after the last one seen')
    assert.equal(resumed[0].id?.split('-')[0], lastId.split('-')[0], 'from the same run of the agent')
    // After a restart of the agent, an ID from its earlier run cannot be resumed: a snapshot.
    await agent.stop()
    agent = await startAgent({ dataDir, args: ['--resource', 'slot=4'] })
    const fresh = await collect(agent.url, '/v1/events?topic=joblists', got => got.length >= 1, { 'last-event-id': resumed[resumed.length - 1].id as string })
    assert.equal(fresh[0].event, 'snapshot')
    assert.ok(ids.every(id => JSON.parse(fresh[0].data).joblists.some((j: { id: string }) => j.id === id)), 'nothing is lost: the snapshot has it all')
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('P-5: the live copy equals GET /v1/joblists after a storm of changes, a dropped connection and a master change', async () => {
  const c = await startCluster([{ name: 'l1', priority: 30, args: ['--resource', 'slot=4'] }, { name: 'l2', priority: 20, args: ['--resource', 'slot=4'] }, { name: 'l3', priority: 10, args: ['--resource', 'slot=4'] }])
  const { client, cut, opened } = cuttable(c.agents[1].url)
  const running = client.run()
  try {
    const [l1, l2, l3] = c.agents
    await waitForMaster(c.agents, 'l1')
    await waitFor('the snapshot', () => client.copy.snapshots === 1)
    // A storm: 40 joblists at once, some failing, through every agent.
    const storm = async (tag: string): Promise<void> => {
      await Promise.all(Array.from({ length: 40 }, async (_, i) => {
        const via = c.agents.filter(a => a.proc.exitCode === null && a.proc.signalCode === null)[i % 2]
        await api(via.url, '/v1/joblists', { body: job(`${tag}-${i}`, i % 7 === 0 ? 'exit 3' : 'sleep 0.05') })
      }))
    }
    await storm('a')
    cut() // mid-storm: the client reconnects with Last-Event-ID
    await storm('b')
    await copyEqualsApi(client, l2.url)
    assert.ok(opened() >= 2, 'it reconnected')
    assert.equal(client.copy.snapshots, 1, 'and resumed, without a second snapshot')
    // The master goes; the copy shows the new one, and stays equal through more work.
    await l1.kill()
    await waitForMembers([l2, l3], 2)
    await waitForMaster([l2, l3], 'l2')
    await waitFor('the copy to show the new master', () => client.copy.master()?.name === 'l2' && client.copy.nodes.find(n => n.name === 'l1')?.alive === false)
    await storm('c')
    await copyEqualsApi(client, l2.url)
  } finally {
    client.close()
    await running.catch(() => {})
    await c.stopAll()
  }
})

/** A transparent HTTP proxy that counts requests by path (without the query). */
async function countingProxy (target: string): Promise<{ url: string, counts: Map<string, number>, close: () => Promise<void> }> {
  const counts = new Map<string, number>()
  const to = new URL(target)
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    counts.set(`${req.method ?? 'GET'} ${path}`, (counts.get(`${req.method ?? 'GET'} ${path}`) ?? 0) + 1)
    const up = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, r => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counts, close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) } }
}

async function cis (args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const p = spawn(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
  const code = await new Promise<number | null>(resolve => p.on('exit', c => resolve(c)))
  clearTimeout(t)
  return { code, stdout, stderr }
}

test('P-5: cis logs -f and cis submit --wait follow streams, one request each, no polling; cis watch --json prints the stream', async () => {
  const agent = await startAgent({ args: ['--resource', 'slot=4'] })
  const proxy = await countingProxy(agent.url)
  const dir = tempDir()
  try {
    const file = join(dir, 'talk.yaml')
    writeFileSync(file, 'name: talk\nstages:\n  - name: s\n    jobs:\n      - name: j\n        needs: {}\n        run: for i in 1 2 3 4; do echo line $i; sleep 0.4; done\n')
    const waited = await cis(['submit', file, '--wait', '--addr', proxy.url])
    assert.equal(waited.code, 0, waited.stderr)
    assert.match(waited.stderr, /succeeded/)
    assert.equal(proxy.counts.get('POST /v1/joblists'), 1)
    assert.equal(proxy.counts.get('GET /v1/events'), 1, 'submit --wait: one stream')
    assert.equal([...proxy.counts.keys()].filter(k => k.startsWith('GET /v1/joblists/')).length, 0, 'no polling of the joblist')

    const id = (await api(agent.url, '/v1/joblists', { body: { name: 'talk2', stages: [{ name: 's', jobs: [{ name: 'j', needs: {}, run: 'for i in 1 2 3 4; do echo line $i; sleep 0.4; done' }] }] } })).body.id as string
    const followed = await cis(['logs', '-f', `${id}.1`, '--addr', proxy.url])
    assert.equal(followed.code, 0, followed.stderr)
    assert.equal(followed.stdout, 'line 1\nline 2\nline 3\nline 4\n')
    assert.equal(proxy.counts.get(`GET /v1/jobs/${id}.1/logs`), 1, 'logs -f: one stream')

    // cis watch --json: the snapshot, then changes, as JSON lines.
    const p = spawn(process.execPath, [CIS, 'watch', '--json', '--addr', agent.url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => { out += d.toString() })
    try {
      await waitFor('the snapshot line', () => out.includes('"event":"snapshot"'))
      const later = (await api(agent.url, '/v1/joblists', { body: job('watched') })).body.id as string
      await waitFor('its change line', () => out.split('\n').some(l => l.includes('"event":"change"') && l.includes(later)))
      const lines = out.trim().split('\n').map(l => JSON.parse(l) as { event: string, id: string })
      assert.equal(lines[0].event, 'snapshot')
      assert.ok(lines.slice(1).every(l => l.event === 'change' && typeof l.id === 'string'))
    } finally {
      p.kill('SIGTERM')
    }
  } finally {
    await proxy.close()
    await agent.stop()
    cleanup(agent.dataDir)
    cleanup(dir)
  }
})

/** Follow an SSE stream in the background: its messages as they come, and how it ended ('ended': the server ended it; else the error). */
function follow (url: string, path: string): { got: SseEvent[], end: Promise<string>, stop: () => void } {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), 60_000)
  const got: SseEvent[] = []
  const end = (async () => {
    try {
      const res = await fetch(url + path, { headers: { accept: 'text/event-stream' }, signal: ctrl.signal })
      if (res.status !== 200) return `status ${res.status}`
      for await (const m of readSse(res.body as ReadableStream<Uint8Array>, ctrl.signal)) got.push(m)
      return ctrl.signal.aborted ? 'aborted' : 'ended'
    } catch (err) {
      return ctrl.signal.aborted ? 'aborted' : `failed: ${(err as Error).message} (${String((err as { cause?: Error }).cause?.message ?? '')})`
    } finally {
      clearTimeout(timer)
    }
  })()
  return { got, end, stop: () => ctrl.abort() }
}

test('D-3, P-5: an agent stops gracefully while clients follow the live stream and a running job\'s output: both streams end, it exits 0, and the job recorded lost runs again after the restart', async () => {
  const dataDir = tempDir()
  let agent = await startAgent({ name: 'followed', dataDir, args: ['--resource', 'slot=2'] })
  const streams: Array<ReturnType<typeof follow>> = []
  try {
    const id = (await api(agent.url, '/v1/joblists', { body: job('followed', '[ "$CIS_ATTEMPT" -ge 2 ] || { echo started; sleep 60; }') })).body.id as string
    const live = follow(agent.url, '/v1/events')
    const output = follow(agent.url, `/v1/jobs/${id}.1/logs?follow=true`)
    streams.push(live, output)
    await waitFor('the live stream\'s snapshot', () => live.got.some(m => m.event === 'snapshot'))
    await waitFor('the job\'s first output line', () => output.got.some(m => m.event === 'output' && m.data.includes('started')))
    await agent.stop()
    // Before, the API's close waited for these clients: the agent was killed after its grace, exit 1, its jobs never recorded.
    assert.equal(agent.proc.signalCode, null, 'the agent exited by itself, it was not killed')
    assert.equal(agent.proc.exitCode, 0, agent.output().slice(-2000))
    assert.equal(await live.end, 'ended', 'the agent ended the live stream')
    assert.equal(await output.end, 'ended', 'the agent ended the followed output')
    assert.ok(!output.got.some(m => m.event === 'end'), 'the job did not end: its stream was cut by the stop, without an end message')
    agent = await startAgent({ name: 'followed', dataDir, args: ['--resource', 'slot=2'] })
    const jl = await waitFinal(agent.url, id)
    assert.equal(jl.state, 'succeeded')
    assert.deepEqual(jl.stages[0].jobs[0].attempts.map((a: { state: string }) => a.state), ['lost', 'succeeded'])
  } finally {
    for (const s of streams) s.stop()
    await agent.stop()
    cleanup(dataDir)
  }
})

test('P-5, D-3: cis submit --wait says when its agent goes away, follows on when it is back on the same address, and exits 0 when the joblist succeeds', async () => {
  const dataDir = tempDir()
  const dir = tempDir()
  let agent = await startAgent({ name: 'comeback', dataDir, args: ['--resource', 'slot=1'] })
  const addr = agent.url.replace('http://', '')
  let p: ReturnType<typeof spawn> | undefined
  try {
    const file = join(dir, 'comeback.yaml')
    // The first attempt runs until the agent stops (recorded lost); the second, after the restart, succeeds.
    writeFileSync(file, 'name: comeback\nstages:\n  - name: s\n    jobs:\n      - name: j\n        run: \'[ "$CIS_ATTEMPT" -ge 2 ] || sleep 60\'\n')
    p = spawn(process.execPath, [CIS, 'submit', file, '--wait', '--addr', agent.url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    p.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    const exited = new Promise<number | null>(resolve => p?.on('exit', c => resolve(c)))
    await waitFor('the job to run', () => /running/.test(stderr))
    await agent.stop()
    await waitFor('cis to say the connection is lost', () => stderr.includes('lost the connection'))
    assert.match(stderr, /cis status [a-z0-9]+-\d+/, 'it says what to do next')
    agent = await startAgent({ name: 'comeback', dataDir, api: addr, args: ['--resource', 'slot=1'] })
    let timer: NodeJS.Timeout | undefined
    const code = await Promise.race([exited, new Promise<string>(resolve => { timer = setTimeout(() => resolve('timeout'), 60_000) })])
    clearTimeout(timer)
    assert.equal(code, 0, stderr)
    assert.match(stderr, /connected to .* again/)
    assert.match(stderr, /succeeded/)
  } finally {
    p?.kill('SIGKILL')
    await agent.stop()
    cleanup(dataDir)
    cleanup(dir)
  }
})

/** A GET over `agent` (a keep-alive pool): its status, or the error that ended it. */
async function getVia (agent: HttpAgent, url: string): Promise<number | string> {
  return await new Promise(resolve => {
    const req = httpGet(url, { agent }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', err => resolve((err as NodeJS.ErrnoException).code ?? err.message))
    req.setTimeout(20_000, () => { req.destroy(new Error('timed out')) })
  })
}

test('D-3, P-5: a followed output whose client reads slowly as the agent stops: the stream ends with its connection (a request sent on it next gets no 503) and the agent exits 0', async () => {
  const dataDir = tempDir()
  const agent = await startAgent({ name: 'slow-reader', dataDir, args: ['--resource', 'slot=1'] })
  const pool = new HttpAgent({ keepAlive: true, maxSockets: 1 })
  let res: IncomingMessage | undefined
  try {
    // 20 MB of output: more than the socket buffers hold, so the follower waits on the paused client.
    const id = (await api(agent.url, '/v1/joblists', { body: job('big', 'head -c 20000000 /dev/zero | tr "\\0" x; echo written >&2; sleep 60') })).body.id as string
    await waitFor('the output written', async () => (await (await fetch(`${agent.url}/v1/jobs/${id}.1/logs?stream=stderr`)).text()).includes('written'))
    let got = 0
    let paused = false
    const ended = new Promise<string>(resolve => {
      httpGet(`${agent.url}/v1/jobs/${id}.1/logs?follow=true`, { agent: pool, headers: { accept: 'text/event-stream' } }, r => {
        res = r
        // (Paused at the first chunk, until the agent is stopping.)
        r.on('data', (d: Buffer) => { got += d.length; if (!paused) { paused = true; r.pause() } })
        r.on('end', () => resolve('end'))
        r.on('error', err => resolve(err.message))
        r.on('close', () => resolve('close'))
      }).on('error', err => resolve(err.message))
    })
    await waitFor('the first output', () => got > 0)
    const stopping = agent.stop()
    // The API is closing once it no longer takes connections (its streams were told to end before).
    await waitFor('the agent to stop listening', async () => typeof await getVia(new HttpAgent({ keepAlive: false }), `${agent.url}/v1/health`) === 'string')
    res?.resume()
    await ended
    // Before, the follower ended its answer after the server's sweep of idle connections: the
    // connection stayed, and the client's next request on it got a 503 (cis logs -f gave up).
    const next = await getVia(pool, `${agent.url}/v1/health`)
    assert.equal(typeof next, 'string', `the next request on that connection got HTTP ${String(next)}`)
    await stopping
    assert.equal(agent.proc.signalCode, null, 'the agent exited by itself')
    assert.equal(agent.proc.exitCode, 0, agent.output().slice(-2000))
  } finally {
    res?.destroy()
    pool.destroy()
    await agent.stop()
    cleanup(dataDir)
  }
})
