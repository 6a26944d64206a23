// Runs the attempts the master assigned to this node. The executing node is the final
// authority over its own resources: it never runs two attempts on one instance at once.
import { open, readlink, stat } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { FinishedBody, Resources, StartedBody } from '../events/types.js'
import { renderJobFiles } from '../spec/template.js'
import type { AttemptRecord, ClusterState, JobRecord } from '../state/types.js'
import { attemptPaths, writeJobFiles } from './files.js'
import { freshDir } from './attempt-dir.js'
import { killGroup, startProcess } from './process.js'
import type { RunningProcess, StartHeld } from './process.js'
import type { Spawner } from './spawner.js'

export interface ExecutorContext {
  self: string
  nodeName: string
  apiUrl: () => string
  dataDir: string
  graceMs: number
  log: Logger
  /** Append an event to this node's log (durable when the promise resolves). */
  started: (body: StartedBody, held?: StartHeld) => Promise<unknown>
  finished: (body: FinishedBody) => Promise<unknown>
  /** The fork server, when jobs are started through one. */
  spawner?: Spawner
  /** How long the fork server holds a job's pid answer for its end (ProcessOptions.holdStartMs); none: not held. */
  holdStartMs?: number
}

interface Local {
  jobId: string
  joblistId: string
  attempt: number
  resources: Resources
  proc?: RunningProcess
  stopRequested: boolean
}

const TAIL_BYTES = 2048

let base: NodeJS.ProcessEnv | undefined
/** The agent's environment, copied once (spreading process.env on every job is slow). */
function baseEnv (): NodeJS.ProcessEnv {
  base ??= { ...process.env }
  return base
}

export class Executor {
  private readonly running = new Map<string, Local>()
  private readonly held = new Map<string, string>()
  /** Every attempt being set up, run or reported: stopAll waits for all of them. */
  private readonly tasks = new Set<Promise<void>>()
  private stopping = false

  constructor (private readonly ctx: ExecutorContext) {}

  get size (): number { return this.running.size }

  /** Start an attempt assigned to this node, unless it runs already or conflicts. */
  launch (state: ClusterState, job: JobRecord, a: AttemptRecord): void {
    const key = `${job.id}#${a.n}`
    if (this.running.has(key) || this.stopping) return
    const local: Local = { jobId: job.id, joblistId: job.joblistId, attempt: a.n, resources: a.resources, stopRequested: false }
    const conflict = this.conflict(a.resources)
    if (conflict !== null) {
      this.ctx.finished({ jobId: job.id, attempt: a.n, state: 'lost', exitCode: null, signal: null, reason: `refused by ${this.ctx.nodeName}: ${conflict} is held by another attempt` })
        .catch(err => this.ctx.log.error({ job: job.id, attempt: a.n, err: (err as Error).message }, 'cannot record a refused attempt'))
      return
    }
    this.running.set(key, local)
    for (const [type, ids] of Object.entries(a.resources)) for (const id of ids) this.held.set(`${type}\u0000${id}`, key)
    const task: Promise<void> = this.run(state, job, local, key)
      .catch(err => this.ctx.log.error({ job: job.id, attempt: a.n, err: (err as Error).message }, 'cannot record how an attempt ended'))
      .finally(() => this.tasks.delete(task))
    this.tasks.add(task)
  }

  /** The joblists with an attempt running here. */
  joblists (): Set<string> {
    return new Set([...this.running.values()].map(l => l.joblistId))
  }

  /** Stop the local attempts of a joblist (or of one job of it). */
  stop (joblistId: string, jobId?: string): void {
    for (const l of this.running.values()) {
      if (l.joblistId !== joblistId || (jobId !== undefined && l.jobId !== jobId)) continue
      l.stopRequested = true
      l.proc?.stop()
    }
  }

  /** Agent shutdown: end every running job; their attempts are recorded as lost (run again later). */
  async stopAll (): Promise<void> {
    this.stopping = true
    const waits: Array<Promise<unknown>> = []
    for (const l of this.running.values()) {
      l.stopRequested = true
      l.proc?.stop()
      if (l.proc !== undefined) waits.push(l.proc.done)
    }
    // Also the attempts still being set up (work directory, files): none may write after this.
    await Promise.all([...waits, ...this.tasks])
  }

  private conflict (resources: Resources): string | null {
    for (const [type, ids] of Object.entries(resources)) {
      for (const id of ids) if (this.held.has(`${type}\u0000${id}`)) return id
    }
    return null
  }

  private release (key: string): void {
    const l = this.running.get(key)
    if (l === undefined) return
    this.running.delete(key)
    for (const [type, ids] of Object.entries(l.resources)) {
      for (const id of ids) if (this.held.get(`${type}\u0000${id}`) === key) this.held.delete(`${type}\u0000${id}`)
    }
  }

  private async run (state: ClusterState, job: JobRecord, l: Local, key: string): Promise<void> {
    const jl = state.joblists[job.joblistId]
    const paths = attemptPaths(this.ctx.dataDir, job.joblistId, job.id, l.attempt)
    let finish: FinishedBody
    try {
      // A fresh attempt's directory does not exist; one left by a crash is cleared first. The
      // fork server makes it as it starts the job (off this event loop: mkdir on a busy disk
      // took ~0.3 ms a directory), unless the job's files go in first.
      const files = renderJobFiles(jl?.replace ?? {}, job.spec)
      const forkServerMakes = this.ctx.spawner !== undefined && files.length === 0
      if (!forkServerMakes) {
        freshDir(paths.levels)
        await writeJobFiles(paths.workdir, files)
      }
      // The job's own variables. Through the fork server, laid over the agent's environment there
      // (it has it already); a process of the agent's own gets the whole. (The agent's 30-60
      // variables copied into every job's environment were a third of what the executor
      // allocated a job: 17 KB, issue 12.)
      const env: NodeJS.ProcessEnv = {
        ...job.spec.env,
        CIS_JOBLIST_ID: job.joblistId,
        CIS_JOBLIST_NAME: jl?.name ?? '',
        CIS_JOB_ID: job.id,
        CIS_JOB_NAME: job.name,
        CIS_ATTEMPT: String(l.attempt),
        CIS_NODE: this.ctx.nodeName,
        CIS_ADDR: this.ctx.apiUrl(),
        CIS_WORKDIR: paths.workdir
      }
      for (const [type, ids] of Object.entries(l.resources)) env[`CIS_RESOURCE_${type.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = ids.join(',')
      const opts = {
        command: job.spec.run,
        cwd: paths.workdir,
        env: this.ctx.spawner !== undefined ? env : { ...baseEnv(), ...env },
        stdoutFile: paths.stdout,
        stderrFile: paths.stderr,
        ...(job.spec.timeoutMs !== undefined ? { timeoutMs: job.spec.timeoutMs } : {}),
        graceMs: this.ctx.graceMs,
        usageFile: paths.times,
        ...(forkServerMakes ? { makeCwd: paths.levels } : {}),
        ...(this.ctx.holdStartMs !== undefined ? { holdStartMs: this.ctx.holdStartMs } : {})
      }
      let pid: number
      let proc: RunningProcess
      let held: StartHeld | undefined
      if (this.ctx.spawner !== undefined) {
        const p = this.ctx.spawner.run(opts)
        proc = p
        l.proc = proc
        if (l.stopRequested) proc.stop()
        pid = await p.pidReady
        held = p.held()
      } else {
        proc = startProcess(opts)
        l.proc = proc
        if (l.stopRequested) proc.stop()
        pid = proc.pid
      }
      if (pid > 0) void this.ctx.started({ jobId: job.id, attempt: l.attempt, pid }, held)
      const r = await proc.done
      if (r.lost !== undefined) {
        finish = { jobId: job.id, attempt: l.attempt, state: 'lost', exitCode: null, signal: null, reason: r.lost }
      } else if (r.error !== undefined) {
        this.ctx.log.warn({ job: job.id, attempt: l.attempt, err: r.error }, 'attempt could not start')
        finish = { jobId: job.id, attempt: l.attempt, state: 'failed', exitCode: null, signal: null, reason: `could not start: ${r.error}` }
      } else if (this.stopping && r.exitCode !== 0) {
        // The agent is shutting down, not the user stopping the job: lost, so it runs again.
        finish = { jobId: job.id, attempt: l.attempt, state: 'lost', exitCode: r.exitCode, signal: r.signal, reason: `agent ${this.ctx.nodeName} shut down while it ran` }
      } else if (r.endedBy === 'stop' || (l.stopRequested && r.exitCode !== 0)) {
        finish = { jobId: job.id, attempt: l.attempt, state: 'stopped', exitCode: r.exitCode, signal: r.signal, reason: 'stopped by request' }
      } else if (r.endedBy === 'timeout') {
        finish = { jobId: job.id, attempt: l.attempt, state: 'failed', exitCode: r.exitCode, signal: r.signal, reason: `timed out after ${job.spec.timeoutMs ?? 0} ms` }
      } else if (r.exitCode === 0) {
        finish = { jobId: job.id, attempt: l.attempt, state: 'succeeded', exitCode: 0, signal: null }
      } else {
        finish = { jobId: job.id, attempt: l.attempt, state: 'failed', exitCode: r.exitCode, signal: r.signal, reason: r.signal !== null ? `killed by ${r.signal}` : `exit code ${String(r.exitCode)}` }
      }
      // Whatever ended it, what was measured is reported (a timeout's peak memory, say).
      if (r.usage !== undefined) finish.usage = r.usage
      if (finish.state === 'failed') {
        const tail = await readTail(paths.stderr) || await readTail(paths.stdout)
        if (tail !== '') finish.tail = tail
      }
    } catch (err) {
      finish = { jobId: job.id, attempt: l.attempt, state: 'failed', exitCode: null, signal: null, reason: (err as Error).message }
      this.ctx.log.warn({ job: job.id, attempt: l.attempt, err: (err as Error).message }, 'attempt could not start')
    }
    this.release(key)
    await this.ctx.finished(finish)
  }
}

async function readTail (file: string): Promise<string> {
  try {
    const size = (await stat(file)).size
    if (size === 0) return ''
    const fh = await open(file, 'r')
    try {
      const len = Math.min(size, TAIL_BYTES)
      const buf = Buffer.alloc(len)
      await fh.read(buf, 0, len, size - len)
      return buf.toString('utf8')
    } finally { await fh.close() }
  } catch { return '' }
}

/** After a crash: end what the previous agent left running, if it is still that job. */
export async function killLeftover (pid: number | undefined, workdir: string): Promise<boolean> {
  if (pid === undefined || pid <= 0) return false
  try {
    const cwd = await readlink(`/proc/${pid}/cwd`)
    if (cwd !== workdir) return false
  } catch { return false }
  killGroup(pid, 'SIGKILL')
  return true
}
