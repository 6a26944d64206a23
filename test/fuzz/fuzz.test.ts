// Fuzzing (seeded): randomised and mutated inputs into every door a user or a peer can open.
// Nothing may throw anything but its own clear error, and the node keeps running.
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { parseJoblistText } from '../../src/spec/parse.js'
import { validateJoblist, validateJoblistInput } from '../../src/spec/validate.js'
import { checkEvent } from '../../src/events/check.js'
import { decodeFrame, FrameError } from '../../src/net/frames.js'
import { ConfigError, defaultConfig, mergeConfig } from '../../src/config/config.js'
import { apply } from '../../src/state/reducer.js'
import { emptyState } from '../../src/state/types.js'
import { stateHash } from '../../src/state/hash.js'
import { buildApi } from '../../src/api/server.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { CisNode } from '../../src/node/node.js'
import { cleanup, tempDir } from '../helpers/agent.js'

const VALID = { name: 'ok', priority: 1, tags: ['t'], replace: { '@A@': 'a' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 }, env: { A: '1' }, timeout: '1m', retries: 1, files: [{ path: 'a.txt', content: '@A@', replace: {} }], target: { all: true } }] }] }

/** Mutations of a valid joblist: a field replaced by anything, deleted, or renamed. */
const mutated = fc.tuple(fc.array(fc.constantFrom('name', 'priority', 'tags', 'replace', 'stages', 0, 'jobs', 'run', 'needs', 'env', 'timeout', 'retries', 'files', 'path', 'content', 'target', 'slot', 'all'), { minLength: 1, maxLength: 6 }), fc.anything(), fc.boolean())
  .map(([path, value, del]) => {
    const doc: any = structuredClone(VALID)
    let cur = doc
    for (const k of path.slice(0, -1)) {
      const next = Array.isArray(cur) ? cur[0] : cur?.[k as string]
      if (typeof next !== 'object' || next === null) break
      cur = next
    }
    const last = path[path.length - 1]
    if (typeof cur === 'object' && cur !== null) {
      if (del) delete cur[last as string]
      else cur[last as string] = value
    }
    return doc
  })

test('fuzz: the joblist parser and validator never throw, on random text and mutated joblists', () => {
  fc.assert(fc.property(fc.string({ maxLength: 400 }), text => {
    const r = parseJoblistText(text)
    if (r.ok) validateJoblist(r.value)
  }), { seed: 11, numRuns: 2000 })
  fc.assert(fc.property(fc.oneof(fc.anything(), mutated), value => {
    const r = validateJoblist(value)
    if (!r.ok) assert.ok(r.issues.length > 0 && r.issues.every(i => typeof i.path === 'string' && typeof i.message === 'string' && i.message !== ''))
    validateJoblistInput(value)
  }), { seed: 12, numRuns: 3000 })
})

test('fuzz: event shape checks and the reducer never throw; malformed events are refused', () => {
  const ev = fc.record({
    origin: fc.oneof(fc.constant('A'), fc.string()),
    seq: fc.oneof(fc.nat(5), fc.integer(), fc.double()),
    ts: fc.nat(),
    lc: fc.nat(),
    sig: fc.string(),
    type: fc.constantFrom('node', 'submit', 'stop', 'master', 'accept', 'assign', 'cancel', 'lose', 'started', 'finished', 'bogus'),
    body: fc.oneof(fc.anything(), fc.record({ jobId: fc.string(), attempt: fc.nat(3), state: fc.constantFrom('succeeded', 'failed', 'x'), exitCode: fc.oneof(fc.constant(null), fc.integer()), signal: fc.constant(null), node: fc.string(), resources: fc.anything(), term: fc.nat(), request: fc.string(), id: fc.string(), onLost: fc.constant('retry'), maxLost: fc.nat(), joblistId: fc.string(), pid: fc.integer(), reason: fc.string() }, { requiredKeys: [] }))
  }, { requiredKeys: [] })
  const state = emptyState()
  let accepted = 0
  fc.assert(fc.property(fc.oneof(fc.anything(), ev), x => {
    const problem = checkEvent(x)
    if (problem === null) { apply(state, x as any); accepted++ }
  }), { seed: 13, numRuns: 5000 })
  assert.ok(accepted > 0, 'some well-formed events got through to the reducer')
  assert.match(stateHash(state), /^[0-9a-f]{32}$/)
})

test('fuzz: sync and rpc frames: random bytes give a FrameError or a value, never a crash', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), bytes => {
    try { decodeFrame(bytes) } catch (err) { assert.ok(err instanceof FrameError) }
  }), { seed: 14, numRuns: 3000 })
})

test('fuzz: the config file: anything gives a ConfigError or a config', () => {
  fc.assert(fc.property(fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom('name', 'api', 'resources', 'priority', 'exec', 'scheduler', 'heartbeat', 'listen', 'peers', 'mdns', 'log'), fc.anything())), raw => {
    try { mergeConfig(defaultConfig(), raw, 'fuzz.yaml') } catch (err) { assert.ok(err instanceof ConfigError, String(err)) }
  }), { seed: 15, numRuns: 3000 })
})

let node: CisNode
let app: FastifyInstance
let dir: string
before(async () => {
  dir = tempDir()
  node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'fuzz', mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }, log: pino({ level: 'silent' }), store: new MemoryEventStore() })
  await node.start()
  app = buildApi(node, { bodyLimit: 64 * 1024, requireToken: false })
  await node.announce('http://127.0.0.1:0')
})
after(async () => { await app.close(); await node.stop(); cleanup(dir) })

test('fuzz: every API route with random bodies and queries answers 2xx/4xx, never 5xx; state stays consistent', async () => {
  const routes = ['/v1/joblists', '/v1/plan', '/v1/joblists/x/stop', '/v1/jobs/x/stop']
  const gets = ['/v1/joblists', '/v1/joblists/', '/v1/jobs/', '/v1/nodes', '/v1/state', '/v1/stats', '/v1/health']
  await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(fc.anything(), mutated), fc.constantFrom('application/json', 'application/yaml', 'text/plain'), async (url, body, type) => {
    const payload = type === 'application/json' ? JSON.stringify(body ?? null) ?? 'null' : String(typeof body === 'string' ? body : JSON.stringify(body))
    const r = await app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload })
    assert.ok(r.statusCode < 500, `${url} answered ${r.statusCode}: ${r.body}`)
  }), { seed: 16, numRuns: 400 })
  await fc.assert(fc.asyncProperty(fc.constantFrom(...gets), fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), async (url, a, b) => {
    const r = await app.inject({ method: 'GET', url: `${url}${encodeURIComponent(a)}?state=${encodeURIComponent(b)}&offset=${encodeURIComponent(a)}&stream=${encodeURIComponent(b)}&event=${encodeURIComponent(a)}` })
    assert.ok(r.statusCode < 500, `${url} answered ${r.statusCode}`)
  }), { seed: 17, numRuns: 400 })
  const health = await app.inject({ method: 'GET', url: '/v1/health' })
  assert.equal(health.json().ok, true, 'the node is still running')
})
