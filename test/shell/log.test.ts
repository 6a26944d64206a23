// G-5: GET /v1/log, the export's feed, on a node without a network (fastify inject, an
// in-memory store): pages of `limit` events after a version vector, in seq order per origin,
// that add up to exactly the stored log; `more` until the end; a malformed `after` or `limit`
// is a 400 that says what is expected.
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import type { FastifyInstance } from 'fastify'
import { buildApi } from '../../src/api/server.js'
import { defaultConfig } from '../../src/config/config.js'
import { formatVector, parseVector } from '../../src/events/vector.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { CisNode } from '../../src/node/node.js'
import { FINAL_JOBLIST_STATES } from '../../src/state/types.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'

let node: CisNode
let app: FastifyInstance
let dir: string

before(async () => {
  dir = tempDir()
  const config = { ...defaultConfig(), data: dir, name: 'log', mdns: false, listen: ['/ip4/127.0.0.1/tcp/0'] }
  node = new CisNode({ config, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  await node.start()
  app = buildApi(node, { bodyLimit: 64 * 1024, requireToken: false })
  await app.ready()
  await node.announce('http://127.0.0.1:0')
  for (let i = 0; i < 4; i++) {
    const r = await app.inject({ method: 'POST', url: '/v1/joblists', payload: { name: `log-${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
    assert.equal(r.statusCode, 201, r.body)
  }
  // The log is still while every joblist has ended (nothing else writes events here).
  await waitFor('the joblists to end', () => Object.values(node.view().state.joblists).every(j => FINAL_JOBLIST_STATES.has(j.state)))
})
after(async () => { await app.close(); await node.stop(); cleanup(dir) })

const get = async (query: string): Promise<{ status: number, body: any }> => {
  const r = await app.inject({ method: 'GET', url: `/v1/log${query}` })
  return { status: r.statusCode, body: r.json() }
}

test('G-5: GET /v1/log pages through the stored events: each page starts after the last one, together they are the whole log once', async () => {
  const all = await get('')
  assert.equal(all.status, 200)
  assert.equal(all.body.more, false)
  const stored = await node.storedEvents()
  assert.equal(all.body.events.length, stored.length)
  assert.equal(all.body.total, stored.length)
  assert.deepEqual(all.body.position, { [node.id]: stored.length })
  assert.equal(all.body.next, `${node.id}:${stored.length}`)

  const seen: string[] = []
  let next = ''
  let pages = 0
  for (;;) {
    const page = await get(`?after=${encodeURIComponent(next)}&limit=3`)
    assert.equal(page.status, 200, JSON.stringify(page.body))
    assert.ok(page.body.events.length <= 3)
    seen.push(...page.body.events.map((e: any) => `${e.origin as string}:${e.seq as number}`))
    next = page.body.next
    pages++
    if (!page.body.more) break
    assert.equal(page.body.events.length, 3, 'a page with more after it is full')
  }
  assert.deepEqual(seen, stored.map(e => `${e.origin}:${e.seq}`), 'every event once, in seq order')
  assert.equal(pages, Math.ceil(stored.length / 3), 'the last page says there is no more (no empty page after it)')
  // Caught up: nothing more, and the same position.
  const end = await get(`?after=${encodeURIComponent(next)}`)
  assert.deepEqual({ events: end.body.events, more: end.body.more, next: end.body.next }, { events: [], more: false, next })
  // An origin the node does not know changes nothing, and stays in the position.
  const other = await get(`?after=${encodeURIComponent(`${next},12D3KooWnobody:7`)}`)
  assert.deepEqual(other.body.position, { [node.id]: stored.length, '12D3KooWnobody': 7 })
})

test('G-5: GET /v1/log answers 400 for a malformed after or limit, saying what is expected', async () => {
  for (const after of ['abc', 'x:1,x:2', 'x:-1', 'x:1;y:2', ':5']) {
    const r = await get(`?after=${encodeURIComponent(after)}`)
    assert.equal(r.status, 400, after)
    assert.equal(r.body.code, 'ERR_BAD_REQUEST')
    assert.match(r.body.error, /^after: .*give ORIGIN:SEQ pairs separated by commas/, after)
  }
  assert.match((await get('?after=x:1,x:2')).body.error, /origin x is given twice/)
  for (const limit of ['0', '10001', 'ten', '1.5']) {
    const r = await get(`?limit=${limit}`)
    assert.equal(r.status, 400, limit)
    assert.match(r.body.error, /^limit: .* is not a whole number from 1 to 10000/)
  }
})

test('G-5: a version vector survives text: format then parse gives it back (zeros left out)', () => {
  const v = { b: 3, a: 10, z: 0 }
  assert.equal(formatVector(v), 'a:10,b:3')
  assert.deepEqual(parseVector(formatVector(v)), { a: 10, b: 3 })
  assert.deepEqual(parseVector(''), {})
  assert.deepEqual(parseVector('__proto__:4'), { ['__proto__']: 4 })
})

test('G-5: GET /v1/log with any after and limit answers 200 or 400, never 5xx', async () => {
  const fc = (await import('fast-check')).default
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 60 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer().map(String)), async (after, limit) => {
    const r = await app.inject({ method: 'GET', url: `/v1/log?after=${encodeURIComponent(after)}&limit=${encodeURIComponent(limit)}` })
    assert.ok(r.statusCode === 200 || r.statusCode === 400, `after=${after} limit=${limit}: ${r.statusCode} ${r.body}`)
  }), { seed: 5, numRuns: 300 })
})
