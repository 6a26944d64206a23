// The agent's side of the fork server (spawner-main.ts): start jobs through it, learn their
// pids and exits. If the fork server dies, its jobs are ended and reported as lost, and a
// new one is started.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { AttemptUsage } from '../events/types.js'
import type { ProcessOptions, ProcessResult, RunningProcess } from './process.js'
import { killGroup, terminateGroup } from './process.js'

interface Pending {
  pid: number
  resolvePid: (pid: number) => void
  resolveDone: (r: ProcessResult) => void
  endedBy?: 'timeout' | 'stop'
  graceTimer?: NodeJS.Timeout
  timer?: NodeJS.Timeout
}

const MAIN = fileURLToPath(new URL('./spawner-main.js', import.meta.url))

export class Spawner {
  private child: ChildProcess | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private stopped = false
  /** Requests made this turn of the event loop, written to the fork server together at its end (flush). */
  private queued: Array<{ id: number, line: string }> = []

  constructor (private readonly log: Logger) {}

  start (): void {
    const child = spawn(process.execPath, ['--max-semi-space-size=1', MAIN], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.child = child
    // (A write to a fork server that died is EPIPE: its exit, below, reports its jobs.)
    child.stdin?.on('error', err => { if (this.child === child) this.log.warn({ err: err.message }, 'cannot write to the fork server') })
    createInterface({ input: child.stdout as NodeJS.ReadableStream, crlfDelay: Infinity }).on('line', line => this.onLine(line))
    child.once('exit', (code, signal) => {
      if (this.child !== child) return
      this.child = undefined
      // Its jobs can no longer be followed: end them and report them lost (those not yet written to it too: not to the next one).
      this.queued = []
      for (const [, p] of this.pending) {
        if (p.pid > 0) killGroup(p.pid, 'SIGKILL')
        this.finish(p, { exitCode: null, signal: null, lost: 'the fork server died while it ran' })
      }
      this.pending.clear()
      if (!this.stopped) {
        this.log.error({ code, signal }, 'the fork server died; starting a new one')
        this.start()
      }
    })
  }

  /** The fork server's pid while it runs (diagnostics, tests). */
  get pid (): number | undefined {
    return this.child?.pid
  }

  stop (): void {
    this.stopped = true
    this.child?.stdin?.end()
  }

  run (o: ProcessOptions): RunningProcess & { pidReady: Promise<number> } {
    const id = this.nextId++
    let resolvePid!: (pid: number) => void
    let resolveDone!: (r: ProcessResult) => void
    const pidReady = new Promise<number>(resolve => { resolvePid = resolve })
    const done = new Promise<ProcessResult>(resolve => { resolveDone = resolve })
    const p: Pending = { pid: -1, resolvePid, resolveDone }
    this.pending.set(id, p)
    const end = (why: 'timeout' | 'stop'): void => {
      if (p.endedBy !== undefined) return
      p.endedBy = why
      const kill = (): void => { p.graceTimer = terminateGroup(p.pid, o.graceMs) }
      if (p.pid > 0) kill()
      else void pidReady.then(pid => { if (pid > 0) kill() })
    }
    if (o.timeoutMs !== undefined) p.timer = setTimeout(() => end('timeout'), o.timeoutMs)
    // The fork server has the agent's environment already: send only what differs.
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(o.env)) if (v !== undefined && process.env[k] !== v) env[k] = v
    const stdin = this.child?.stdin
    if (this.stopped || stdin === undefined || stdin === null || !stdin.writable) {
      // The agent is stopping (or the fork server is being replaced): the job never started.
      this.finish(p, { exitCode: null, signal: null, lost: 'the agent was stopping; it did not start' })
      this.pending.delete(id)
    } else {
      if (this.queued.length === 0) setImmediate(() => this.flush())
      this.queued.push({ id, line: JSON.stringify({ id, cmd: o.command, cwd: o.cwd, env, out: o.stdoutFile, err: o.stderrFile, ...(o.usageFile !== undefined ? { usage: o.usageFile } : {}), ...(o.makeCwd !== undefined ? { mkdirs: o.makeCwd } : {}) }) + '\n' })
    }
    return { get pid () { return p.pid }, pidReady, done, stop: () => end('stop') }
  }

  /**
   * The requests of a turn in one write: a write to the fork server's pipe wakes it, and each
   * cost the agent's main thread about as much as the rest of a job's own work (a profile of
   * roles-core's executor: 15 % of its busy time in that write, three writes in a row common).
   */
  private flush (): void {
    const queued = this.queued
    this.queued = []
    if (queued.length === 0) return
    const stdin = this.child?.stdin
    if (!this.stopped && stdin !== undefined && stdin !== null && stdin.writable) { stdin.write(queued.map(q => q.line).join('')); return }
    // The agent began to stop (or the fork server went) within the turn: these never started.
    for (const q of queued) {
      const p = this.pending.get(q.id)
      if (p === undefined) continue
      this.pending.delete(q.id)
      this.finish(p, { exitCode: null, signal: null, lost: 'the agent was stopping; it did not start' })
    }
  }

  private onLine (line: string): void {
    let m: { id: number, pid?: number, error?: string, exit?: boolean, code?: number | null, signal?: string | null, usage?: AttemptUsage }
    try { m = JSON.parse(line) } catch { return }
    const p = this.pending.get(m.id)
    if (p === undefined) return
    if (m.pid !== undefined) {
      p.pid = m.pid
      p.resolvePid(m.pid)
    } else if (m.error !== undefined) {
      this.pending.delete(m.id)
      this.finish(p, { exitCode: null, signal: null, error: m.error })
    } else if (m.exit === true) {
      this.pending.delete(m.id)
      this.finish(p, { exitCode: m.code ?? null, signal: m.signal ?? null, ...(p.endedBy !== undefined ? { endedBy: p.endedBy } : {}), ...(m.usage !== undefined ? { usage: m.usage } : {}) })
    }
  }

  private finish (p: Pending, r: ProcessResult): void {
    if (p.timer !== undefined) clearTimeout(p.timer)
    if (p.graceTimer !== undefined) clearTimeout(p.graceTimer)
    p.resolvePid(p.pid)
    p.resolveDone(r)
  }
}
