// The loop of `cis export` (G-5): from the position kept in the database, ask the node for
// the next page of its log, fetch the joblists that page touched, and write both with the
// new position in one transaction; again at once while the node has more, then (following)
// every poll interval, until stopped. A stop waits for the batch in hand to be committed.
import { UnreachableError } from '../cli/client.js'
import type { UnsignedEvent } from '../events/types.js'
import type { Vector } from '../events/vector.js'
import type { NodeFeed } from './feed.js'
import type { PostgresSink } from './postgres.js'
import type { JoblistRows } from './rows.js'
import { touchedBy } from './subjects.js'

export interface ExportOptions {
  /** Export what the node has, then return (false: follow until `stop` aborts). */
  once: boolean
  /** Events asked for per page (and so per transaction). */
  batch: number
  /** How long to wait, caught up, before asking again (following). */
  pollMs: number
  /** Aborted: finish the batch in hand, then return. */
  stop: AbortSignal
  /** After every committed batch, and when following finds nothing new. */
  progress?: (p: Progress) => void
  /** Something worth telling that does not end the export (the node is away for a while). */
  note?: (message: string) => void
}

export interface Progress {
  /** Events this run wrote (new to the database). */
  events: number
  /** Distinct joblists this run wrote. */
  joblists: number
  /** Rows this run inserted or updated, all tables. */
  rows: number
  /** Events of every origin up to the position: in the database. */
  exported: number
  /** Events the node has. */
  total: number
  /** The node had nothing after the position at the last look. */
  caughtUp: boolean
  seconds: number
}

export interface Summary { events: number, joblists: number, rows: number, seconds: number }

const sum = (v: Vector): number => Object.values(v).reduce((a, b) => a + b, 0)

export async function runExport (feed: NodeFeed, sink: PostgresSink, o: ExportOptions): Promise<Summary> {
  const started = Date.now()
  const seconds = (): number => (Date.now() - started) / 1000
  const written = new Set<string>()
  let events = 0
  let rows = 0
  let position = await sink.position()
  let reached = false
  let away = false
  while (!o.stop.aborted) {
    let page
    try {
      page = await feed.page(position, o.batch)
    } catch (err) {
      // Following, a node that goes away (a restart) is waited for; the first contact, and
      // --once, report it (exit 3).
      if (!(err instanceof UnreachableError) || o.once || !reached) throw err
      if (!away) o.note?.(`${err.message} Retrying every ${o.pollMs / 1000} s; Ctrl-C stops.`)
      away = true
      await pause(o.pollMs, o.stop)
      continue
    }
    if (away) o.note?.(`the agent at ${feed.addr} answers again; going on`)
    reached = true
    away = false
    if (page.events.length > 0) {
      const { joblists, gone } = await touchedRows(feed, sink, page.events as UnsignedEvent[])
      const w = await sink.write({ events: page.events, joblists, gone, position: page.position })
      events += w.events
      rows += w.rows
      for (const j of joblists) written.add(j.joblist.id)
      position = page.position
    }
    o.progress?.({ events, joblists: written.size, rows, exported: sum(position), total: page.total, caughtUp: !page.more, seconds: seconds() })
    if (page.more) continue
    if (o.once) break
    await pause(o.pollMs, o.stop)
  }
  return { events, joblists: written.size, rows, seconds: Math.round(seconds() * 1000) / 1000 }
}

/** The fresh rows of every joblist the events touched, and the IDs the node no longer knows. */
async function touchedRows (feed: NodeFeed, sink: PostgresSink, events: UnsignedEvent[]): Promise<{ joblists: JoblistRows[], gone: string[] }> {
  const touched = touchedBy(events)
  // A submit whose accept came in an earlier batch: that accept says its ID. One whose accept
  // has not come yet needs nothing now: its joblist is fetched when the accept comes.
  for (const id of (await sink.acceptedIds(touched.requests)).values()) touched.ids.add(id)
  const fetched = await feed.joblists(touched.ids)
  const fresh = new Map<string, JoblistRows>()
  const gone: string[] = []
  for (const [id, rows] of fetched) {
    // An ID answered by another joblist's view is an alias now (a better accept of the same
    // request won): the rows under the old ID go, the winner's are written.
    if (rows === null || rows.joblist.id !== id) gone.push(id)
    if (rows !== null) fresh.set(rows.joblist.id, rows)
  }
  return { joblists: [...fresh.values()], gone: gone.filter(id => !fresh.has(id)) }
}

/** Wait `ms`, or less if `stop` aborts. */
async function pause (ms: number, stop: AbortSignal): Promise<void> {
  if (stop.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => { clearTimeout(t); stop.removeEventListener('abort', done); resolve() }
    const t = setTimeout(done, ms)
    stop.addEventListener('abort', done)
  })
}

