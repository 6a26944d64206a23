// The node's plain-text records: every finished joblist with its jobs (R4-4, joblists.log) and,
// every minute, the nodes that are online (R4-5, nodes.log). JSON lines, append-only.
import { createReadStream } from 'node:fs'
import { appendFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { Logger } from 'pino'
import { joblistView } from '../state/views.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { FINAL_JOBLIST_STATES } from '../state/types.js'

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
const LINE_ID = /^\{"at":"[^"]*","id":"([^"\\]+)"/

export class NodeRecords {
  readonly joblistsFile: string
  readonly nodesFile: string
  private readonly logged = new Set<string>()
  private chain: Promise<void> = Promise.resolve()
  /** Lines waiting for the next append, per file: a busy node appends them in one write. */
  private readonly queued = new Map<string, string[]>()
  private timer: NodeJS.Timeout | undefined

  constructor (dataDir: string, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.joblistsFile = join(dataDir, 'joblists.log')
    this.nodesFile = join(dataDir, 'nodes.log')
  }

  /** Learn what is logged already; log final joblists that a crash left out. */
  async start (state: ClusterState): Promise<void> {
    try {
      const lines = createInterface({ input: createReadStream(this.joblistsFile), crlfDelay: Infinity })
      for await (const line of lines) {
        // The ID is the second field of every line this node writes: read it without parsing
        // the whole line (a large log is read at every start).
        const id = line.endsWith('}') ? LINE_ID.exec(line.slice(0, 200))?.[1] : undefined
        if (id !== undefined) { this.logged.add(id); continue }
        try { this.logged.add((JSON.parse(line) as { id: string }).id) } catch { /* a torn last line */ }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    // A line torn by a crash has no newline: end it, so the next line starts on its own.
    if (!await endsWithNewline(this.joblistsFile)) this.write(this.joblistsFile, '\n')
    for (const jl of Object.values(state.joblists)) {
      if (jl.endedAt !== undefined && FINAL_JOBLIST_STATES.has(jl.state)) this.joblistFinished(state, jl)
    }
  }

  joblistFinished (state: ClusterState, jl: JoblistRecord): void {
    if (this.logged.has(jl.id)) return
    this.logged.add(jl.id)
    const line = JSON.stringify({ at: new Date(jl.endedAt ?? this.now()).toISOString(), ...joblistView(state, jl) }) + '\n'
    this.write(this.joblistsFile, line)
  }

  startNodesLog (intervalMs: number, online: () => string[]): void {
    const write = (): void => this.write(this.nodesFile, JSON.stringify({ at: new Date(this.now()).toISOString(), online: online() }) + '\n')
    write()
    this.timer = setInterval(write, intervalMs)
    this.timer.unref()
  }

  stopNodesLog (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
  }

  async stop (): Promise<void> {
    await this.chain
  }

  private write (file: string, line: string): void {
    const lines = this.queued.get(file)
    if (lines !== undefined) { lines.push(line); return } // an append of this file is queued: joins it
    this.queued.set(file, [line])
    this.chain = this.chain.then(async () => {
      const text = (this.queued.get(file) ?? []).join('')
      this.queued.delete(file)
      await appendFile(file, text)
    }).catch(err => {
      this.log.error({ err: (err as Error).message, file }, 'cannot append to log file')
    })
  }
}
