import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { defaultConfig, loadConfigFile, mergeConfig, parseResourceFlag } from '../../src/config/config.js'
import { configFromFlags } from '../../src/agent/run.js'
import { ROOT, cleanup, tempDir } from '../helpers/agent.js'

test('config: config/default.yaml documents the defaults and loads to them', () => {
  const c = loadConfigFile(join(ROOT, 'config', 'default.yaml'))
  const d = defaultConfig()
  assert.equal(c.api, d.api)
  assert.equal(c.data, d.data)
  assert.deepEqual(c.resources, d.resources)
  assert.equal(c.exec.killGraceMs, d.exec.killGraceMs)
  assert.deepEqual(c.heartbeat, d.heartbeat)
  const text = readFileSync(join(ROOT, 'config', 'default.yaml'), 'utf8')
  for (const key of ['name', 'data', 'api', 'token', 'resources', 'profiles', 'priority', 'exec', 'scheduler', 'log', 'nodesLogInterval', 'snapshotEvery', 'maxBodyBytes', 'listen', 'peers', 'mdns', 'swarmKey', 'heartbeat', 'syncInterval']) {
    assert.match(text, new RegExp(`^#? ?${key}:`, 'm'), `config/default.yaml documents '${key}'`)
  }
  assert.ok(parse(text) !== null)
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
  const bad = (raw: unknown, re: RegExp): void => assert.throws(() => mergeConfig(defaultConfig(), raw, 'c.yaml'), re)
  bad({ nmae: 'x' }, /unknown setting 'nmae'/)
  bad({ priority: 'high' }, /priority must be an integer/)
  bad({ resources: { GPU: ['a'] } }, /resource type 'GPU'/)
  bad({ resources: { gpu: ['a', 'a'] } }, /unique/)
  bad({ exec: { killGrace: 'soon' } }, /exec.killGrace/)
  bad({ heartbeat: { interval: '1s', timeout: '1s' } }, /at least twice/)
  bad([1, 2], /must be a mapping/)
  assert.throws(() => loadConfigFile('/nonexistent/cis.yaml'), /cannot read config file/)
  assert.throws(() => parseResourceFlag('gpu'), /TYPE=ID,ID/)
})

test('security: an API beyond loopback requires a token', () => {
  assert.throws(() => configFromFlags({ api: '0.0.0.0:7700' }, {}), /needs|without a token/)
  assert.equal(configFromFlags({ api: '0.0.0.0:7700', token: 's3cret' }, {}).token, 's3cret')
  assert.equal(configFromFlags({ api: '0.0.0.0:7700' }, { CIS_TOKEN: 'env' }).token, 'env')
})
