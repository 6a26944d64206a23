// The node's plain-text records: every finished joblist with its jobs (R4-4, joblists.log) and,
// every minute, the nodes that are online (R4-5, nodes.log). JSON lines, append-only.
import { closeSync, openSync, writeSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { joblistView } from '../state/views.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { FINAL_JOBLIST_STATES } from '../state/types.js'
import { everyOnGrid } from '../util/grid-timer.js'
import type { GridTimer } from '../util/grid-timer.js'

/** Whether a file is empty, missing, or ends with a newline. */
async function endsWithNewline (file: string): Promise<boolean> {
  let fh
  try { fh = await open(file, 'r') } catch { return true }
  try {
    const { size } = await fh.stat()
    if (size === 0) return true
    const b = Buffer.alloc(1)
    await fh.read(b, 0, 1, size - 1)
    return b[0] === 0x0a
  } finally { await fh.close() }
}

/** The start of a joblists.log line: `{"at":"<ISO time>","id":"<joblist ID>"`. */
const LINE_START = /^\{"at":"([^"]*)","id":"([^"\\]+)"/

/**
 * The IDs among `wanted` that the log has, read backwards from its end in chunks until all are
 * found or a line ended before `oldest` (lines are appended roughly in end order).
 */
async function loggedSince (file: string, wanted: ReadonlySet<string>, oldest: number): Promise<Set<string>> {
  const found = new Set<string>()
  let fh
  try { fh = await open(file, 'r') } catch { return found }
  try {
    let pos = (await fh.stat()).size
    let carry = ''
    const CHUNK = 1 << 18
    while (pos > 0 && found.size < wanted.size) {
      const len = Math.min(CHUNK, pos)
      pos -= len
      const buf = Buffer.alloc(len)
      await fh.read(buf, 0, len, pos)
      // (latin1: the fields read are ASCII, and a character cut at a chunk's edge breaks nothing)
      const lines = (buf.toString('latin1') + carry).split('\n')
      carry = pos > 0 ? lines.shift() ?? '' : ''
      let older = false
      for (const line of lines) {
        const m = LINE_START.exec(line.slice(0, 200))
        if (m === null) continue
        if (wanted.has(m[2])) found.add(m[2])
        if (Date.parse(m[1]) < oldest) older = true
      }
      if (older) break
    }
  } finally { await fh.close() }
  return found
}

export class NodeRecords {
  readonly joblistsFile: string
  readonly nodesFile: string
  private readonly logged = new Set<string>()
  private chain: Promise<void> = Promise.resolve()
  /** Lines waiting for the next append, per file: a busy node appends them in one write. */
  private readonly queued = new Map<string, string[]>()
  private timer: GridTimer | undefined
  private readonly handles = new Map<string, { fd: number, since: number }>()

  constructor (dataDir: string, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.joblistsFile = join(dataDir, 'joblists.log')
    this.nodesFile = join(dataDir, 'nodes.log')
  }

  /**
   * Log final joblists that a crash left out. Only joblists in memory can be missing (an ended
   * joblist is logged long before it is archived), so the log is read from its end back to
   * the lines of the oldest of them: a start does not read the whole history.
   */
  async start (state: ClusterState): Promise<void> {
    const final = Object.values(state.joblists).filter(jl => jl.endedAt !== undefined && FINAL_JOBLIST_STATES.has(jl.state))
    if (final.length > 0) {
      const oldest = Math.min(...final.map(jl => jl.endedAt ?? 0)) - 3600_000
      for (const id of await loggedSince(this.joblistsFile, new Set(final.map(jl => jl.id)), oldest)) this.logged.add(id)
    }
    // A line torn by a crash has no newline: end it, so the next line starts on its own.
    if (!await endsWithNewline(this.joblistsFile)) this.write(this.joblistsFile, '\n')
    for (const jl of final) this.joblistFinished(state, jl)
  }

  /** These joblists left memory (archived): no need to remember that they are logged. */
  forget (ids: Iterable<string>): void {
    for (const id of ids) this.logged.delete(id)
  }

  joblistFinished (state: ClusterState, jl: JoblistRecord): void {
    if (this.logged.has(jl.id)) return
    this.logged.add(jl.id)
    let view: ReturnType<typeof joblistView>
    try {
      view = joblistView(state, jl)
    } catch (err) {
      // (No view must stop the node, at start or later: said, and skipped. A missing job does not throw: below.)
      this.log.error({ joblist: jl.id, state: jl.state, err: (err as Error).message }, 'cannot write the record of an ended joblist (a defect of cis: please report it)')
      return
    }
    // A job without its record is left out of the view, which names it: the line is written, and the defect said.
    if (view.missingJobs !== undefined) this.log.error({ joblist: jl.id, state: jl.state, missingJobs: view.missingJobs }, 'an ended joblist\'s records in the state are not whole: its record is written without those jobs (a defect of cis: please report it)')
    this.write(this.joblistsFile, JSON.stringify({ at: new Date(jl.endedAt ?? this.now()).toISOString(), ...view }) + '\n')
  }

  startNodesLog (intervalMs: number, online: () => string[]): void {
    const write = (): void => this.write(this.nodesFile, JSON.stringify({ at: new Date(this.now()).toISOString(), online: online() }) + '\n')
    write()
    this.timer = everyOnGrid(intervalMs, write)
  }

  stopNodesLog (): void {
    this.timer?.stop()
  }

  async stop (): Promise<void> {
    await this.chain
    for (const h of this.handles.values()) { try { closeSync(h.fd) } catch { /* closed already */ } }
    this.handles.clear()
  }

  private write (file: string, line: string): void {
    const lines = this.queued.get(file)
    if (lines !== undefined) { lines.push(line); return } // an append of this file is queued: joins it
    this.queued.set(file, [line])
    this.chain = this.chain.then(async () => {
      const text = (this.queued.get(file) ?? []).join('')
      this.queued.delete(file)
      // The file stays open (opening it for every append cost more than the write), for a
      // minute at most: a log moved away by a rotation is let go of soon. The append is a
      // synchronous write of what a turn of the loop gathered (a line or a few, into the page
      // cache): the asynchronous form took a thread-pool round trip, more CPU than the write.
      let h = this.handles.get(file)
      if (h !== undefined && this.now() - h.since > 60_000) {
        this.handles.delete(file)
        try { closeSync(h.fd) } catch { /* closed already */ }
        h = undefined
      }
      if (h === undefined) this.handles.set(file, h = { fd: openSync(file, 'a'), since: this.now() })
      const bytes = Buffer.from(text)
      for (let at = 0; at < bytes.length;) at += writeSync(h.fd, bytes, at)
    }).catch(err => {
      this.log.error({ err: (err as Error).message, file }, 'cannot append to log file')
    })
  }
}
