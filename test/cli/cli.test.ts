// The real `cis` executable against a real agent (and against fake servers for P-7).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { defaultOwner } from '../../src/cli/owner.js'
import { table } from '../../src/cli/format.js'
import { VERSION } from '../../src/version.js'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, cleanup, startAgent, tempDir } from '../helpers/agent.js'

interface Run { code: number, stdout: string, stderr: string }

async function cis (args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = []): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [...nodeArgs, CIS, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

let agent: Agent
before(async () => { agent = await startAgent({ name: 'cli-node', args: ['--resource', 'slot=2'] }) })
after(async () => { await agent.stop(); cleanup(agent.dataDir) })

test('cis submit --wait runs an example to success and exits 0; --json gives the final joblist', async () => {
  const r = await cis(['submit', 'examples/pipeline.yaml', '--wait', '--addr', agent.url])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout.trim(), /^[0-9a-z]{4}-\d+$/)
  assert.match(r.stderr, /succeeded/)
  const j = await cis(['submit', 'examples/hello.yaml', '--wait', '--json', '--addr', agent.url])
  assert.equal(j.code, 0)
  const jl = JSON.parse(j.stdout)
  assert.equal(jl.state, 'succeeded')
  assert.equal(jl.name, 'hello')
})

test('cis submit --wait exits 1 when the joblist fails and shows why', async () => {
  const dir = tempDir()
  const file = join(dir, 'fail.yaml')
  writeFileSync(file, 'name: doomed\nstages:\n  - name: s\n    jobs:\n      - name: boom\n        run: echo kaput >&2; exit 4\n')
  const r = await cis(['submit', file, '--wait', '--addr', agent.url])
  cleanup(dir)
  assert.equal(r.code, 1)
  assert.match(r.stderr, /boom .*failed: exit code 4/)
  assert.match(r.stderr, /kaput/)
})

test('cis submit of an invalid file exits 2 and names every problem; cis validate does the same offline', async () => {
  const dir = tempDir()
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, 'name: bad\nstages:\n  - name: s\n    jobs:\n      - name: j\n        runn: x\n')
  const r = await cis(['submit', file, '--addr', agent.url])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /stages\[0\]\.jobs\[0\]\.run: required/)
  assert.match(r.stderr, /unknown field 'runn' \(did you mean 'run'\?\)/)
  const v = await cis(['validate', file, '--json'])
  assert.equal(v.code, 2)
  assert.equal(JSON.parse(v.stdout).code, 'ERR_SPEC_INVALID')
  const ok = await cis(['validate', 'examples/pipeline.yaml'])
  assert.equal(ok.code, 0)
  assert.match(ok.stdout, /ok: pipeline: 3 stage\(s\), 5 job\(s\)/)
  cleanup(dir)
})

test('cis status lists joblists; by name shows stages and jobs; --json parses; R1-7', async () => {
  const list = await cis(['status', '--addr', agent.url])
  assert.equal(list.code, 0)
  assert.match(list.stdout, /ID\s+NAME\s+STATE/)
  assert.match(list.stdout, /pipeline\s+succeeded/)
  assert.match(list.stdout, /failed joblist/, 'failures are shown prominently')
  const one = await cis(['status', 'pipeline', '--addr', agent.url])
  assert.match(one.stdout, /stage prepare: succeeded/)
  assert.match(one.stdout, /compile\s+succeeded/)
  const json = JSON.parse((await cis(['status', 'pipeline', '--json', '--addr', agent.url])).stdout)
  assert.deepEqual(json.stages.map((s: any) => s.name), ['prepare', 'build', 'publish'])
  const hash = await cis(['status', '--hash', '--json', '--addr', agent.url])
  assert.match(JSON.parse(hash.stdout).hash, /^[0-9a-f]{32}$/)
})

test('cis logs prints stdout and stderr; cis nodes lists this node as master; cis stop stops', async () => {
  const jl = JSON.parse((await cis(['status', 'pipeline', '--json', '--addr', agent.url])).stdout)
  const compile = jl.stages[1].jobs.find((j: any) => j.name === 'compile')
  const logs = await cis(['logs', compile.id, '--addr', agent.url])
  assert.match(logs.stdout, /version=1.4 out=out\/ arch=x86_64/)
  assert.match(logs.stdout, /build ok/)
  const follow = await cis(['logs', 'pipeline/compile', '--follow', '--addr', agent.url])
  assert.match(follow.stdout, /build ok/)
  const nodes = JSON.parse((await cis(['nodes', '--json', '--addr', agent.url])).stdout).nodes
  assert.equal(nodes[0].name, 'cli-node')
  assert.equal(nodes[0].master, true)
  const dir = tempDir()
  const file = join(dir, 'long.yaml')
  writeFileSync(file, 'name: long\nstages:\n  - name: s\n    jobs:\n      - name: sleeper\n        run: sleep 60\n')
  const id = (await cis(['submit', file, '--addr', agent.url])).stdout.trim()
  cleanup(dir)
  const stop = await cis(['stop', id, '--addr', agent.url])
  assert.equal(stop.code, 0, stop.stderr)
  const again = await cis(['submit', 'examples/hello.yaml', '--wait', '--addr', agent.url])
  assert.equal(again.code, 0)
  const st = JSON.parse((await cis(['status', id, '--json', '--addr', agent.url])).stdout)
  assert.equal(st.state, 'stopped')
  const late = await cis(['stop', id, '--addr', agent.url])
  assert.equal(late.code, 1)
  assert.match(late.stderr, /already ended/)
})

test('an unreachable node is one line naming the URL, exit 3', async () => {
  const port = await new Promise<number>(resolve => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)) }) })
  const url = `http://127.0.0.1:${port}`
  const r = await cis(['status', '--addr', url])
  assert.equal(r.code, 3)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.ok(r.stderr.includes(`cannot reach the cis agent at ${url} (connection refused)`), r.stderr)
  const j = await cis(['nodes', '--json', '--addr', url])
  assert.equal(JSON.parse(j.stdout).code, 'ERR_UNREACHABLE')
})

test('P-4: cis usage --json (GET /v1/usage) gives per owner usage weighted by priority, share and factor; priority 0 is free', async () => {
  const dir = tempDir()
  try {
    const file = (name: string, priority: number): string => {
      const f = join(dir, `${name}.yaml`)
      writeFileSync(f, `name: ${name}\npriority: ${priority}\nstages:\n  - name: s\n    jobs:\n      - name: j\n        run: sleep 0.3\n`)
      return f
    }
    for (const [owner, name, priority] of [['fs-alice', 'paid', 200], ['fs-bob', 'free', 0]] as const) {
      const r = await cis(['submit', file(name, priority), '--wait', '--owner', owner, '--addr', agent.url])
      assert.equal(r.code, 0, r.stderr)
    }
    const r = await cis(['usage', '--json', '--addr', agent.url])
    assert.equal(r.code, 0, r.stderr)
    const u = JSON.parse(r.stdout)
    assert.equal(u.policy, 'fifo')
    assert.equal(u.halfLifeMs, 7 * 24 * 3600_000)
    const alice = u.owners.find((o: any) => o.owner === 'fs-alice')
    const bob = u.owners.find((o: any) => o.owner === 'fs-bob')
    assert.ok(alice.resourceSeconds >= 0.25 && alice.resourceSeconds < 5, JSON.stringify(alice))
    assert.ok(Math.abs(alice.usage - 2 * alice.resourceSeconds) < 1e-9, 'priority 200 counts twice')
    assert.ok(bob.resourceSeconds >= 0.25, JSON.stringify(bob))
    assert.equal(bob.usage, 0, 'priority 0 is free')
    assert.equal(bob.factor, 1)
    for (const o of u.owners) assert.ok(o.factor >= 0 && o.factor <= 1 && o.share > 0 && o.share <= 1, JSON.stringify(o))
    assert.ok(Math.abs(u.owners.reduce((t: number, o: any) => t + o.share, 0) - 1) < 1e-9, 'shares add up to 1')
    const text = await cis(['usage', '--addr', agent.url])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /OWNER\s+USAGE\s+RESOURCE-S\s+SHARE\s+TARGET\s+FACTOR/)
    assert.match(text.stdout, /fs-bob\s+0\s/)
  } finally { cleanup(dir) }
})

test('CLI: each command loads only what it needs (cis status loads no agent module)', async () => {
  // Every module each command resolves, recorded by a resolve hook (test/helpers/resolve-log.ts).
  const hook = pathToFileURL(join(ROOT, 'dist', 'test', 'helpers', 'resolve-log.js')).href
  const dir = tempDir()
  let n = 0
  const loads = async (args: string[]): Promise<{ run: Run, urls: string[] }> => {
    const log = join(dir, `resolved-${n++}.log`)
    writeFileSync(log, '')
    // (The contexts file, if any, is this test's own: CIS_CONFIG_DIR.)
    const run = await cis(args, { CIS_RESOLVE_LOG: log, CIS_CONFIG_DIR: dir }, ['--import', hook])
    const urls = readFileSync(log, 'utf8').split('\n').filter(l => l !== '').map(l => l.split('\t')[1])
    assert.ok(urls.some(u => u.endsWith('/dist/src/cli/main.js')), `the hook recorded nothing for cis ${args.join(' ')}: ${urls.join(' ')}`)
    return { run, urls }
  }
  /** The npm packages among the resolved URLs: `name` or `@scope/name`. */
  const packages = (urls: string[]): Set<string> => new Set(urls.flatMap(u => {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u.slice(u.lastIndexOf('/node_modules/')))
    return m === null ? [] : [m[1]]
  }))
  // The agent's stack: none of it for a client command.
  const AGENT_PACKAGES = (p: string): boolean => p === 'libp2p' || p.startsWith('@libp2p/') || p.startsWith('@chainsafe/') ||
    ['fastify', 'level', 'classic-level', 'pino'].includes(p)
  // (config/agent-options.js, which declares `cis agent`'s flags and imports only commander, is the exception.)
  const AGENT_MODULES = /\/dist\/src\/(agent|node|net|cluster|store|identity|exec|election|scheduler|spec)\/|\/dist\/src\/config\/(?!agent-options\.js$)|\/dist\/src\/api\/server\.js$/
  const unreachable = ['--addr', 'http://127.0.0.1:9'] // nothing listens on port 9: exit 3, no network needed
  // [args, the command module it loads (default: the command's name)]
  const cases: Array<[string[], string?]> = [
    [['--version']], [['status', ...unreachable]], [['nodes', ...unreachable]], [['stop', 'x-1', ...unreachable]], [['set', 'x-1', '--priority', '5', '--tag', 'a', ...unreachable]], [['logs', 'x-1.1', ...unreachable]],
    [['ack', 'x-1', ...unreachable]], [['notifications', ...unreachable]], [['notifications', 'x-1', '--json', ...unreachable]], [['schedules', ...unreachable]], [['schedule', 'nightly', ...unreachable], 'schedules'],
    [['pause', 'nightly', ...unreachable], 'schedules'], [['resume', 'nightly', ...unreachable], 'schedules'],
    [['unschedule', 'nightly', ...unreachable], 'schedules'], [['trigger', 'nightly', ...unreachable], 'schedules'],
    [['vars', 'examples/pipeline.yaml']], [['watch', '--json', ...unreachable]], [['logs', '-f', 'x-1.1', ...unreachable], 'logs'],
    // P-7: the context commands (offline), and a client command through a context.
    [['context', 'add', 'nine', '--addr', 'http://127.0.0.1:9']], [['context', 'use', 'nine', '--json']], [['context', 'list']],
    [['status', '--context', 'nine']], [['--context', 'nine', 'nodes']], [['context', 'remove', 'nine']],
    [['usage', '--json', ...unreachable]],
    // G-6: a backup is a client command (the agent reads its store); restore, offline, is not.
    [['admin', 'backup', join(dir, 'backup.jsonl'), ...unreachable], 'backup']
  ]
  try {
    for (const [args, moduleName] of cases) {
      const { run, urls } = await loads(args)
      const command = args[0] === '--context' ? args[2] : args[0] === 'admin' ? args[1] : args[0]
      const module = moduleName ?? command
      const what = `cis ${args.join(' ')}`
      const offline = command === '--version' || command === 'vars' || command === 'context'
      if (args[0] === '--version') {
        assert.equal(run.code, 0, run.stderr)
        assert.equal(run.stdout.trim(), VERSION)
      } else if (offline) {
        assert.equal(run.code, 0, `${what}: ${run.stderr}`)
      } else {
        assert.equal(run.code, 3, `${what}: ${run.stderr}`)
        // (With --json the error is a JSON document on stdout.)
        // (Through a context, the message names it.)
        assert.match(args.includes('--json') ? run.stdout : run.stderr, /cannot reach the cis agent at http:\/\/127\.0\.0\.1:9 (\(connection refused\)|\(context nine\): connection refused)/)
      }
      if (args[0] !== '--version') assert.ok(urls.some(u => u.endsWith(`/dist/src/cli/commands/${module}.js`)), `${what} loads its command module`)
      const pkgs = [...packages(urls)]
      assert.deepEqual(pkgs.filter(AGENT_PACKAGES), [], `${what} loads none of the agent's packages`)
      // `cis vars` reads a joblist file: the spec modules are its job; nothing else of the agent's.
      const agentModules = args[0] === 'vars' ? urls.filter(u => AGENT_MODULES.test(u) && !/\/dist\/src\/spec\//.test(u)) : urls.filter(u => AGENT_MODULES.test(u))
      assert.deepEqual(agentModules, [], `${what} loads none of the agent's modules`)
      if (args[0] !== 'vars') {
        assert.deepEqual(pkgs.filter(p => p === 'zod' || p === 'yaml'), [], `${what} loads no spec parsing (zod, yaml)`)
        assert.deepEqual(urls.filter(u => /\/dist\/src\/cli\/commands\//.test(u) && !u.endsWith(`/${module}.js`)), [], `${what} loads no other command`)
      }
      if (command === 'vars' || command === '--version' || command === 'context') assert.ok(!urls.some(u => /^node:https?$/.test(u)), `${what} loads no HTTP client`)
    }
  } finally { cleanup(dir) }
})

test('P-7: the same client talks to whichever node --addr or CIS_ADDR names', async () => {
  const fake = async (name: string): Promise<Server> => await new Promise(resolve => {
    const s = createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ nodes: [{ id: name, name, master: false, self: true, alive: true, priority: 0, resources: {}, profiles: [], lastSeen: null }] })) })
    s.listen(0, '127.0.0.1', () => resolve(s))
  })
  const a = await fake('node-a')
  const b = await fake('node-b')
  try {
    const url = (s: Server): string => `http://127.0.0.1:${(s.address() as { port: number }).port}`
    assert.equal(JSON.parse((await cis(['nodes', '--json', '--addr', url(a)])).stdout).nodes[0].name, 'node-a')
    assert.equal(JSON.parse((await cis(['nodes', '--json'], { CIS_ADDR: url(b) })).stdout).nodes[0].name, 'node-b')
  } finally { a.close(); b.close() }
})

test('P-2: the default owner is CIS_TAG, then LOGNAME unless root, then USERNAME, then the host name', () => {
  assert.equal(defaultOwner({ CIS_TAG: 'tag', LOGNAME: 'lg', USERNAME: 'un' }), 'tag')
  assert.equal(defaultOwner({ LOGNAME: 'lg', USERNAME: 'un' }), 'lg')
  assert.equal(defaultOwner({ LOGNAME: 'root', USERNAME: 'un' }), 'un')
  assert.ok(defaultOwner({ LOGNAME: 'root' }).length > 0)
  assert.notEqual(defaultOwner({ LOGNAME: 'root' }), 'root')
})

test('P-2: the owner is recorded on the joblist', async () => {
  const r = await cis(['submit', 'examples/hello.yaml', '--json', '--addr', agent.url], { CIS_TAG: 'team-x' })
  const id = JSON.parse(r.stdout).id
  const jl = JSON.parse((await cis(['status', id, '--json', '--addr', agent.url])).stdout)
  assert.equal(jl.owner, 'team-x')
})

test('cis keygen writes a key and never overwrites it', async () => {
  const dir = tempDir()
  const file = join(dir, 'swarm.key')
  assert.equal((await cis(['keygen', file])).code, 0)
  const again = await cis(['keygen', file])
  assert.equal(again.code, 2)
  assert.match(again.stderr, /never overwrites/)
  cleanup(dir)
})

test('table: columns line up', () => {
  const t = table(['A', 'LONGER'], [['xxxx', 'y'], ['z', 'w']]).split('\n')
  assert.equal(t[0].indexOf('LONGER'), t[1].indexOf('y'))
  assert.equal(t[1].indexOf('y'), t[2].indexOf('w'))
})

test('CLI: a usage error in any command (a missing argument, an unknown option or command) exits 2 and says how to get the usage', async () => {
  for (const args of [['submit'], ['acct', '--bogus'], ['admin', 'restore', 'x'], ['nosuch']]) {
    const r = await cis(args)
    assert.equal(r.code, 2, `cis ${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /add --help for the usage/)
  }
  assert.equal((await cis(['status', '--help'])).code, 0, 'help is not an error')
})

test('P-5: cis logs -f follows on through a 503 (an agent closing) once connected, resuming where it was, and exits 0 at the end', async () => {
  const asked: Array<{ url: string, lastEventId: string | undefined }> = []
  const sse = (id: string, event: string, data: unknown): string => `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`
  const server: Server = createServer((req, res) => {
    asked.push({ url: req.url ?? '', lastEventId: req.headers['last-event-id'] as string | undefined })
    if (!(req.url ?? '').startsWith('/v1/jobs/x-1.1/logs?follow=true')) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no","code":"ERR_NOT_FOUND"}'); return }
    const n = asked.filter(a => a.url.startsWith('/v1/jobs/')).length
    if (n === 2) { res.writeHead(503, { 'content-type': 'application/json', connection: 'close' }).end('{"error":"Service Unavailable","code":"ERR_BAD_REQUEST"}'); return }
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    if (n === 1) res.end(sse('1:6:0', 'output', { stream: 'stdout', text: 'first\n', offset: 6 }))
    else res.end(sse('1:13:0', 'output', { stream: 'stdout', text: 'second\n', offset: 13 }) + sse('1:13:0', 'end', { attempt: 1, state: 'succeeded', exitCode: 0, reason: null }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const r = await cis(['logs', '-f', 'x-1.1', '--addr', `http://127.0.0.1:${(server.address() as { port: number }).port}`])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'first\nsecond\n')
    const follows = asked.filter(a => a.url.startsWith('/v1/jobs/'))
    assert.equal(follows.length, 3, JSON.stringify(asked))
    assert.equal(follows[2].lastEventId, '1:6:0', 'it resumed where it was')
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
})

test('CLI: with --json an input error is one JSON document on stdout too ({error, code}, exit 2); an empty file, a bad attempt number, an unknown context command, a missing directory say what to do', async () => {
  // --json: errors the CLI finds itself, and commander's usage errors.
  for (const args of [['acct', '--by', 'color'], ['set', 'x-1', '--priority', 'abc'], ['logs', 'x-1', '--stream', 'bogus'], ['logs', 'x-1', '--attempt', 'abc'], ['validate', 'examples/hello.yaml', '--bogus']]) {
    const r = await cis([...args, '--json', '--addr', agent.url])
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    const doc = JSON.parse(r.stdout) as { error: string, code: string }
    assert.equal(doc.code, 'ERR_BAD_INPUT', args.join(' '))
    assert.ok(doc.error.length > 0)
  }
  // A malformed address is bad input, not an unreachable agent, and ends even a command that follows (watch).
  for (const cmd of ['status', 'watch']) {
    const bad = await cis([cmd, '--json', '--addr', 'http://127.0.0.1:99999'])
    assert.equal(bad.code, 2, `${cmd}: ${bad.stderr}`)
    assert.equal((JSON.parse(bad.stdout) as { code: string }).code, 'ERR_BAD_ADDR')
  }
  const attempt = await cis(['logs', 'x-1', '--attempt', 'abc', '--addr', agent.url])
  assert.equal(attempt.code, 2)
  assert.match(attempt.stderr, /--attempt 'abc': give an attempt number/)
  const dir = tempDir()
  try {
    const empty = join(dir, 'empty.yaml')
    writeFileSync(empty, '')
    const v = await cis(['validate', empty])
    assert.equal(v.code, 2)
    assert.match(v.stdout + v.stderr, /the joblist is empty/)
    assert.doesNotMatch(v.stdout + v.stderr, /Cannot read properties/)
    const k = await cis(['keygen', join(dir, 'no', 'such', 'k.key')])
    assert.equal(k.code, 2)
    assert.match(k.stderr, /no such directory; choose a FILE in a directory you can write/)
    const ctx = await cis(['context', 'backup'], { CIS_CONFIG_DIR: join(dir, 'cfg') })
    assert.equal(ctx.code, 2)
    assert.match(ctx.stderr, /'cis context backup' is not a command: use cis context add\|use\|list\|remove/)
  } finally { cleanup(dir) }
  // The API: an attempt number that is not one is a 400, not "no attempt NaN".
  const sub = await cis(['submit', 'examples/hello.yaml', '--wait', '--json', '--addr', agent.url])
  const jobId = (JSON.parse(sub.stdout) as { stages: Array<{ jobs: Array<{ id: string }> }> }).stages[0].jobs[0].id
  const res = await fetch(`${agent.url}/v1/jobs/${jobId}/logs?attempt=abc`)
  assert.equal(res.status, 400)
  assert.match(((await res.json()) as { error: string }).error, /'abc' is not an attempt number/)
  const list = await fetch(`${agent.url}/v1/joblists?state=bogus`)
  assert.equal(list.status, 400)
  assert.match(((await list.json()) as { error: string }).error, /not a joblist state/)
})

test('D-3: an agent that cannot start (no swarm key, its p2p address in use) says why and exits 1; it does not hang on what it had started (its fork server)', async () => {
  const dir = tempDir()
  const blocker = createServer()
  try {
    await new Promise<void>(resolve => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    // (Killed at 30 s if it hangs: then `signal` is set, and the test fails.)
    const agentRun = async (args: string[]): Promise<Run & { signal: string | null }> => await new Promise(resolve => {
      execFile(process.execPath, [CIS, 'agent', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
        const e = err as (Error & { code?: unknown, signal?: string | null }) | null
        resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : -1, signal: e?.signal ?? null, stdout, stderr })
      })
    })
    const noKey = await agentRun(['--no-mdns', '--data', join(dir, 'a'), '--api', '127.0.0.1:0', '--listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', join(dir, 'nosuch.key')])
    assert.equal(noKey.signal, null, 'it ended by itself')
    assert.equal(noKey.code, 1, noKey.stderr)
    assert.match(noKey.stderr, /cannot read the swarm key .*nosuch\.key.*cis keygen FILE/)
    const inUse = await agentRun(['--no-mdns', '--data', join(dir, 'b'), '--api', '127.0.0.1:0', '--listen', `/ip4/127.0.0.1/tcp/${port}`])
    assert.equal(inUse.signal, null, 'it ended by itself')
    assert.equal(inUse.code, 1, inUse.stderr)
    assert.match(inUse.stderr, /cis agent: cannot listen on \/ip4\/127\.0\.0\.1\/tcp\/\d+: the address is in use .*--listen MULTIADDR/)
  } finally {
    blocker.close()
    cleanup(dir)
  }
})
