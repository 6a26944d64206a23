// The HTTP API without sockets (fastify inject) on a node with an in-memory store and no
// network (no libp2p): the API needs only the node's narrow ApiNode interface.
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../src/api/server.js'
import { ERROR_CODES } from '../../src/api/errors.js'
import { defaultConfig } from '../../src/config/config.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { CisNode } from '../../src/node/node.js'
import { ROOT, cleanup, tempDir } from '../helpers/agent.js'

let node: CisNode
let app: FastifyInstance
let dir: string

before(async () => {
  dir = tempDir()
  const config = { ...defaultConfig(), data: dir, name: 'inject', mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }
  node = new CisNode({ config, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  await node.start()
  app = buildApi(node, { token: 's3cret', bodyLimit: 64 * 1024, requireToken: true })
  await node.announce('http://127.0.0.1:0')
})
after(async () => { await app.close(); await node.stop(); cleanup(dir) })

const auth = { authorization: 'Bearer s3cret' }

test('security: without the bearer token the API answers 401; with it, 200', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/v1/health' })).statusCode, 401)
  assert.equal((await app.inject({ method: 'GET', url: '/v1/health', headers: { authorization: 'Bearer wrong!' } })).statusCode, 401)
  const ok = await app.inject({ method: 'GET', url: '/v1/health', headers: auth })
  assert.equal(ok.statusCode, 200)
  assert.equal(ok.json().ok, true)
})

test('D-1: POST creates a joblist (201 with its ID); an oversized body is 413; an unknown content type is 415', async () => {
  const r = await app.inject({ method: 'POST', url: '/v1/joblists', headers: auth, payload: { name: 'via-inject', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
  assert.equal(r.statusCode, 201, r.body)
  assert.match(r.json().id, /^[0-9a-z]{4}-\d+$/)
  const big = await app.inject({ method: 'POST', url: '/v1/joblists', headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x', pad: 'y'.repeat(100 * 1024) }) })
  assert.equal(big.statusCode, 413)
  assert.equal(big.json().code, 'ERR_TOO_LARGE')
  const weird = await app.inject({ method: 'POST', url: '/v1/joblists', headers: { ...auth, 'content-type': 'application/x-thing' }, payload: 'zzz' })
  assert.equal(weird.statusCode, 415)
  const junk = await app.inject({ method: 'POST', url: '/v1/joblists', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name":' })
  assert.equal(junk.statusCode, 400)
  assert.equal((await app.inject({ method: 'GET', url: '/v1/nope', headers: auth })).statusCode, 404)
})

test('errors: every API error code is documented in the README', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${status} \\|`), `README documents ${code} (${status})`)
  }
})

test('R1-5/D-3: appends made back to back, each from the continuation of the one before, all become durable', { timeout: 20_000 }, async () => {
  // An append issued while the previous write batch is finishing must not be left unwritten
  // (awaited directly: the fewest ticks between one append's end and the next one's start).
  const within = async <T>(p: Promise<T>, what: string): Promise<T> => await Promise.race([p, new Promise<T>((_resolve, reject) => setTimeout(() => reject(new Error(`${what} never became durable`)), 5000).unref())])
  const keys: string[] = []
  for (let i = 0; i < 300; i++) {
    const e = await node.append('stop', { joblistId: `nope-${i}` })
    keys.push(`${e.origin}:${e.seq}`)
  }
  const chained = Array.from({ length: 50 }, (_, i) => i).reduce<Promise<unknown>>(async (p, i) => { await p; keys.push(await node.requestStop(`chain-${i}`)) }, Promise.resolve())
  await within(chained, 'a chain of appends')
  assert.equal(keys.length, 350)
  await node.flush()
  for (const k of keys) assert.ok(node.state.stops[k] !== undefined, `stop request ${k} is in the state`)
})
