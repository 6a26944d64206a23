// The PostgreSQL side of `cis export` (G-5): connect, hold the export's lock, create the
// tables, read the position, and write one batch (its events, the rows of the joblists it
// touched, the new position) in ONE transaction. A crash or kill at any point leaves either
// the whole batch or none of it: the next run starts at the position, so nothing is skipped,
// and every row is upserted by its primary key, so nothing is written twice.
import pg from 'pg'
import type { LogEvent } from '../cli/api-types.js'
import type { Vector } from '../events/vector.js'
import { keyParts } from '../events/types.js'
import type { DatabaseUrl } from './database-url.js'
import type { JoblistRows } from './rows.js'
import { SCHEMA } from './schema.js'

/** Why the database cannot be used: the CLI maps the kind to its exit code (3, 2, 1). */
export class DatabaseError extends Error {
  override name = 'DatabaseError'
  constructor (readonly kind: 'unreachable' | 'refused' | 'failed', message: string) { super(message) }
}

/** One batch: events in seq order per origin, the rows of the joblists they touched, the position after them. */
export interface Batch {
  events: LogEvent[]
  /** Fresh rows, one entry per joblist (by its current ID). */
  joblists: JoblistRows[]
  /** Joblist IDs the node no longer knows (aliases of a winning accept): their rows go. */
  gone: string[]
  position: Vector
}

export interface Written {
  /** Events new to the database. */
  events: number
  /** Rows inserted or updated, all tables. */
  rows: number
}

/** Two exports into one database would race on its position: the second waits this long, then gives up. */
const LOCK_WAIT = '10s'
/** The advisory lock of the export (one per database). */
const LOCK_KEY = "hashtext('cis export')"
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ENOENT'])

/** What a driver error means for the person running the export. */
export function explain (err: unknown, db: DatabaseUrl, during: string): DatabaseError {
  const e = err as Error & { code?: string }
  const addr = `${db.host}:${db.port}`
  if (e instanceof DatabaseError) return e
  if ((e.code !== undefined && NETWORK_CODES.has(e.code)) || /Connection terminated|connection timeout|timeout expired/i.test(e.message)) {
    const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code ?? e.message
    return new DatabaseError('unreachable', during === 'connect'
      ? `cannot reach the database at ${addr} (${why}). Is PostgreSQL running there and listening on TCP? Check the host and port in --to (${db.where}).`
      : `lost the database at ${addr} while ${during} (${why}). Nothing of the unfinished batch was kept; run cis export again when it is back: it resumes after the last batch it committed.`)
  }
  if (e.code === '28P01' || e.code === '28000') return new DatabaseError('refused', `the database at ${addr} refused user '${db.user}': ${e.message}. Check the user and password in --to (or PGPASSWORD).`)
  if (e.code === '3D000') return new DatabaseError('refused', `there is no database '${db.database}' at ${addr}: create it (createdb -h ${db.host} -p ${db.port} -U ${db.user} ${db.database}) or name another in --to.`)
  if (e.code === '55P03') return new DatabaseError('failed', `another cis export is writing to ${db.where} (it holds the export's lock); stop it first, or export into another database.`)
  if (e.code === '42501') return new DatabaseError('refused', `user '${db.user}' may not ${during} in ${db.where}: ${e.message}. Grant it CREATE on the schema (or create the tables as their owner once).`)
  return new DatabaseError('failed', `the database at ${addr} failed while ${during}: ${e.message}${e.code !== undefined ? ` (SQLSTATE ${e.code})` : ''}`)
}

// Rows travel as one JSON parameter per table (jsonb_to_recordset): one statement per table
// and batch whatever its size, with no limit on parameters and no SQL built from values.
const EPOCH_MS = "timestamptz 'epoch' + x.ts * interval '1 millisecond'"

const INSERT_EVENTS = `
INSERT INTO events (origin, seq, ts, lc, type, body, sig)
SELECT x.origin, x.seq, ${EPOCH_MS}, x.lc, x.type, x.body, x.sig
FROM jsonb_to_recordset($1::jsonb) AS x(origin text, seq bigint, ts bigint, lc integer, type text, body jsonb, sig text)
ON CONFLICT (origin, seq) DO NOTHING`

const UPSERT_JOBLISTS = `
INSERT INTO joblists (id, name, owner, state, priority, tags, submitted_at, accepted_at, ended_at, view)
SELECT x.id, x.name, x.owner, x.state, x.priority, x.tags, x.submitted_at, x.accepted_at, x.ended_at, x.view
FROM jsonb_to_recordset($1::jsonb) AS x(id text, name text, owner text, state text, priority integer, tags text[], submitted_at timestamptz, accepted_at timestamptz, ended_at timestamptz, view jsonb)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, owner = EXCLUDED.owner, state = EXCLUDED.state, priority = EXCLUDED.priority, tags = EXCLUDED.tags,
  submitted_at = EXCLUDED.submitted_at, accepted_at = EXCLUDED.accepted_at, ended_at = EXCLUDED.ended_at, view = EXCLUDED.view`

const UPSERT_JOBS = `
INSERT INTO jobs (id, joblist_id, logical_id, name, stage, state, node, view)
SELECT x.id, x.joblist_id, x.logical_id, x.name, x.stage, x.state, x.node, x.view
FROM jsonb_to_recordset($1::jsonb) AS x(id text, joblist_id text, logical_id text, name text, stage text, state text, node text, view jsonb)
ON CONFLICT (id) DO UPDATE SET joblist_id = EXCLUDED.joblist_id, logical_id = EXCLUDED.logical_id, name = EXCLUDED.name, stage = EXCLUDED.stage,
  state = EXCLUDED.state, node = EXCLUDED.node, view = EXCLUDED.view`

const UPSERT_ATTEMPTS = `
INSERT INTO attempts (job_id, n, joblist_id, node, state, started_at, ended_at, exit_code, signal, reason)
SELECT x.job_id, x.n, x.joblist_id, x.node, x.state, x.started_at, x.ended_at, x.exit_code, x.signal, x.reason
FROM jsonb_to_recordset($1::jsonb) AS x(job_id text, n integer, joblist_id text, node text, state text, started_at timestamptz, ended_at timestamptz, exit_code integer, signal text, reason text)
ON CONFLICT (job_id, n) DO UPDATE SET joblist_id = EXCLUDED.joblist_id, node = EXCLUDED.node, state = EXCLUDED.state, started_at = EXCLUDED.started_at,
  ended_at = EXCLUDED.ended_at, exit_code = EXCLUDED.exit_code, signal = EXCLUDED.signal, reason = EXCLUDED.reason`

const UPSERT_ACCOUNTING = `
INSERT INTO accounting (key, joblist_id, joblist_name, job_id, job_name, owner, tags, node, attempt, state, exit_code, signal,
  submitted_at, started_at, ended_at, wall_s, cpu_user_s, cpu_sys_s, max_rss_kb, duplicate, resources)
SELECT x.key, x.joblist_id, x.joblist_name, x.job_id, x.job_name, x.owner, x.tags, x.node, x.attempt, x.state, x.exit_code, x.signal,
  x.submitted_at, x.started_at, x.ended_at, x.wall_s, x.cpu_user_s, x.cpu_sys_s, x.max_rss_kb, x.duplicate, x.resources
FROM jsonb_to_recordset($1::jsonb) AS x(key text, joblist_id text, joblist_name text, job_id text, job_name text, owner text, tags text[], node text,
  attempt integer, state text, exit_code integer, signal text, submitted_at timestamptz, started_at timestamptz, ended_at timestamptz,
  wall_s double precision, cpu_user_s double precision, cpu_sys_s double precision, max_rss_kb bigint, duplicate boolean, resources jsonb)
ON CONFLICT (key) DO UPDATE SET joblist_id = EXCLUDED.joblist_id, joblist_name = EXCLUDED.joblist_name, job_id = EXCLUDED.job_id, job_name = EXCLUDED.job_name,
  owner = EXCLUDED.owner, tags = EXCLUDED.tags, node = EXCLUDED.node, attempt = EXCLUDED.attempt, state = EXCLUDED.state, exit_code = EXCLUDED.exit_code,
  signal = EXCLUDED.signal, submitted_at = EXCLUDED.submitted_at, started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, wall_s = EXCLUDED.wall_s,
  cpu_user_s = EXCLUDED.cpu_user_s, cpu_sys_s = EXCLUDED.cpu_sys_s, max_rss_kb = EXCLUDED.max_rss_kb, duplicate = EXCLUDED.duplicate, resources = EXCLUDED.resources`

// Rows of a refreshed joblist that its fresh rows no longer have (e.g. a job's attempt that a
// better accept's joblist does not carry): removed, so each table equals the node's view.
const DELETE_STALE = {
  jobs: 'DELETE FROM jobs WHERE joblist_id = ANY($1::text[]) AND NOT (id = ANY($2::text[]))',
  attempts: "DELETE FROM attempts WHERE joblist_id = ANY($1::text[]) AND NOT ((job_id || '#' || n) = ANY($2::text[]))",
  accounting: 'DELETE FROM accounting WHERE joblist_id = ANY($1::text[]) AND NOT (key = ANY($2::text[]))'
}

const DELETE_GONE = [
  'DELETE FROM joblists WHERE id = ANY($1::text[])',
  'DELETE FROM jobs WHERE joblist_id = ANY($1::text[])',
  'DELETE FROM attempts WHERE joblist_id = ANY($1::text[])',
  'DELETE FROM accounting WHERE joblist_id = ANY($1::text[])'
]

const UPSERT_POSITION = `
INSERT INTO cis_export_position (origin, seq)
SELECT key, value::bigint FROM jsonb_each_text($1::jsonb)
ON CONFLICT (origin) DO UPDATE SET seq = GREATEST(cis_export_position.seq, EXCLUDED.seq)`

export class PostgresSink {
  private broken: Error | undefined

  private constructor (private readonly client: pg.Client, readonly db: DatabaseUrl) {
    // An idle connection that breaks emits 'error'; without a listener it would end the
    // process. Kept, and the next query fails with it.
    client.on('error', err => { this.broken = err })
  }

  /** Connect, take the export's lock (one export per database) and create the tables if missing. */
  static async open (db: DatabaseUrl, note?: (message: string) => void): Promise<PostgresSink> {
    const client = new pg.Client({ connectionString: db.url, connectionTimeoutMillis: 10_000, application_name: 'cis export' })
    try {
      await client.connect()
    } catch (err) {
      await client.end().catch(() => {})
      throw explain(err, db, 'connect')
    }
    const sink = new PostgresSink(client, db)
    try {
      // Session-level: released when this connection ends, also when the process is killed.
      const got = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LOCK_KEY}) AS ok`)
      if (got.rows[0]?.ok !== true) {
        note?.(`another cis export is writing to ${db.where}; waiting up to ${LOCK_WAIT} for it to stop`)
        await client.query(`SET lock_timeout = '${LOCK_WAIT}'`)
        await client.query(`SELECT pg_advisory_lock(${LOCK_KEY})`)
        await client.query('RESET lock_timeout')
      }
      await client.query(SCHEMA)
    } catch (err) {
      await sink.close()
      throw explain(err, db, 'creating the tables')
    }
    return sink
  }

  /** Where the export stands: the highest seq of each origin written so far. */
  async position (): Promise<Vector> {
    const r = await this.query<{ origin: string, seq: string }>('reading the position', 'SELECT origin, seq FROM cis_export_position')
    return Object.fromEntries(r.rows.map(row => [row.origin, Number(row.seq)]))
  }

  /**
   * The joblist IDs of requests whose accept was exported before (request key -> ID): an
   * accept naming the request, or the request's own submit carrying its accept (made on the
   * master), found by its key (origin, seq).
   */
  async acceptedIds (requests: Iterable<string>): Promise<Map<string, string>> {
    const keys = [...requests]
    if (keys.length === 0) return new Map()
    const parts = keys.map(keyParts)
    const r = await this.query<{ request: string, id: string }>('looking up requests',
      "SELECT body->>'request' AS request, body->>'id' AS id FROM events WHERE type = 'accept' AND body->>'request' = ANY($1::text[]) " +
      "UNION ALL SELECT e.origin || ':' || e.seq AS request, e.body->'accept'->>'id' AS id FROM events e JOIN unnest($2::text[], $3::bigint[]) AS k(origin, seq) " +
      "ON e.origin = k.origin AND e.seq = k.seq WHERE e.type = 'submit' AND e.body ? 'accept'", [keys, parts.map(p => p.origin), parts.map(p => p.seq)])
    return new Map(r.rows.map(row => [row.request, row.id]))
  }

  /** Write one batch in one transaction. */
  async write (b: Batch): Promise<Written> {
    const c = this.client
    let rows = 0
    let events = 0
    try {
      if (this.broken !== undefined) throw this.broken
      await c.query('BEGIN')
      if (b.events.length > 0) {
        events = (await c.query(INSERT_EVENTS, [JSON.stringify(b.events)])).rowCount ?? 0
        rows += events
      }
      if (b.gone.length > 0) for (const sql of DELETE_GONE) await c.query(sql, [b.gone])
      if (b.joblists.length > 0) {
        const ids = b.joblists.map(j => j.joblist.id)
        const jobs = b.joblists.flatMap(j => j.jobs)
        const attempts = b.joblists.flatMap(j => j.attempts)
        const accounting = b.joblists.flatMap(j => j.accounting)
        rows += (await c.query(UPSERT_JOBLISTS, [JSON.stringify(b.joblists.map(j => j.joblist))])).rowCount ?? 0
        rows += (await c.query(UPSERT_JOBS, [JSON.stringify(jobs)])).rowCount ?? 0
        rows += (await c.query(UPSERT_ATTEMPTS, [JSON.stringify(attempts)])).rowCount ?? 0
        rows += (await c.query(UPSERT_ACCOUNTING, [JSON.stringify(accounting)])).rowCount ?? 0
        await c.query(DELETE_STALE.jobs, [ids, jobs.map(j => j.id)])
        await c.query(DELETE_STALE.attempts, [ids, attempts.map(a => `${a.job_id}#${a.n}`)])
        await c.query(DELETE_STALE.accounting, [ids, accounting.map(a => a.key)])
      }
      await c.query(UPSERT_POSITION, [JSON.stringify(b.position)])
      await c.query('COMMIT')
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {})
      throw explain(err, this.db, 'writing a batch')
    }
    return { events, rows }
  }

  async close (): Promise<void> {
    await this.client.end().catch(() => {})
  }

  private async query<R extends pg.QueryResultRow> (during: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      if (this.broken !== undefined) throw this.broken
      return await this.client.query<R>(sql, params)
    } catch (err) {
      throw explain(err, this.db, during)
    }
  }
}
