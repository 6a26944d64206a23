// `cis export --to postgres://…` (G-5): the node's events and its joblists, jobs, attempts and
// accounting records into PostgreSQL tables, kept up to date (or once, with --once). Progress
// on stderr; the summary on stdout. Exit 2: a bad --to or a database that refuses us; 3: the
// agent or the database cannot be reached; 1: anything else failed. A stop (Ctrl-C, SIGTERM)
// lets the batch in hand commit, then exits 0; the next run resumes from the position.
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { parseDatabaseUrl } from '../../export/database-url.js'
import { runExport } from '../../export/exporter.js'
import type { Progress } from '../../export/exporter.js'
import { NodeFeed } from '../../export/feed.js'
import { DatabaseError, PostgresSink } from '../../export/postgres.js'

export interface ExportOptions { to: string, once?: boolean, batch?: string }

/** Progress lines at most this often: a fast export does not flood a terminal or a log. */
const PROGRESS_EVERY_MS = 250
const POLL_MS = 1000
const EXIT: Record<DatabaseError['kind'], number> = { unreachable: 3, refused: 2, failed: 1 }
const CODE: Record<DatabaseError['kind'], string> = { unreachable: 'ERR_DB_UNREACHABLE', refused: 'ERR_DB_REFUSED', failed: 'ERR_DB_FAILED' }

export async function exportCommand (ctx: Ctx, o: ExportOptions): Promise<void> {
  const db = parseDatabaseUrl(o.to)
  if (typeof db === 'string') throw new CliExit(2, `--to: ${db}`)
  const batch = o.batch === undefined ? 1000 : Number(o.batch)
  if (!Number.isInteger(batch) || batch < 1 || batch > 10_000) throw new CliExit(2, `--batch '${String(o.batch)}': give a whole number from 1 to 10000`)
  const feed = new NodeFeed(ctx.client)
  const stop = new AbortController()
  let stops = 0
  const onSignal = (): void => {
    if (++stops > 1) process.exit(130) // (a second Ctrl-C: at once; the batch in hand is rolled back by the database)
    ctx.err('cis export: stopping after the batch in hand (again to stop at once)')
    stop.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const show = progressPrinter(ctx)
  let sink: PostgresSink | undefined
  try {
    const note = (m: string): void => ctx.err(`cis export: ${m}`)
    sink = await PostgresSink.open(db, note)
    const summary = await runExport(feed, sink, { once: o.once === true, batch, pollMs: POLL_MS, stop: stop.signal, progress: show, note })
    show(undefined)
    if (ctx.json) printJson(summary)
    else ctx.out(`exported ${summary.events} events, ${summary.joblists} joblists, ${summary.rows} rows into ${db.where} in ${summary.seconds.toFixed(1)} s`)
  } catch (err) {
    show(undefined)
    if (!(err instanceof DatabaseError)) throw err
    if (ctx.json) printJson({ error: err.message, code: CODE[err.kind] })
    throw new CliExit(EXIT[err.kind], ctx.json ? '' : err.message)
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await sink?.close()
  }
}

/**
 * Progress on stderr: redrawn in place on a terminal, otherwise a line when something new was
 * exported; never more often than PROGRESS_EVERY_MS. `undefined` ends the progress line.
 */
function progressPrinter (ctx: Ctx): (p: Progress | undefined) => void {
  const tty = process.stderr.isTTY === true
  let last = 0
  let lastEvents = -1
  let drawn = false
  return p => {
    if (p === undefined) {
      if (drawn && tty) process.stderr.write('\n')
      drawn = false
      return
    }
    const now = Date.now()
    if (now - last < PROGRESS_EVERY_MS && !p.caughtUp) return
    if (!tty && p.events === lastEvents) return
    last = now
    lastEvents = p.events
    const rate = p.seconds > 0 ? Math.round(p.rows / p.seconds) : 0
    const line = `cis export: ${p.events} events, ${p.joblists} joblists, ${p.rows} rows (${rate} rows/s); ${p.exported} of ${p.total} events in the database${p.caughtUp ? ', caught up' : ''}`
    if (tty) { process.stderr.write(`\r\u001b[K${line}`); drawn = true } else ctx.err(line)
  }
}
