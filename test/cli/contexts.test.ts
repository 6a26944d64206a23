// Remote contexts (P-7): `cis context add|use|list|remove`, --context and CIS_CONTEXT, the
// precedence of flags, contexts and environment, the file's modes, and the error for a node
// that is down. The real `cis` executable, with CIS_CONFIG_DIR set to a temporary directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_ADDR, contextsPath, resolveTarget } from '../../src/cli/contexts.js'
import { CIS, ROOT, cleanup, startAgent, tempDir } from '../helpers/agent.js'

interface Run { code: number, stdout: string, stderr: string }

/** The environment of every run: none of the caller's CIS_* settings, only the test's. */
function baseEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  for (const k of ['CIS_ADDR', 'CIS_TOKEN', 'CIS_CONTEXT', 'CIS_CONFIG_DIR', 'XDG_CONFIG_HOME']) delete env[k]
  return env
}

async function cis (config: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...baseEnv(), CIS_CONFIG_DIR: config, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

const file = (config: string): any => JSON.parse(readFileSync(join(config, 'contexts.json'), 'utf8'))

/** A fake agent answering GET /v1/nodes with `apis` as its nodes; it records the Authorization header of each request. */
interface Fake { server: Server, url: string, auth: Array<string | undefined>, close: () => Promise<void> }
async function fake (name: string, apis: (self: string) => string[] = self => [self]): Promise<Fake> {
  const auth: Array<string | undefined> = []
  const server = createServer((req, res) => {
    auth.push((req.headers as IncomingHttpHeaders).authorization)
    res.setHeader('content-type', 'application/json')
    const nodes = apis(url).map((api, i) => ({ id: `${name}-${i}`, peerId: `${name}-${i}`, name: i === 0 ? name : `${name}-${i}`, api, addresses: [], master: i === 0, self: i === 0, alive: true, priority: 0, resources: {}, profiles: [], lastSeen: null, version: 'x' }))
    res.end(JSON.stringify({ nodes }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return { server, url, auth, close: async () => await new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }) }
}

test('P-7: cis context add, list, use, remove; the file is 0600 in a 0700 directory, written atomically; --json everywhere', async () => {
  const root = tempDir()
  const config = join(root, 'cfg', 'cisystem') // not there yet: the first add makes it
  try {
    const empty = await cis(config, ['context', 'list'])
    assert.equal(empty.code, 0, empty.stderr)
    assert.match(empty.stdout, /no contexts/)
    assert.deepEqual(JSON.parse((await cis(config, ['context', 'list', '--json'])).stdout).contexts, [])

    const add = await cis(config, ['context', 'add', 'prod', '--addr', 'http://10.0.0.5:7700/', '--token', 'tok-prod'])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stdout, /context prod added: http:\/\/10\.0\.0\.5:7700 \(token set\)/)
    const addJson = JSON.parse((await cis(config, ['context', 'add', 'local', '--addr', 'http://127.0.0.1:7700', '--json'])).stdout)
    assert.deepEqual({ name: addJson.name, addr: addJson.addr, token: addJson.token, replaced: addJson.replaced }, { name: 'local', addr: 'http://127.0.0.1:7700', token: 'none', replaced: false })

    assert.equal(statSync(config).mode & 0o777, 0o700, 'the directory is 0700')
    assert.equal(statSync(join(config, 'contexts.json')).mode & 0o777, 0o600, 'the file is 0600')
    assert.deepEqual(readdirSync(config), ['contexts.json'], 'no temporary file is left behind')
    assert.equal(file(config).contexts.prod.token, 'tok-prod')

    const list = await cis(config, ['context', 'list'])
    assert.equal(list.code, 0)
    assert.match(list.stdout, /NAME\s+ADDR\s+TOKEN/)
    assert.match(list.stdout, /^\s+local\s+http:\/\/127\.0\.0\.1:7700\s+none/m)
    assert.match(list.stdout, /^\s+prod\s+http:\/\/10\.0\.0\.5:7700\s+set/m)
    assert.doesNotMatch(list.stdout, /\*/, 'no current context yet')

    const use = await cis(config, ['context', 'use', 'prod'])
    assert.equal(use.code, 0, use.stderr)
    assert.match(use.stdout, /current context: prod/)
    assert.equal(file(config).current, 'prod')
    assert.match((await cis(config, ['context', 'ls'])).stdout, /^\*\s+prod\s+http:\/\/10\.0\.0\.5:7700\s+set/m, 'the current one is marked')
    const lj = JSON.parse((await cis(config, ['context', 'list', '--json'])).stdout)
    assert.equal(lj.current, 'prod')
    assert.deepEqual(lj.contexts.map((c: any) => [c.name, c.token, c.current]), [['local', 'none', false], ['prod', 'set', true]])

    // The token never appears in any output, text or JSON.
    const outputs: Run[] = [add, list, use, empty]
    for (const args of [['context', 'list', '--json'], ['context', 'use', 'prod', '--json'], ['context', 'add', 'prod', '--addr', 'http://10.0.0.5:7700', '--token', 'tok-prod', '--json'], ['context', 'add', 'prod', '--addr', 'http://10.0.0.5:7700', '--token', 'tok-prod'], ['context', 'list'], ['context', 'use', 'prod']]) {
      const r = await cis(config, args)
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
      outputs.push(r)
    }
    for (const r of outputs) assert.ok(!r.stdout.includes('tok-prod') && !r.stderr.includes('tok-prod'), `the token is printed: ${r.stdout}${r.stderr}`)
    assert.equal(statSync(join(config, 'contexts.json')).mode & 0o777, 0o600, 'still 0600 after rewrites')

    // Unknown names: exit 2, listing the known ones.
    const unknown = await cis(config, ['context', 'use', 'staging'])
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /unknown context 'staging' \(known: local, prod\)/)
    const unknownJson = JSON.parse((await cis(config, ['context', 'remove', 'staging', '--json'])).stdout)
    assert.deepEqual(unknownJson.known, ['local', 'prod'])
    assert.equal((await cis(config, ['context', 'add', 'bad name', '--addr', 'http://x'])).code, 2)
    assert.equal((await cis(config, ['context', 'add', 'x', '--addr', 'not a url'])).code, 2)

    // Removing the current one leaves no current one.
    const rm = await cis(config, ['context', 'remove', 'prod'])
    assert.equal(rm.code, 0, rm.stderr)
    assert.match(rm.stdout, /context prod removed; there is no current context now/)
    assert.deepEqual(Object.keys(file(config).contexts), ['local'])
    assert.equal(file(config).current, undefined)
    assert.deepEqual(JSON.parse((await cis(config, ['context', 'rm', 'local', '--json'])).stdout), { removed: 'local', wasCurrent: false })
    assert.deepEqual(file(config).contexts, {})
  } finally { cleanup(root) }
})

test('P-7: precedence: --addr/--token > --context > CIS_CONTEXT > CIS_ADDR/CIS_TOKEN > the current context > the default; host:port is http://host:port', async () => {
  const config = tempDir()
  const [a, b, c, d, e] = await Promise.all(['flag', 'ctx-flag', 'ctx-env', 'env', 'current'].map(async n => await fake(n)))
  try {
    for (const [name, s, token] of [['b', b, 'tok-b'], ['c', c, 'tok-c'], ['e', e, 'tok-e']] as const) {
      assert.equal((await cis(config, ['context', 'add', name, '--addr', s.url, '--token', token])).code, 0)
    }
    assert.equal((await cis(config, ['context', 'use', 'e'])).code, 0)
    /** Which fake answered, and the Authorization header it got. */
    const who = async (args: string[], env: NodeJS.ProcessEnv): Promise<[string, string | undefined]> => {
      const r = await cis(config, ['nodes', '--json', ...args], env)
      assert.equal(r.code, 0, r.stderr)
      const name: string = JSON.parse(r.stdout).nodes[0].name
      const s = { flag: a, 'ctx-flag': b, 'ctx-env': c, env: d, current: e }[name]
      assert.ok(s !== undefined)
      return [name, s.auth[s.auth.length - 1]]
    }
    const all = { CIS_CONTEXT: 'c', CIS_ADDR: d.url, CIS_TOKEN: 'tok-d' }
    assert.deepEqual(await who(['--addr', a.url, '--token', 'tok-a', '--context', 'b'], all), ['flag', 'Bearer tok-a'])
    // --addr with a named context: that context's token (another node of the same cluster).
    assert.deepEqual(await who(['--addr', a.url, '--context', 'b'], all), ['flag', 'Bearer tok-b'])
    assert.deepEqual(await who(['--context', 'b'], all), ['ctx-flag', 'Bearer tok-b'])
    assert.deepEqual(await who(['--context', 'b', '--token', 'tok-a'], all), ['ctx-flag', 'Bearer tok-a'])
    // --context before the command works too.
    const before = await cis(config, ['--context', 'b', 'nodes', '--json'], all)
    assert.equal(JSON.parse(before.stdout).nodes[0].name, 'ctx-flag')
    assert.deepEqual(await who([], all), ['ctx-env', 'Bearer tok-c'])
    assert.deepEqual(await who([], { CIS_ADDR: d.url, CIS_TOKEN: 'tok-d' }), ['env', 'Bearer tok-d'])
    // CIS_ADDR without CIS_TOKEN: the current context's token does not go to another address.
    assert.deepEqual(await who([], { CIS_ADDR: d.url }), ['env', undefined])
    assert.deepEqual(await who(['--addr', a.url], {}), ['flag', undefined])
    assert.deepEqual(await who([], {}), ['current', 'Bearer tok-e'])
    assert.deepEqual(await who([], { CIS_TOKEN: 'tok-d' }), ['current', 'Bearer tok-d'])
    // An unknown name from --context or CIS_CONTEXT: exit 2 naming the known ones.
    const bad = await cis(config, ['status', '--context', 'nope'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /unknown context 'nope' \(known: b, c, e\)/)
    const badEnv = await cis(config, ['status', '--json'], { CIS_CONTEXT: 'nope' })
    assert.equal(badEnv.code, 2)
    assert.equal(JSON.parse(badEnv.stdout).code, 'ERR_UNKNOWN_CONTEXT')
    // Offline commands do not care.
    assert.equal((await cis(config, ['validate', 'examples/hello.yaml'], { CIS_CONTEXT: 'nope' })).code, 0)
  } finally {
    await Promise.all([a, b, c, d, e].map(async s => await s.close()))
    cleanup(config)
  }
  // The same rules, in-process; with no context and nothing set: the default.
  const none = tempDir()
  try {
    assert.deepEqual(resolveTarget({}, { CIS_CONFIG_DIR: none }), { addr: DEFAULT_ADDR })
    assert.equal(contextsPath({ CIS_CONFIG_DIR: none }), join(none, 'contexts.json'))
    assert.equal(contextsPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/h' }), '/x/cfg/cisystem/contexts.json')
    assert.equal(contextsPath({ HOME: '/h' }), '/h/.config/cisystem/contexts.json')
    writeFileSync(join(none, 'contexts.json'), JSON.stringify({ current: 'p', contexts: { p: { addr: 'http://p:1', token: 't' } } }))
    assert.deepEqual(resolveTarget({}, { CIS_CONFIG_DIR: none }), { addr: 'http://p:1', token: 't', context: 'p', lastNodes: [], contextToken: true })
    assert.deepEqual(resolveTarget({ token: 'f' }, { CIS_CONFIG_DIR: none, CIS_ADDR: 'http://env:1' }), { addr: 'http://env:1', token: 'f' })
    // An address as the agent's --api takes it (host:port) is http: there; one with a scheme stays.
    assert.deepEqual(resolveTarget({}, { CIS_CONFIG_DIR: none, CIS_ADDR: '127.0.0.1:7791' }), { addr: 'http://127.0.0.1:7791' })
    assert.deepEqual(resolveTarget({ addr: 'localhost:7700' }, { CIS_CONFIG_DIR: none }), { addr: 'http://localhost:7700' })
    assert.deepEqual(resolveTarget({ addr: 'https://n1:7700' }, { CIS_CONFIG_DIR: none }), { addr: 'https://n1:7700' })
  } finally { cleanup(none) }
})

test('P-7: a context against a real agent: cis --context local status works; cis nodes keeps lastNodes; stopped, it is exit 3 naming the address', async () => {
  const config = tempDir()
  const agent = await startAgent({ name: 'ctx-node' })
  let stopped = false
  try {
    assert.equal((await cis(config, ['context', 'add', 'local', '--addr', agent.url])).code, 0)
    const st = await cis(config, ['--context', 'local', 'status'])
    assert.equal(st.code, 0, st.stderr)
    assert.match(st.stdout, /ID\s+NAME\s+STATE|no joblists/i)
    const env = await cis(config, ['status', '--json'], { CIS_CONTEXT: 'local' })
    assert.equal(env.code, 0, env.stderr)
    assert.ok(Array.isArray(JSON.parse(env.stdout).joblists))
    assert.equal(file(config).contexts.local.lastNodes, undefined)
    const nodes = await cis(config, ['nodes', '--context', 'local'])
    assert.equal(nodes.code, 0, nodes.stderr)
    assert.match(nodes.stdout, /ctx-node \(this\)/)
    assert.deepEqual(file(config).contexts.local.lastNodes, [agent.url])
    assert.equal(statSync(join(config, 'contexts.json')).mode & 0o777, 0o600)
    const listed = JSON.parse((await cis(config, ['context', 'list', '--json'])).stdout)
    assert.deepEqual(listed.contexts[0].lastNodes, [agent.url])

    await agent.stop()
    stopped = true
    const down = await cis(config, ['--context', 'local', 'status'])
    assert.equal(down.code, 3)
    assert.ok(down.stderr.includes(`cannot reach the cis agent at ${agent.url} (context local)`), down.stderr)
    assert.doesNotMatch(down.stderr, /last seen/, 'no other node to suggest')
  } finally {
    if (!stopped) await agent.stop()
    cleanup(agent.dataDir)
    cleanup(config)
  }
})

test('P-7: a context whose node is down names the failed address and suggests another node of its cluster', async () => {
  const config = tempDir()
  const other = 'http://127.0.0.1:9' // never contacted: only suggested
  const node = await fake('prod-a', self => [self, other + '/'])
  let closed = false
  try {
    assert.equal((await cis(config, ['context', 'add', 'prod', '--addr', node.url, '--token', 'tok-prod'])).code, 0)
    assert.equal((await cis(config, ['context', 'add', 'prod-b', '--addr', 'http://10.1.1.1:7700'])).code, 0)
    assert.equal((await cis(config, ['context', 'use', 'prod'])).code, 0)
    const nodes = await cis(config, ['nodes'])
    assert.equal(nodes.code, 0, nodes.stderr)
    assert.deepEqual(file(config).contexts.prod.lastNodes, [node.url, other])
    await node.close()
    closed = true
    const down = await cis(config, ['status'])
    assert.equal(down.code, 3)
    const lines = down.stderr.trim().split('\n')
    assert.ok(lines.length <= 2, down.stderr)
    assert.ok(lines[0].includes(`cannot reach the cis agent at ${node.url} (context prod): connection refused`), down.stderr)
    assert.ok(lines[1].includes(`other nodes of this cluster last seen: ${other}`), down.stderr)
    // prod-b is taken: the suggestion is a free name; the token is never printed.
    assert.ok(lines[1].includes(`try: cis context add prod-c --addr ${other} --token TOKEN`), down.stderr)
    assert.ok(!down.stderr.includes('tok-prod'))
    const json = await cis(config, ['stop', 'x-1', '--json'])
    assert.equal(json.code, 3)
    const j = JSON.parse(json.stdout)
    assert.deepEqual([j.code, j.addr, j.context, j.otherNodes], ['ERR_UNREACHABLE', node.url, 'prod', [other]])
    assert.ok(!json.stdout.includes('tok-prod'))
    // Through 127.0.0.1:9 (nothing listens) with no nodes seen: the address, no suggestion.
    assert.equal((await cis(config, ['context', 'add', 'nine', '--addr', 'http://127.0.0.1:9'])).code, 0)
    const nine = await cis(config, ['status'], { CIS_CONTEXT: 'nine' })
    assert.equal(nine.code, 3)
    assert.equal(nine.stderr.trim().split('\n').length, 1)
    assert.match(nine.stderr, /cannot reach the cis agent at http:\/\/127\.0\.0\.1:9 \(context nine\): connection refused/)
  } finally {
    if (!closed) await node.close()
    cleanup(config)
  }
})
