// P-5: GET /metrics in the Prometheus text format, on real agents, read with a strict parser
// of the text format (test/helpers/prom-text.ts: the npm parsers were not usable, see there).
import '../../src/polyfill.js'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import { EVENT_TYPES } from '../../src/events/types.js'
import { CisNode } from '../../src/node/node.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, setApiToken, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import { startCluster } from '../helpers/cluster.js'
import { everyOnGrid, gridTimerLateness } from '../../src/util/grid-timer.js'
import type { Family } from '../helpers/prom-text.js'
import { histogramSeries, parsePromText, sampleValue as value } from '../helpers/prom-text.js'

const TOKEN = 'metrics-s3cret'
const OWNER = 'metrics-owner-person'
let agent: Agent

before(async () => {
  setApiToken(TOKEN)
  agent = await startAgent({ name: 'metered', args: ['--token', TOKEN] })
})
after(async () => {
  await agent?.stop()
  if (agent !== undefined) cleanup(agent.dataDir)
  setApiToken(undefined)
})

/** Every cis_ metric and its type. */
const EXPECTED: Record<string, string> = {
  cis_joblists: 'gauge',
  cis_jobs: 'gauge',
  cis_jobs_started_total: 'counter',
  cis_jobs_finished_total: 'counter',
  cis_queue_length: 'gauge',
  cis_queue_oldest_wait_seconds: 'gauge',
  cis_scheduler_pass_duration_seconds: 'histogram',
  cis_events_appended_total: 'counter',
  cis_events_received_total: 'counter',
  cis_gossip_messages_total: 'counter',
  cis_gossip_bytes_total: 'counter',
  cis_sync_messages_total: 'counter',
  cis_sync_bytes_total: 'counter',
  cis_membership_messages_total: 'counter',
  cis_signature_checks_total: 'counter',
  cis_peers_alive: 'gauge',
  cis_master_changes_total: 'counter',
  cis_is_master: 'gauge',
  cis_api_request_duration_seconds: 'histogram'
}

type Metrics = Map<string, Family>

interface Scrape { text: string, metrics: Metrics, contentType: string }

async function scrape (url: string): Promise<Scrape> {
  const r = await api<string>(url, '/metrics')
  assert.equal(r.status, 200, String(r.body))
  return { text: r.body, metrics: parsePromText(r.body), contentType: r.headers.get('content-type') ?? '' }
}

const labelValues = (m: Metrics): string[] => [...m.values()].flatMap(f => f.samples.flatMap(s => Object.values(s.labels)))

async function submit (spec: unknown): Promise<string> {
  const r = await api(agent.url, '/v1/joblists', { body: spec, headers: { 'x-cis-owner': OWNER } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

test('P-5: GET /metrics serves every cis_ metric with its TYPE; counters end in _total; state gauges match the API; failures are counted; no IDs or names in label values', async () => {
  const ok = await submit({ name: 'metrics-ok', stages: [{ name: 's', jobs: [{ name: 'a', run: 'true' }, { name: 'b', run: 'true' }] }] })
  const bad = await submit({ name: 'metrics-bad', stages: [{ name: 's', jobs: [{ name: 'c', run: 'exit 3' }] }] })
  const okList = await waitFinal(agent.url, ok)
  const badList = await waitFinal(agent.url, bad)
  assert.equal(okList.state, 'succeeded')
  assert.equal(badList.state, 'failed')
  assert.equal((await api(agent.url, '/v1/no-such-route')).status, 404)

  const { text, metrics: m, contentType } = await scrape(agent.url)
  assert.match(contentType, /^text\/plain; version=0\.0\.4/)

  for (const [name, type] of Object.entries(EXPECTED)) {
    assert.equal(m.get(name)?.type, type, `${name} is exposed as a ${type}`)
    assert.ok((m.get(name)?.help ?? '') !== '', `${name} has its HELP`)
  }
  for (const name of [...m.keys()].filter(n => n.startsWith('cis_'))) assert.ok(name in EXPECTED, `${name} is documented in the test`)
  for (const f of m.values()) {
    assert.notEqual(f.type, 'untyped', `${f.name} has a TYPE`)
    if (f.type === 'counter') assert.match(f.name, /_total$/, `counter ${f.name} ends in _total`)
  }
  // The process metrics of prom-client, on this node's registry.
  for (const name of ['process_cpu_user_seconds_total', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) assert.ok(m.has(name), `${name} is exposed`)

  // Joblists and jobs by state match what the API says.
  const stats = (await api(agent.url, '/v1/stats')).body
  for (const state of ['queued', 'running', 'succeeded', 'failed', 'stopped']) {
    assert.equal(value(m, 'cis_joblists', { state }), stats.joblists[state] ?? 0, `joblists ${state}`)
  }
  const jobs: Record<string, number> = {}
  for (const jl of (await api(agent.url, '/v1/joblists')).body.joblists) for (const [s, n] of Object.entries(jl.jobs as Record<string, number>)) jobs[s] = (jobs[s] ?? 0) + n
  for (const state of ['pending', 'running', 'succeeded', 'failed', 'stopped', 'lost']) {
    assert.equal(value(m, 'cis_jobs', { state }), jobs[state] ?? 0, `jobs ${state}`)
  }
  assert.equal(value(m, 'cis_queue_length'), 0)
  assert.equal(value(m, 'cis_queue_oldest_wait_seconds'), 0)

  // This node ran three attempts: two succeeded, one failed.
  assert.equal(value(m, 'cis_jobs_started_total'), 3)
  assert.equal(value(m, 'cis_jobs_finished_total', { result: 'succeeded' }), 2)
  assert.equal(value(m, 'cis_jobs_finished_total', { result: 'failed' }), 1)
  assert.equal(value(m, 'cis_jobs_finished_total', { result: 'stopped' }), 0)
  assert.equal(value(m, 'cis_jobs_finished_total', { result: 'lost' }), 0)

  // Events by type: this node wrote them all (it is alone) and received none.
  for (const type of EVENT_TYPES) {
    assert.ok(value(m, 'cis_events_appended_total', { type }) !== undefined, `appended ${type}`)
    assert.equal(value(m, 'cis_events_received_total', { type }), 0, `received ${type}`)
  }
  assert.equal(value(m, 'cis_events_appended_total', { type: 'submit' }), 2)
  // (Made on the master, each submit carried its accept: no accept event of its own, issue 12.)
  assert.equal(value(m, 'cis_events_appended_total', { type: 'accept' }), 0)
  assert.equal(value(m, 'cis_events_appended_total', { type: 'finished' }), 3)
  assert.ok((value(m, 'cis_gossip_messages_total', { direction: 'sent', topic: 'cis/events/1' }) ?? 0) > 0, 'its events were published')
  assert.ok((value(m, 'cis_gossip_bytes_total', { direction: 'sent', topic: 'cis/events/1' }) ?? 0) > 0)
  assert.equal(value(m, 'cis_sync_messages_total', { direction: 'received' }), 0)

  // Alone: master, no peers, no change of master.
  assert.equal(value(m, 'cis_is_master'), 1)
  assert.equal(value(m, 'cis_peers_alive'), 0)
  assert.equal(value(m, 'cis_master_changes_total'), 0)
  const passes = histogramSeries(m.get('cis_scheduler_pass_duration_seconds') as Family)
  assert.equal(passes.length, 1)
  assert.ok(passes[0].count > 0, 'the master timed its passes')

  // API requests by route template and status, never by raw URL.
  const requests = histogramSeries(m.get('cis_api_request_duration_seconds') as Family)
  const has = (method: string, route: string, status: string): boolean => requests.some(h => h.labels.method === method && h.labels.route === route && h.labels.status === status && h.count > 0)
  assert.ok(has('POST', '/v1/joblists', '201'), JSON.stringify(requests.map(h => h.labels)))
  assert.ok(has('GET', '/v1/joblists/:ref', '200'))
  assert.ok(has('GET', 'unmatched', '404'))
  for (const h of requests) assert.ok(h.labels.route === 'unmatched' || h.labels.route.startsWith('/'), `route ${h.labels.route}`)

  // No joblist or job ID, node ID, joblist name or owner anywhere: not in label values, not in the text.
  const node = (await api(agent.url, '/v1/health')).body
  const jobIds = [okList, badList].flatMap(jl => jl.stages.flatMap((s: any) => s.jobs.map((j: any) => j.id as string)))
  const secrets = [ok, bad, ...jobIds, node.id, OWNER, 'metrics-ok', 'metrics-bad']
  const values = labelValues(m)
  for (const s of secrets) {
    assert.ok(!values.some(v => v.includes(s)), `no label value contains ${s}`)
    assert.ok(!text.includes(s), `the exposition does not mention ${s}`)
  }
})

test('P-5: GET /metrics needs the bearer token like the rest of the API: a wrong or missing one gives 401', async () => {
  const wrong = await fetch(`${agent.url}/metrics`, { headers: { authorization: 'Bearer not-the-token' } })
  assert.equal(wrong.status, 401)
  assert.equal((await wrong.json() as { code: string }).code, 'ERR_UNAUTHORIZED')
  const none = await fetch(`${agent.url}/metrics`)
  assert.equal(none.status, 401)
  const right = await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
  assert.equal(right.status, 200)
  assert.match(await right.text(), /^# HELP /m)
  // The refusals are counted by route, with their status.
  const { metrics: m } = await scrape(agent.url)
  assert.ok(histogramSeries(m.get('cis_api_request_duration_seconds') as Family).some(h => h.labels.route === '/metrics' && h.labels.status === '401' && h.count >= 2))
})

test('P-5: two nodes in one process have a registry each', async () => {
  const dirs = [tempDir(), tempDir()]
  const nodes = dirs.map((data, i) => new CisNode({ config: { ...defaultConfig(), data, name: `in-process-${i}` }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false }))
  try {
    for (const n of nodes) { await n.start(); await n.announce('http://127.0.0.1:0') }
    assert.notEqual(nodes[0].metrics.registry, nodes[1].metrics.registry)
    for (const n of nodes) {
      const m = parsePromText(await n.metrics.text())
      assert.equal(value(m, 'cis_events_appended_total', { type: 'node' }), 1, 'each counts its own events only')
      assert.ok(m.has('process_cpu_user_seconds_total'))
    }
  } finally {
    for (const n of nodes) await n.stop()
    for (const d of dirs) cleanup(d)
  }
})

test('P-5 issue 12: the event-loop delay gauges read how late the node\'s periodic timers ran (a stall shows), not a sampling timer of their own', async () => {
  const data = tempDir()
  const n = new CisNode({ config: { ...defaultConfig(), data, name: 'lag-node' }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  const t = everyOnGrid(10, () => {})
  try {
    await n.start()
    gridTimerLateness().reset()
    // A timer due within 10 ms, the loop busy for 150: it runs at least 140 ms late.
    const end = performance.now() + 150
    while (performance.now() < end) { /* busy */ }
    await waitFor('a timer to run after the stall', () => gridTimerLateness().count >= 2 ? true : undefined, 10_000, 10)
    const m = parsePromText(await n.metrics.text())
    for (const stat of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) assert.equal(m.get(`nodejs_eventloop_lag_${stat}_seconds`)?.type, 'gauge', stat)
    assert.ok((value(m, 'nodejs_eventloop_lag_max_seconds', {}) ?? 0) >= 0.14, `max ${value(m, 'nodejs_eventloop_lag_max_seconds', {})} s`)
    assert.ok((value(m, 'nodejs_eventloop_lag_min_seconds', {}) ?? 0) > 0)
    assert.ok(m.has('nodejs_eventloop_lag_seconds'), 'prom-client\'s lag at scrape time stays')
  } finally {
    t.stop()
    await n.stop()
    cleanup(data)
  }
})

test('P-5: between two agents, events, gossip and sync are counted as received; one master; a peer each', async () => {
  setApiToken(undefined)
  const c = await startCluster([{ name: 'mx1', priority: 2 }, { name: 'mx2', priority: 1 }])
  try {
    const [a, b] = c.agents
    const r = await api(a.url, '/v1/joblists', { body: { name: 'replicated', stages: [{ name: 's', jobs: [{ name: 'x', run: 'true' }] }] } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    await waitFinal(b.url, r.body.id as string)
    const bm = await waitFor('mx2 to count what it received', async () => {
      const { metrics: m } = await scrape(b.url)
      const got = (name: string, labels: Record<string, string>): number => value(m, name, labels) ?? 0
      return got('cis_events_received_total', { type: 'submit' }) >= 1 && got('cis_gossip_messages_total', { direction: 'received', topic: 'cis/heartbeat/1' }) > 0 &&
        got('cis_sync_messages_total', { direction: 'received' }) > 0 && got('cis_sync_bytes_total', { direction: 'received' }) > 0 ? m : undefined
    })
    const am = (await scrape(a.url)).metrics
    assert.ok((value(bm, 'cis_signature_checks_total') ?? 0) >= 1, 'mx2 checked the signatures of what it received')
    assert.equal(value(bm, 'cis_peers_alive'), 1)
    assert.equal(value(am, 'cis_peers_alive'), 1)
    assert.equal((value(am, 'cis_is_master') ?? 0) + (value(bm, 'cis_is_master') ?? 0), 1, 'exactly one master')
    assert.ok((value(am, 'cis_sync_messages_total', { direction: 'sent' }) ?? 0) + (value(bm, 'cis_sync_messages_total', { direction: 'sent' }) ?? 0) > 0)
  } finally {
    await c.stopAll()
    setApiToken(TOKEN)
  }
})

test('P-5: the strict parser of the tests refuses what the text format does not allow', () => {
  const ok = '# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 1\n\n# TYPE g gauge\ng NaN\ng{y="1"} -Inf 1700000000000\n'
  const m = parsePromText(ok)
  assert.equal(value(m, 'a_total', { x: 'q"\\\n' }), 1)
  assert.ok(Number.isNaN(value(m, 'g')))
  const h = (count: number, inf: number): string => `# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} ${inf}\nh_sum 2\nh_count ${count}\n`
  assert.equal(histogramSeries(parsePromText(h(2, 2)).get('h') as Family)[0].count, 2)
  const bad = [
    'a 1', // no final line feed
    'a{x=1} 1\n', // unquoted label value
    'a{x="1",x="2"} 1\n', // a label twice
    'a{x="\\t"} 1\n', // an escape the format does not have
    'a one\n', // not a number
    '9a 1\n', // a bad name
    'a 1\na 2\n', // a series twice
    '# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x="1"} 2\n', // a family in two blocks
    '# TYPE c counter\nc -1\n', // a counter below zero
    'a 1\n# TYPE a gauge\n', // TYPE after the samples
    h(2, 3), // _count is not the +Inf bucket
    '# TYPE h histogram\nh_bucket{le="2"} 1\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' // le not ascending
  ]
  for (const text of bad) assert.throws(() => parsePromText(text), Error, JSON.stringify(text))
})
