// The agent's side of the fork server (spawner-main.ts): start jobs through it, learn their
// pids and exits. If the fork server dies, its jobs are ended and reported as lost, and a
// new one is started.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import type { AttemptUsage } from '../events/types.js'
import type { ProcessOptions, ProcessResult, RunningProcess, StartHeld } from './process.js'
import { killGroup, terminateGroup } from './process.js'

interface Pending {
  pid: number
  /** The fork server held the pid answer (ProcessOptions.holdStartMs): how long, and whether the job ended meanwhile. */
  held?: StartHeld
  resolvePid: (pid: number) => void
  resolveDone: (r: ProcessResult) => void
  endedBy?: 'timeout' | 'stop'
  graceTimer?: NodeJS.Timeout
  timer?: NodeJS.Timeout
}

const MAIN = fileURLToPath(new URL('./spawner-main.js', import.meta.url))

/** A fork server gone within this long of its start counts as one that could not run... */
const RESTART_QUICK_MS = 5_000
/** ...and the next start waits this long, doubled for each such failure in a row, up to RESTART_MAX_MS. */
const RESTART_FIRST_MS = 250
const RESTART_MAX_MS = 30_000

/** Why a job asked for as the agent stops is lost. */
const STOPPING = 'the agent was stopping; it did not start'

export class Spawner {
  private child: ChildProcess | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private stopped = false
  /** Requests made this turn of the event loop, written to the fork server together at its end (flush). */
  private queued: Array<{ id: number, request: Record<string, unknown>, env: NodeJS.ProcessEnv }> = []
  /**
   * The environment the running fork server was started with (its copy of the agent's): a job's
   * variables are sent only where they differ from it. (Each read of `process.env` asks the C
   * library: comparing a job's 40-odd variables with it cost the executor 26 µs a job, issue 12.)
   */
  private serverEnv: NodeJS.ProcessEnv = {}

  private startedAt = 0
  /** Fork servers in a row that were gone within RESTART_QUICK_MS of their start. */
  private failures = 0
  private restartTimer: NodeJS.Timeout | undefined

  /**
   * `execPath`: the node executable to run the fork server with (tests: one that cannot start).
   * `main`: the fork server's script (default spawner-main.js; roles-core's bench: one that
   * answers every request at once and starts nothing, bench/null-fork-server.ts).
   */
  constructor (private readonly log: Logger, private readonly o: { execPath?: string, main?: string } = {}) {}

  start (): void {
    this.restartTimer = undefined
    if (this.stopped) return
    const env = { ...process.env }
    const child = spawn(this.o.execPath ?? process.execPath, ['--max-semi-space-size=1', this.o.main ?? MAIN], { stdio: ['pipe', 'pipe', 'inherit'], env })
    this.child = child
    this.serverEnv = env
    this.startedAt = Date.now()
    // (A spawn that fails — a process limit reached: EAGAIN; no memory; no descriptors — is an
    // 'error' and no 'exit'; without a listener it ended the agent.)
    child.once('error', err => { if (child.pid === undefined) this.gone(child, `could not be started: ${err.message}`) })
    // (A write to a fork server that died is EPIPE: its exit, below, reports its jobs.)
    child.stdin?.on('error', err => { if (this.child === child) this.log.warn({ err: err.message }, 'cannot write to the fork server') })
    if (child.stdout !== null) {
      createInterface({ input: child.stdout, crlfDelay: Infinity })
        .on('line', line => this.onLine(line))
        .on('error', err => { this.log.warn({ err: err.message }, 'cannot read from the fork server') })
    }
    child.once('exit', (code, signal) => { this.gone(child, `died (${signal ?? `exit ${String(code)}`})`) })
    // What was asked for while no fork server ran.
    if (this.queued.length > 0) setImmediate(() => this.flush())
  }

  /**
   * The fork server is gone (it died, or could not be started): its jobs can no longer be
   * followed, so they are ended and reported lost (those not yet written to it too: not to the
   * next one), and a new one starts: at once after one that ran a while, later after one that
   * did not (a process limit reached would otherwise be a loop of failed starts).
   */
  private gone (child: ChildProcess, why: string): void {
    if (this.child !== child) return
    this.child = undefined
    // (Those asked for since the last write were for this one: not to the next one. Reported lost below, as pending.)
    this.queued = []
    for (const [, p] of this.pending) {
      if (p.pid > 0) killGroup(p.pid, 'SIGKILL')
      this.finish(p, { exitCode: null, signal: null, lost: `the fork server ${why} while it ran` })
    }
    this.pending.clear()
    if (this.stopped) return
    this.failures = Date.now() - this.startedAt < RESTART_QUICK_MS ? this.failures + 1 : 0
    const wait = this.failures === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** (this.failures - 1))
    this.log.error({ why, restartInMs: wait }, `the fork server ${why}; starting a new one${wait > 0 ? ` in ${wait} ms` : ''}`)
    if (wait === 0) this.start()
    else this.restartTimer = setTimeout(() => this.start(), wait)
  }

  /** The fork server's pid while it runs (diagnostics, tests). */
  get pid (): number | undefined {
    return this.child?.pid
  }

  stop (): void {
    this.stopped = true
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer)
    this.restartTimer = undefined
    this.loseQueued(STOPPING)
    this.child?.stdin?.end()
  }

  /**
   * Start a job through the fork server. `o.env` is laid over the environment the fork server
   * has (the agent's, as it was when the fork server started): a variable it does not name is
   * the agent's; only those that differ from the fork server's are sent.
   */
  run (o: ProcessOptions): RunningProcess & { pidReady: Promise<number>, held: () => StartHeld | undefined } {
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
    if (this.stopped) {
      // The agent is stopping: the job never started.
      this.finish(p, { exitCode: null, signal: null, lost: STOPPING })
      this.pending.delete(id)
    } else {
      // (With no fork server now — one is being started again — the request waits for it: start() sends what waits.)
      if (this.queued.length === 0 && this.child !== undefined) setImmediate(() => this.flush())
      this.queued.push({ id, env: o.env, request: { id, cmd: o.command, cwd: o.cwd, out: o.stdoutFile, err: o.stderrFile, ...(o.usageFile !== undefined ? { usage: o.usageFile } : {}), ...(o.makeCwd !== undefined ? { mkdirs: o.makeCwd } : {}), ...(o.holdStartMs !== undefined && o.holdStartMs > 0 ? { hold: o.holdStartMs } : {}) } })
    }
    return { get pid () { return p.pid }, pidReady, held: () => p.held, done, stop: () => end('stop') }
  }

  /**
   * The requests of a turn in one write: a write to the fork server's pipe wakes it, and each
   * cost the agent's main thread about as much as the rest of a job's own work (a profile of
   * roles-core's executor: 15 % of its busy time in that write, three writes in a row common).
   */
  private flush (): void {
    if (this.queued.length === 0) return
    if (this.stopped) { this.loseQueued(STOPPING); return }
    const stdin = this.child?.stdin
    // (No fork server now: they wait for the next one, start(). One that died unseen yet: gone() reports them.)
    if (stdin === undefined || stdin === null || !stdin.writable) return
    // The fork server has the agent's environment already (as it was when it started): send only what differs.
    const lines = this.queued.map(q => {
      const env: Record<string, string> = {}
      for (const k in q.env) {
        const v = q.env[k]
        if (v !== undefined && this.serverEnv[k] !== v) env[k] = v
      }
      return JSON.stringify({ ...q.request, env }) + '\n'
    })
    this.queued = []
    stdin.write(lines.join(''))
  }

  /** The requests not yet written to a fork server: never started, reported lost. */
  private loseQueued (why: string): void {
    const queued = this.queued
    this.queued = []
    for (const q of queued) {
      const p = this.pending.get(q.id)
      if (p === undefined) continue
      this.pending.delete(q.id)
      this.finish(p, { exitCode: null, signal: null, lost: why })
    }
  }

  private onLine (line: string): void {
    let m: { id: number, pid?: number, since?: number, ending?: boolean, error?: string, exit?: boolean, code?: number | null, signal?: string | null, usage?: AttemptUsage }
    try { m = JSON.parse(line) } catch { return }
    const p = this.pending.get(m.id)
    if (p === undefined) return
    if (m.pid !== undefined) {
      p.pid = m.pid
      if (typeof m.since === 'number') p.held = { sinceMs: Math.max(0, m.since), ending: m.ending === true }
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
