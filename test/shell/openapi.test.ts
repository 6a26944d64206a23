// D-1: GET /v1/openapi.json documents every route the API has (collected with fastify's
// onRoute hook) and every error code of src/api/errors.ts. On a node without a network, with
// an in-memory store, through fastify inject.
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../src/api/server.js'
import { ERROR_CODES } from '../../src/api/errors.js'
import { defaultConfig } from '../../src/config/config.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { CisNode } from '../../src/node/node.js'
import { cleanup, tempDir } from '../helpers/agent.js'

let node: CisNode
let app: FastifyInstance
let dir: string
/** Every route the server declared: `METHOD /path`, HEAD routes (fastify's own) left out. */
const routes = new Set<string>()

before(async () => {
  dir = tempDir()
  const config = { ...defaultConfig(), data: dir, name: 'openapi', mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }
  node = new CisNode({ config, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  await node.start()
  // The test gate too: every route the server can have.
  app = buildApi(node, { bodyLimit: 64 * 1024, requireToken: false, testGate: true })
  app.addHook('onRoute', r => {
    for (const m of [r.method].flat()) if (m !== 'HEAD') routes.add(`${m} ${r.url}`)
  })
  await app.ready()
  await node.announce('http://127.0.0.1:0')
})
after(async () => { await app.close(); await node.stop(); cleanup(dir) })

const openapiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')

test('D-1: GET /v1/openapi.json is an OpenAPI 3 document with every route of the server, each with a summary and its answers', async () => {
  const r = await app.inject({ method: 'GET', url: '/v1/openapi.json' })
  assert.equal(r.statusCode, 200, r.body)
  const docu = r.json()
  assert.match(docu.openapi, /^3\./)
  assert.equal(docu.info.title, 'cisystem agent API')
  assert.ok(routes.size >= 30, `${routes.size} routes collected`)
  for (const route of ['PATCH /v1/joblists/:ref', 'PATCH /v1/jobs/:ref', 'POST /v1/jobs', 'GET /v1/openapi.json', 'GET /metrics', 'GET /v1/events', 'POST /v1/debug/partition', 'GET /v1/admin/backup']) {
    assert.ok(routes.has(route), `the server has ${route}`)
  }
  for (const route of routes) {
    const [method, url] = route.split(' ')
    const op = docu.paths[openapiPath(url)]?.[method.toLowerCase()]
    assert.ok(op !== undefined, `${route} is in the document`)
    assert.ok(typeof op.summary === 'string' && op.summary.length > 5, `${route} has a summary`)
    const answers = Object.entries(op.responses as Record<string, { description: string }>)
    assert.ok(answers.some(([s]) => s.startsWith('2')), `${route} documents its success`)
    for (const [status, a] of answers) assert.ok(a.description !== '' && a.description !== 'Default Response', `${route} ${status} has a description`)
    assert.ok(answers.some(([s]) => s === '401'), `${route} documents the token`)
    // Path parameters are documented.
    for (const m of url.matchAll(/:([A-Za-z0-9_]+)/g)) {
      assert.ok((op.parameters ?? []).some((p: { in: string, name: string }) => p.in === 'path' && p.name === m[1]), `${route} documents its parameter ${m[1]}`)
    }
  }
  // Query strings are documented where the routes read them.
  const query = (method: string, path: string): string[] => (docu.paths[path][method].parameters ?? []).filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name).sort()
  assert.deepEqual(query('get', '/v1/joblists'), ['at', 'name', 'state', 'unacked'])
  assert.deepEqual(query('get', '/v1/jobs/{ref}/logs'), ['attempt', 'follow', 'offset', 'stream'])
  assert.deepEqual(query('get', '/v1/state'), ['at', 'event', 'full', 'hash'])
  assert.deepEqual(query('get', '/v1/accounting'), ['by', 'joblist', 'node', 'owner', 'records', 'since', 'tag', 'until'])
  assert.deepEqual(query('get', '/v1/log'), ['after', 'limit'])
  // The change documents what can change.
  const patch = docu.paths['/v1/joblists/{ref}'].patch
  assert.deepEqual(Object.keys(patch.requestBody.content['application/json'].schema.properties).sort(), ['notify', 'priority', 'tags'])
  assert.ok(patch.responses['409'] !== undefined && patch.responses['404'] !== undefined && patch.responses['400'] !== undefined)
})

test('D-1: every error code of the API is documented in the OpenAPI document, with its status', async () => {
  const docu = (await app.inject({ method: 'GET', url: '/v1/openapi.json' })).json()
  const documented = new Map<string, Set<string>>()
  for (const ops of Object.values(docu.paths as Record<string, Record<string, { responses: Record<string, any> }>>)) {
    for (const op of Object.values(ops)) {
      for (const [status, a] of Object.entries(op.responses)) {
        const codes: string[] = a.content?.['application/json']?.schema?.properties?.code?.enum ?? []
        for (const c of codes) documented.set(c, new Set([...(documented.get(c) ?? []), status]))
      }
    }
  }
  for (const [code, status] of Object.entries(ERROR_CODES)) {
    assert.ok(documented.has(code), `${code} is documented`)
    assert.deepEqual([...(documented.get(code) ?? [])], [String(status)], `${code} is documented as ${status}`)
  }
})

test('D-1: documenting a response drops nothing: answers keep every field (the schemas are documentation only)', async () => {
  const health = (await app.inject({ method: 'GET', url: '/v1/health' })).json()
  assert.deepEqual(Object.keys(health).sort(), ['id', 'master', 'name', 'ok', 'version'])
  const sub = await app.inject({ method: 'POST', url: '/v1/joblists', payload: { name: 'doc-check', priority: 2, tags: ['x'], stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { cpu: 1 } }] }] }, query: { unsatisfiable: 'wait' } })
  assert.equal(sub.statusCode, 201, sub.body)
  const id = sub.json().id as string
  const jl = (await app.inject({ method: 'GET', url: `/v1/joblists/${id}` })).json()
  for (const k of ['id', 'name', 'state', 'priority', 'tags', 'owner', 'stages']) assert.ok(k in jl, `the joblist view has ${k}`)
  // Bad query values are still the route's own answers (no schema validation in between).
  const bad = await app.inject({ method: 'GET', url: '/v1/schedules/none?limit=zero' })
  assert.equal(bad.statusCode, 404)
  const change = await app.inject({ method: 'PATCH', url: `/v1/joblists/${id}`, payload: { priority: 9, stages: [] } })
  assert.equal(change.statusCode, 400)
  assert.equal(change.json().code, 'ERR_BAD_REQUEST')
  assert.match(change.json().error, /stages cannot be changed/)
})
