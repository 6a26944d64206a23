import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import { parse } from 'yaml'
import { defaultConfig, loadConfigFile, mergeConfig, parseResourceFlag } from '../../src/config/config.js'
import { configFromFlags } from '../../src/config/flags.js'
import type { AgentFlags } from '../../src/config/flags.js'
import { addAgentOptions } from '../../src/config/agent-options.js'
import { allowedKeys, settingPaths } from '../../src/config/schema.js'
import { ROOT, cleanup, tempDir } from '../helpers/agent.js'

const DEFAULT_YAML = join(ROOT, 'config', 'default.yaml')
const bad = (raw: unknown, re: RegExp): void => assert.throws(() => mergeConfig(defaultConfig(), raw, 'c.yaml'), re)

test('config: config/default.yaml documents every setting of the schema, nested ones included', () => {
  const paths = settingPaths()
  // The walk reaches into the sections (else this test would check nothing below the top).
  for (const p of ['name', 'resources', 'exec.killGrace', 'scheduler.policy', 'scheduler.maxLost', 'log.pretty', 'heartbeat.timeout']) assert.ok(paths.includes(p), p)
  assert.deepEqual(paths.filter(p => !p.includes('.')), allowedKeys())
  const text = readFileSync(DEFAULT_YAML, 'utf8')
  for (const path of paths) {
    const keys = path.split('.')
    if (keys.length === 1) { assert.match(text, new RegExp(`^#? ?${path}:`, 'm'), `config/default.yaml documents '${path}'`); continue }
    // A nested key: inside its section's block (from `section:` to the next top-level line).
    // (A section without defaults, like smtp, is documented commented out.)
    const block = new RegExp(`^#? ?${keys[0]}:.*\\n((?:[ \\t#].*\\n|\\n)*)`, 'm').exec(text)
    assert.ok(block !== null, `config/default.yaml has a '${keys[0]}:' section`)
    assert.match(block[1], new RegExp(`^[ \\t#]+${keys[keys.length - 1]}:`, 'm'), `config/default.yaml documents '${path}'`)
  }
})

test('config: config/default.yaml states the defaults; loading it gives exactly defaultConfig()', () => {
  const doc = parse(readFileSync(DEFAULT_YAML, 'utf8')) as Record<string, unknown>
  const at = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc)
  // Only the settings without a fixed default stay commented out.
  assert.deepEqual(settingPaths().filter(p => at(p) === undefined).sort(), ['name', 'notify.digestEvery', 'notify.secret', 'resources', 'smtp', 'smtp.from', 'smtp.host', 'smtp.pass', 'smtp.port', 'smtp.secure', 'smtp.user', 'swarmKey', 'token'])
  assert.deepEqual(loadConfigFile(DEFAULT_YAML), defaultConfig())
})

test('config: defaultConfig() comes from the schema: host name, one slot per CPU', () => {
  const d = defaultConfig()
  assert.equal(d.name, hostname())
  assert.deepEqual(d.resources, { slot: Array.from({ length: availableParallelism() }, (_, i) => `slot${i}`) })
  assert.deepEqual(d.heartbeat, { intervalMs: 200, timeoutMs: 800 })
  assert.equal(d.exec.killGraceMs, 5000)
  assert.equal(d.api_limits.bodyBytes, 4 * 1024 * 1024)
  assert.equal(d.enableTestGate, false)
  assert.equal(d.token, undefined)
})

test('config: flags win over the file; resources as IDs or counts (R3-1)', () => {
  const dir = tempDir()
  try {
    const file = join(dir, 'c.yaml')
    writeFileSync(file, 'name: from-file\npriority: 3\nresources:\n  gpu: [g0, g1]\n  slot: 2\n')
    const c = configFromFlags({ config: file, name: 'from-flag', resource: ['license=lic-a'] }, {})
    assert.equal(c.name, 'from-flag')
    assert.equal(c.priority, 3)
    assert.deepEqual(c.resources, { gpu: ['g0', 'g1'], slot: ['slot0', 'slot1'], license: ['lic-a'] })
    assert.deepEqual(parseResourceFlag('gpu=3'), ['gpu', ['gpu0', 'gpu1', 'gpu2']])
  } finally { cleanup(dir) }
})

test('config: bad settings get clear errors', () => {
  bad({ nmae: 'x' }, /unknown setting 'nmae'/)
  bad({ priority: 'high' }, /priority must be an integer/)
  bad({ resources: { GPU: ['a'] } }, /resource type 'GPU'/)
  bad({ resources: { gpu: ['a', 'a'] } }, /unique/)
  bad({ exec: { killGrace: 'soon' } }, /exec.killGrace/)
  bad({ heartbeat: { interval: '1s', timeout: '1s' } }, /at least twice/)
  bad([1, 2], /must be a mapping/)
  bad({ store: { backend: 'sqlite' } }, /store.backend.*must be level \(on disk, the default\) or memory/)
  bad({ store: { purgeAfter: 'a while' } }, /store.purgeAfter.*must be a span like 90d or 12h/)
  bad({ store: { purgeAfter: '4000d' } }, /store.purgeAfter.*at most ten years/)
  // G-6: retention off by default, a span when set.
  assert.equal(defaultConfig().store.purgeAfterMs, 0)
  assert.equal(mergeConfig(defaultConfig(), { store: { purgeAfter: '90d' } }, 'c.yaml').store.purgeAfterMs, 90 * 24 * 3600_000)
  assert.throws(() => loadConfigFile('/nonexistent/cis.yaml'), /cannot read config file/)
  assert.throws(() => parseResourceFlag('gpu'), /TYPE=ID,ID/)
})

test('config: an unknown key at any depth is an error naming its path and the keys allowed there', () => {
  bad({ scheduler: { polcy: 'fifo' } }, /^ConfigError: c\.yaml: unknown setting 'scheduler\.polcy' \(allowed: policy, aging, onLost, maxLost, lostAfter, fairShare\)$/)
  bad({ heartbeat: { intervl: '1s' } }, /unknown setting 'heartbeat\.intervl' \(allowed: interval, timeout\)/)
  bad({ exec: { forkserver: true } }, /unknown setting 'exec\.forkserver' \(allowed: killGrace, forkServer\)/)
  bad({ log: { colour: true } }, /unknown setting 'log\.colour' \(allowed: level, pretty\)/)
  bad({ nmae: 'x' }, /\(allowed: name, data, api, .*syncInterval, batchWindow, watchRingAbove\)/)
  // The case from the field: a file that used to start the agent without a word.
  const dir = tempDir()
  try {
    const file = join(dir, 'c.yaml')
    writeFileSync(file, 'scheduler: {polcy: fifo, lostAftr: 6s}\n')
    assert.throws(() => configFromFlags({ config: file }, {}), (err: Error) => {
      assert.equal(err.name, 'ConfigError')
      assert.equal((err as Error & { code: string }).code, 'ERR_CONFIG')
      assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `))
      assert.match(err.message, /'scheduler\.polcy'/)
      assert.match(err.message, /'scheduler\.lostAftr'/)
      return true
    })
  } finally { cleanup(dir) }
})

test('config: a wrong type at any depth names its path', () => {
  bad({ scheduler: { maxLost: 'x' } }, /scheduler\.maxLost must be a whole number/)
  bad({ scheduler: { policy: 'lifo' } }, /scheduler\.policy must be 'fifo', 'priority' or 'fairshare'/)
  bad({ scheduler: { aging: -1 } }, /scheduler\.aging must be a number >= 0/)
  bad({ heartbeat: { interval: true } }, /heartbeat\.interval must be a duration/)
  bad({ watchRingAbove: 1 }, /watchRingAbove must be a whole number >= 2/)
  bad({ watchRingAbove: 'big' }, /watchRingAbove must be a whole number >= 2/)
  bad({ log: { pretty: 'yes' } }, /log\.pretty must be true, false or auto/)
  bad({ log: { level: 'loud' } }, /log\.level must be one of/)
  bad({ exec: { forkServer: 'no' } }, /exec\.forkServer must be true or false/)
  bad({ exec: 3 }, /exec must be a mapping/)
  bad({ listen: ['/ip4/127.0.0.1/tcp/1', 'localhost'] }, /listen\[1\] must be a multiaddr/)
  bad({ resources: 'gpu' }, /resources must map a resource type/)
  bad({ maxBodyBytes: 10 }, /maxBodyBytes must be an integer >= 1024/)
})

test('config: settings given override the base, sections key by key; durations as 200ms, 5s, 1m or seconds', () => {
  const base = mergeConfig({ ...defaultConfig(), enableTestGate: true }, { name: 'base', heartbeat: { interval: '1s', timeout: '5s' }, scheduler: { policy: 'priority' } }, 'base')
  const c = mergeConfig(base, { heartbeat: { timeout: '1m' }, scheduler: { maxLost: 7 }, exec: { killGrace: 2 }, nodesLogInterval: '200ms', resources: { gpu: 2 } }, 'c.yaml')
  assert.equal(c.name, 'base')
  assert.deepEqual(c.heartbeat, { intervalMs: 1000, timeoutMs: 60_000 })
  assert.deepEqual(c.scheduler, { ...defaultConfig().scheduler, policy: 'priority', maxLost: 7 })
  assert.equal(c.exec.killGraceMs, 2000)
  assert.equal(c.nodesLogIntervalMs, 200)
  assert.deepEqual(c.resources, { gpu: ['gpu0', 'gpu1'] }, 'resources are replaced, not merged')
  assert.equal(c.enableTestGate, true)
  assert.equal(mergeConfig(base, null, 'empty.yaml'), base)
})

test('config: duration flags go through the schema', () => {
  assert.deepEqual(configFromFlags({ heartbeatTimeout: '2s' }, {}).heartbeat, { intervalMs: 200, timeoutMs: 2000 })
  assert.equal(configFromFlags({ nodesLogInterval: '5s' }, {}).nodesLogIntervalMs, 5000)
  assert.throws(() => configFromFlags({ heartbeatInterval: 'fast' }, {}), /^ConfigError: flags: heartbeat\.interval must be a duration/)
  assert.throws(() => configFromFlags({ heartbeatInterval: '1s' }, {}), /heartbeat\.timeout must be at least twice/)
  assert.throws(() => configFromFlags({ logLevel: 'loud' }, {}), /log\.level must be one of/)
  assert.equal(configFromFlags({ priority: 7 }, {}).priority, 7)
  assert.equal(configFromFlags({ priority: '-2' }, {}).priority, -2)
  assert.throws(() => configFromFlags({ priority: 'x' }, {}), /--priority 'x': expected an integer/)
})

test('security: an API beyond loopback requires a token', () => {
  assert.throws(() => configFromFlags({ api: '0.0.0.0:7700' }, {}), /needs|without a token/)
  assert.equal(configFromFlags({ api: '0.0.0.0:7700', token: 's3cret' }, {}).token, 's3cret')
  assert.equal(configFromFlags({ api: '0.0.0.0:7700' }, { CIS_TOKEN: 'env' }).token, 'env')
})

const agentCommand = (): Command => addAgentOptions(new Command('agent')).exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} })
const ENV = { CIS_TOKEN: 'env-token', CIS_DATA: '/env/data', CIS_CONFIG: '/env/cis.yaml', CIS_API: '127.0.0.1:9', CIS_LOG_LEVEL: 'debug' }

/** Runs fn with these environment variables set (undefined: unset), then restores them. */
function withEnv (env: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  const set = (vars: Record<string, string | undefined>): void => {
    for (const [k, v] of Object.entries(vars)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  }
  set(env)
  try { fn() } finally { set(saved) }
}

test('config: addAgentOptions declares every `cis agent` option', () => withEnv(Object.fromEntries(Object.keys(ENV).map(k => [k, undefined])), () => {
  const cmd = agentCommand()
  cmd.parse(['--data', 'd', '--name', 'n1', '--api', '127.0.0.1:0', '--resource', 'gpu=2', '--resource', 'lic=a,b', '--profile', 'x', '--profile', 'y',
    '--priority', '-5', '--token', 't', '--log-level', 'warn', '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', '/ip4/1.2.3.4/tcp/1', '--peer', '/ip4/1.2.3.5/tcp/1',
    '--no-mdns', '--swarm-key', 'k', '--heartbeat-interval', '100ms', '--heartbeat-timeout', '1s', '--nodes-log-interval', '5s', '--enable-test-gate'], { from: 'user' })
  const o = cmd.opts<AgentFlags>()
  assert.deepEqual({ ...o }, {
    data: 'd', name: 'n1', api: '127.0.0.1:0', resource: ['gpu=2', 'lic=a,b'], profile: ['x', 'y'], priority: -5, token: 't', logLevel: 'warn',
    listen: ['/ip4/127.0.0.1/tcp/0'], peer: ['/ip4/1.2.3.4/tcp/1', '/ip4/1.2.3.5/tcp/1'], mdns: false, swarmKey: 'k',
    heartbeatInterval: '100ms', heartbeatTimeout: '1s', nodesLogInterval: '5s', enableTestGate: true
  })
  const c = configFromFlags(o, {})
  assert.deepEqual([c.priority, c.resources.gpu, c.heartbeat, c.nodesLogIntervalMs, c.mdns, c.enableTestGate], [-5, ['gpu0', 'gpu1'], { intervalMs: 100, timeoutMs: 1000 }, 5000, false, true])
  assert.ok(!cmd.helpInformation().includes('--enable-test-gate'), 'the test gate stays out of the help')
  assert.deepEqual({ ...agentCommand().parse([], { from: 'user' }).opts() }, { mdns: true })
}))

test('config: addAgentOptions reads CIS_TOKEN, CIS_DATA, CIS_CONFIG, CIS_API, CIS_LOG_LEVEL; flags win', () => {
  withEnv(ENV, () => {
    const o = agentCommand().parse([], { from: 'user' }).opts<AgentFlags>()
    assert.deepEqual([o.token, o.data, o.config, o.api, o.logLevel], ['env-token', '/env/data', '/env/cis.yaml', '127.0.0.1:9', 'debug'])
    assert.equal(agentCommand().parse(['--token', 'flag'], { from: 'user' }).opts<AgentFlags>().token, 'flag')
  })
  for (const [k, v] of Object.entries(ENV)) assert.notEqual(process.env[k], v, 'the test restores the environment')
})

test('config: addAgentOptions rejects a --priority that is not an integer, and a shapeless --resource', () => {
  const fails = (argv: string[], re: RegExp): void => assert.throws(() => agentCommand().parse(argv, { from: 'user' }), (err: unknown) => {
    assert.ok(err instanceof CommanderError)
    assert.equal(err.code, 'commander.invalidArgument')
    assert.match(err.message, re)
    return true
  })
  fails(['--priority', 'high'], /--priority.*expected an integer/)
  fails(['--priority', '1.5'], /expected an integer/)
  fails(['--resource', 'gpu'], /--resource.*TYPE=ID,ID or TYPE=COUNT/)
})

test('config: agent-options.ts imports commander only (it loads with every CLI command)', () => {
  const src = readFileSync(join(ROOT, 'src', 'config', 'agent-options.ts'), 'utf8')
  const imports = [...src.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map(m => m[1])
  assert.ok(imports.length > 0)
  assert.deepEqual([...new Set(imports)], ['commander'])
})
