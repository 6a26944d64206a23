// G-5: `cis export --to postgres://…` against a REAL PostgreSQL server (a cluster of the test's
// own, see helpers/postgres.ts) and a real agent: the tables agree with the node (`cis acct`,
// GET /v1/state, the views); a following export SIGKILLed in the middle of a transaction
// resumes with neither gap nor duplicate; a stop lets the batch in hand commit; a bad --to is
// exit 2 and an unreachable database exit 3, each saying what to do. Without a PostgreSQL
// server binary the database tests are skipped, saying which binary is missing.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import pg from 'pg'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, api, cleanup, startAgent, waitFinal, waitFor } from '../helpers/agent.js'
import type { Postgres } from '../helpers/postgres.js'
import { postgresSkipReason, startPostgres } from '../helpers/postgres.js'

const skip = postgresSkipReason()
let agent: Agent | undefined
let server: Postgres | undefined
let db: pg.Client | undefined
let url = ''
const children = new Set<ChildProcess>()

interface Run { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

async function cis (args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    const addr = agent !== undefined && !args.includes('--addr') ? ['--addr', agent.url] : []
    execFile(process.execPath, [CIS, ...args, ...addr], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 120_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown, signal?: NodeJS.Signals }) | null
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, signal: e?.signal ?? null, stdout, stderr })
    })
  })
}

/** A `cis export` that follows the node, as a child process; `done` resolves when it exits. */
function follow (args: string[]): { proc: ChildProcess, done: Promise<Run>, stderr: () => string } {
  const proc = spawn(process.execPath, [CIS, 'export', '--to', url, ...args, '--addr', (agent as Agent).url], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const done = new Promise<Run>(resolve => proc.once('exit', (code, signal) => { children.delete(proc); resolve({ code, signal, stdout, stderr }) }))
  return { proc, done, stderr: () => stderr }
}

async function submit (name: string, owner: string, jobs: Array<{ name: string, run: string, retries?: number }>, tags: string[] = []): Promise<string> {
  const r = await api((agent as Agent).url, '/v1/joblists', { body: { name, tags, stages: [{ name: 's', jobs }] }, headers: { 'x-cis-owner': owner } })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

async function count (table: string): Promise<number> {
  return Number((await (db as pg.Client).query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)
}

/** What the node holds: events, and the joblists, jobs (physical ones too) and attempts of its views. */
async function nodeCounts (): Promise<{ events: number, joblists: number, jobs: number, attempts: number, records: number }> {
  const url = (agent as Agent).url
  const events = (await api(url, '/v1/state?hash=false')).body.events as number
  const list = (await api(url, '/v1/joblists')).body.joblists as Array<{ id: string }>
  let jobs = 0
  let attempts = 0
  const walk = (j: any): void => { jobs++; attempts += j.attempts.length; for (const p of j.physical ?? []) walk(p) }
  for (const jl of list) for (const s of (await api(url, `/v1/joblists/${jl.id}`)).body.stages) for (const j of s.jobs) walk(j)
  const acct = await cis(['acct', '--records', '--json', '--since', '1970-01-01'])
  assert.equal(acct.code, 0, acct.stderr)
  return { events, joblists: list.length, jobs, attempts, records: JSON.parse(acct.stdout).records.length }
}

/** Every table against the node, and each origin's events are exactly seq 1..position: no gap, no duplicate. */
async function assertMatchesNode (): Promise<void> {
  const want = await nodeCounts()
  assert.deepEqual({
    events: await count('events'),
    joblists: await count('joblists'),
    jobs: await count('jobs'),
    attempts: await count('attempts'),
    records: await count('accounting')
  }, want)
  const c = db as pg.Client
  const origins = (await c.query(`SELECT e.origin, count(*) AS n, min(e.seq) AS lo, max(e.seq) AS hi, count(DISTINCT e.seq) AS distinct_seqs, p.seq AS position
    FROM events e LEFT JOIN cis_export_position p ON p.origin = e.origin GROUP BY e.origin, p.seq`)).rows
  assert.ok(origins.length > 0)
  for (const o of origins) {
    assert.equal(Number(o.lo), 1, `origin ${o.origin as string} starts at seq 1`)
    assert.equal(Number(o.n), Number(o.hi), `origin ${o.origin as string}: ${o.n as string} events for seqs 1..${o.hi as string} (no gap)`)
    assert.equal(Number(o.distinct_seqs), Number(o.n), 'no seq twice')
    assert.equal(Number(o.position), Number(o.hi), 'the position is the last event written')
  }
}

before(async () => {
  if (skip !== false) return
  server = await startPostgres()
  const admin = new pg.Client({ connectionString: server.url() })
  await admin.connect()
  await admin.query('CREATE DATABASE cis_export')
  await admin.end()
  url = server.url('cis_export')
  db = new pg.Client({ connectionString: url })
  await db.connect()
  agent = await startAgent({ name: 'export-node', args: ['--resource', 'slot=4'] })
})

after(async () => {
  for (const p of children) p.kill('SIGKILL')
  await db?.end().catch(() => {})
  if (agent !== undefined) { await agent.stop(); cleanup(agent.dataDir) }
  server?.stop()
})

test('G-5: cis export --once writes the events and the joblists, jobs, attempts and accounting rows; sums per owner equal cis acct', { skip }, async t => {
  t.diagnostic(`PostgreSQL runs as ${server?.runAs ?? 'this user'} on port ${String(server?.port)}`)
  const ids = [
    await submit('exp-a1', 'alice', [{ name: 'a', run: 'sleep 0.2' }, { name: 'b', run: 'true' }], ['nightly']),
    await submit('exp-a2', 'alice', [{ name: 'a', run: 'true' }]),
    await submit('exp-b1', 'bob', [{ name: 'a', run: 'exit 3' }, { name: 'b', run: 'true' }]),
    await submit('exp-b2', 'bob', [{ name: 'flaky', run: 'exit 4', retries: 1 }])
  ]
  for (const id of ids) await waitFinal((agent as Agent).url, id)

  const r = await cis(['export', '--to', url, '--once', '--json'])
  assert.equal(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout)
  assert.deepEqual(Object.keys(summary).sort(), ['events', 'joblists', 'rows', 'seconds'])
  assert.equal(summary.joblists, 4)
  assert.equal(summary.events, (await api((agent as Agent).url, '/v1/state?hash=false')).body.events)
  assert.match(r.stderr, /cis export: \d+ events, 4 joblists, \d+ rows \(\d+ rows\/s\); \d+ of \d+ events in the database, caught up/)
  await assertMatchesNode()

  // Per owner: jobs, failed and wall seconds, as `cis acct` sums them.
  const acct = await cis(['acct', '--json', '--since', '1970-01-01'])
  assert.equal(acct.code, 0, acct.stderr)
  const groups = Object.fromEntries(JSON.parse(acct.stdout).groups.map((g: any) => [g.group, g]))
  const rows = (await (db as pg.Client).query(`SELECT owner, count(*) AS jobs, count(*) FILTER (WHERE state IN ('failed', 'lost')) AS failed, sum(wall_s) AS wall
    FROM accounting GROUP BY owner ORDER BY owner`)).rows
  assert.deepEqual(rows.map(x => x.owner), ['alice', 'bob'])
  for (const x of rows) {
    assert.equal(Number(x.jobs), groups[x.owner].jobs, `${x.owner as string}: jobs`)
    assert.equal(Number(x.failed), groups[x.owner].failed, `${x.owner as string}: failed`)
    assert.ok(Math.abs(Number(x.wall) - groups[x.owner].wallS) < 0.002, `${x.owner as string}: wall ${x.wall as string} vs ${groups[x.owner].wallS as string}`)
  }
  assert.equal(groups.alice.jobs, 3)
  assert.equal(groups.bob.failed, 3, "bob's exit 3 and both attempts of exit 4")
  const total = (await (db as pg.Client).query('SELECT sum(wall_s) AS wall FROM accounting')).rows[0].wall
  assert.ok(Math.abs(Number(total) - groups.total.wallS) < 0.002)

  // The columns hold what the views say, with real types.
  const flaky = (await (db as pg.Client).query("SELECT a.n, a.state, a.exit_code, a.ended_at >= a.started_at AS ordered FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.name = 'flaky' ORDER BY a.n")).rows
  assert.deepEqual(flaky, [{ n: 1, state: 'failed', exit_code: 4, ordered: true }, { n: 2, state: 'failed', exit_code: 4, ordered: true }])
  const jl = (await (db as pg.Client).query('SELECT owner, state, tags, submitted_at, view->>\'name\' AS name FROM joblists WHERE id = $1', [ids[0]])).rows[0]
  assert.deepEqual({ owner: jl.owner, state: jl.state, tags: jl.tags, name: jl.name }, { owner: 'alice', state: 'succeeded', tags: ['nightly'], name: 'exp-a1' })
  assert.ok(jl.submitted_at instanceof Date)
  const failedJoblists = (await (db as pg.Client).query("SELECT count(*) AS n FROM joblists WHERE state = 'failed'")).rows[0].n
  assert.equal(Number(failedJoblists), 2)
  // The README's "what happened to one joblist" query, as written there: the joblist was
  // submitted on the master (a lone agent), its submit carrying its accept and its job's assign.
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const from = readme.indexOf('WITH acc AS')
  const sql = readme.slice(from, readme.indexOf('ORDER BY ts, lc;', from) + 'ORDER BY ts, lc'.length).replaceAll('kx3f-12', ids[0])
  const story = (await (db as pg.Client).query(sql)).rows as Array<{ type: string, body: any }>
  assert.equal(story[0]?.type, 'submit', 'it starts with the submit')
  assert.equal(story[0].body.accept.id, ids[0], 'which carries its accept')
  assert.ok(!story.some(r => r.type === 'accept'), 'no accept event of its own')
  assert.equal(story.filter(r => r.type === 'finished').length, 2, 'and its two jobs\' ends')

  // Run again: nothing new, nothing written twice.
  const again = await cis(['export', '--to', url, '--once', '--json'])
  assert.equal(again.code, 0, again.stderr)
  assert.equal(JSON.parse(again.stdout).events, 0)
  await assertMatchesNode()
})

test('G-5: a following export SIGKILLed inside a transaction resumes with --once: every event once, every table equal to the node', { skip }, async t => {
  const ids: string[] = []
  for (let i = 0; i < 30; i++) ids.push(await submit(`exp-more-${i}`, i % 3 === 0 ? 'bob' : 'alice', [{ name: 'j', run: i % 5 === 0 ? 'exit 1' : 'true' }]))
  for (const id of ids) await waitFinal((agent as Agent).url, id)
  const total = (await api((agent as Agent).url, '/v1/state?hash=false')).body.events as number
  const before = await count('events')
  // At least two events a joblist (submitted on the master, a lone agent: the submit carrying its
  // accept and assign, the finished carrying the start): batches of five, many.
  assert.ok(total - before >= 2 * ids.length, `${total - before} new events`)

  // A second connection holds the position table once the first batch is committed: the
  // follower's next batch then waits inside its transaction (events and rows written, not
  // committed) at the position's upsert, where it is killed. (If it caught up first, resume
  // is checked all the same.)
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  let committed = before
  try {
    const f = follow(['--batch', '5'])
    await waitFor('the first batch in the database', async () => await count('events') > before, 60_000, 5)
    await blocker.query('BEGIN')
    await blocker.query('LOCK TABLE cis_export_position IN EXCLUSIVE MODE')
    committed = await count('events')
    const where = await waitFor('the follower to wait inside its transaction, or to catch up', async () => {
      const waiting = (await (db as pg.Client).query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'cis export' AND wait_event_type = 'Lock'")).rows[0].n
      if (Number(waiting) > 0) return 'blocked'
      return committed === total ? 'caught up' : undefined
    }, 30_000, 20)
    t.diagnostic(`the follower had committed ${committed - before} of ${total - before} new events when it was ${where === 'blocked' ? 'killed inside a transaction' : 'killed (it had caught up)'}`)
    f.proc.kill('SIGKILL')
    const end = await f.done
    assert.equal(end.signal, 'SIGKILL')
    await blocker.query('COMMIT')
    assert.equal(await count('events'), committed, 'the killed transaction left nothing behind')
    if (where === 'blocked') assert.ok(committed < total, 'killed mid-way')
  } finally {
    await blocker.end().catch(() => {})
  }

  const r = await cis(['export', '--to', url, '--once', '--json'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout).events, total - committed, 'the resumed run wrote exactly what the killed one had not committed')
  assert.equal(await count('events'), total)
  await assertMatchesNode()
  const failed = (await (db as pg.Client).query("SELECT count(*) AS n FROM joblists WHERE name LIKE 'exp-more-%' AND state = 'failed'")).rows[0].n
  assert.equal(Number(failed), 6)
})

test('G-5: a stop (SIGTERM) while a batch is in hand lets that batch commit, then exits 0 with the summary', { skip }, async () => {
  const ids = [await submit('exp-last-1', 'carol', [{ name: 'j', run: 'true' }]), await submit('exp-last-2', 'carol', [{ name: 'j', run: 'true' }])]
  for (const id of ids) await waitFinal((agent as Agent).url, id)
  const total = (await api((agent as Agent).url, '/v1/state?hash=false')).body.events as number
  const before = await count('events')
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  try {
    // The follower's first batch waits at the position's upsert; the stop comes then.
    await blocker.query('BEGIN')
    await blocker.query('LOCK TABLE cis_export_position IN EXCLUSIVE MODE')
    const f = follow(['--json'])
    await waitFor('the follower to wait inside its transaction', async () =>
      Number((await (db as pg.Client).query("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'cis export' AND wait_event_type = 'Lock'")).rows[0].n) > 0, 30_000, 20)
    f.proc.kill('SIGTERM')
    await waitFor('the follower to say it stops after the batch', () => /stopping after the batch in hand/.test(f.stderr()), 10_000, 20)
    assert.equal(await count('events'), before, 'nothing committed while the table is held')
    await blocker.query('COMMIT')
    const end = await f.done
    assert.equal(end.code, 0, end.stderr)
    const summary = JSON.parse(end.stdout)
    assert.equal(summary.events, total - before)
    assert.equal(summary.joblists, 2)
  } finally {
    await blocker.end().catch(() => {})
  }
  assert.equal(await count('events'), total)
  await assertMatchesNode()
  const carol = (await (db as pg.Client).query("SELECT count(*) AS n FROM accounting WHERE owner = 'carol'")).rows[0].n
  assert.equal(Number(carol), 2)
})

test('G-5: a missing database is exit 2 saying how to create it', { skip }, async () => {
  const r = await cis(['export', '--to', (server as Postgres).url('no_such_db'), '--once'])
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, /there is no database 'no_such_db' at 127\.0\.0\.1:\d+: create it \(createdb -h 127\.0\.0\.1 -p \d+ -U cis no_such_db\)/)
})

test('G-5: a bad --to is exit 2 showing the expected form; an unreachable database is exit 3 naming its address', async () => {
  for (const to of ['mysql://cis@127.0.0.1/cis', 'not a url', 'postgres:///cis']) {
    const r = await cis(['export', '--to', to, '--once', '--addr', 'http://127.0.0.1:9'])
    assert.equal(r.code, 2, `${to}: ${r.stderr}`)
    assert.match(r.stderr, /^cis: --to: .*give postgres:\/\/USER\[:PASSWORD\]@HOST\[:PORT\]\/DATABASE, e\.g\. postgres:\/\/cis@127\.0\.0\.1:5432\/cis\n$/, to)
  }
  const secret = await cis(['export', '--to', 'postgres://cis:hunter2@/cis', '--once', '--addr', 'http://127.0.0.1:9'])
  assert.equal(secret.code, 2)
  assert.doesNotMatch(secret.stderr, /hunter2/, 'the password is never shown')
  // Port 9 (discard) has no listener here: connection refused.
  const away = await cis(['export', '--to', 'postgres://cis@127.0.0.1:9/cis', '--once', '--addr', 'http://127.0.0.1:9'])
  assert.equal(away.code, 3, away.stderr)
  assert.match(away.stderr, /cannot reach the database at 127\.0\.0\.1:9 \(connection refused\)\. Is PostgreSQL running there/)
  const json = await cis(['export', '--to', 'postgres://cis@127.0.0.1:9/cis', '--once', '--json', '--addr', 'http://127.0.0.1:9'])
  assert.equal(json.code, 3)
  assert.equal(JSON.parse(json.stdout).code, 'ERR_DB_UNREACHABLE')
})
