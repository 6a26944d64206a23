// The executor bridge: between this node's state and the processes it runs. It starts the
// attempts assigned to this node and stops the cancelled ones as those events are applied,
// and after a restart it settles what the previous run left (D-3): attempts that were running
// are lost (their leftover process group killed), assigned ones that never started run now.
import type { Logger } from 'pino'
import type { AgentConfig } from '../config/config.js'
import type { CarriedAssign, CisEvent, EventBodies, EventType } from '../events/types.js'
import { acceptOf } from '../events/types.js'
import { Executor, killLeftover } from '../exec/executor.js'
import { attemptPaths } from '../exec/files.js'
import { Spawner } from '../exec/spawner.js'
import type { ClusterState } from '../state/types.js'
import { isPurged } from '../state/purged.js'
import { START_HOLD_MS, StartHold } from './start-hold.js'

export interface ExecutorBridgeOptions {
  self: string
  config: AgentConfig
  dataDir: string
  log: Logger
  apiUrl: () => string
  append: <T extends EventType>(type: T, body: EventBodies[T]) => Promise<unknown>
  /** The time on the hybrid clock's scale (ms) an own event appended now would at least get. */
  clock: () => number
  /** The fork server's script, if not the default one (Spawner's `main`). */
  forkServer?: string
}

export class ExecutorBridge {
  private spawner: Spawner | undefined
  private executor!: Executor
  /**
   * Attempts assigned here, launched once the batch of events that assigned them is applied
   * (settle): a later event of the same batch may end them first (the master's verdict that
   * they are lost, a sync pull after a restart bringing an assign and its lose together), and
   * one whose job is not known yet waits for it (events of different origins arrive in any
   * order, so the master's assign may come before the submit that makes the job).
   */
  private readonly toLaunch = new Map<string, { jobId: string, n: number }>()
  /** Starts held for their ends (a short job: one event, not two). */
  private readonly starts: StartHold

  constructor (private readonly o: ExecutorBridgeOptions) {
    this.starts = new StartHold({ log: o.log, append: o.append, clock: o.clock })
  }

  start (): void {
    if (this.o.config.exec.forkServer) {
      this.spawner = new Spawner(this.o.log.child({ component: 'spawner' }), this.o.forkServer !== undefined ? { main: this.o.forkServer } : {})
      this.spawner.start()
    }
    this.executor = new Executor({
      // (The fork server holds a job's start for its end, so a short job's two answers are one
      // write to this process: one wake-up; StartHold then holds no more.)
      ...(this.spawner !== undefined ? { spawner: this.spawner, holdStartMs: START_HOLD_MS } : {}),
      self: this.o.self,
      nodeName: this.o.config.name,
      apiUrl: this.o.apiUrl,
      dataDir: this.o.dataDir,
      graceMs: this.o.config.exec.killGraceMs,
      log: this.o.log.child({ component: 'exec' }),
      started: async (body, held) => { await this.starts.started(body, held) },
      finished: async body => { await this.starts.finished(body) }
    })
  }

  /** End every running job (recorded as lost, so it runs again) and the fork server. */
  async stop (): Promise<void> {
    await this.executor?.stopAll()
    this.starts.clear()
    this.spawner?.stop()
  }

  /** Attempts running on this node now. */
  get running (): number { return this.executor?.size ?? 0 }

  /** An event was applied: run or stop this node's attempts. */
  react (state: ClusterState, e: CisEvent): void {
    if (e.type === 'assign') {
      this.assigned(state, (e as CisEvent<'assign'>).body)
    } else if (e.type === 'accept' || e.type === 'submit') {
      // Jobs placed as their joblist was accepted (the accept carries their assigns, or the accept a master's own submit carries).
      for (const a of acceptOf(e)?.body.assign ?? []) this.assigned(state, a)
    } else if (e.type === 'cancel') {
      const b = (e as CisEvent<'cancel'>).body
      this.executor.stop(b.joblistId, b.jobId)
    } else if (e.type === 'purge') {
      // A purge takes only ended joblists, but a request it names goes with every ID it was
      // accepted under (state/purge.ts), and one of them may run here: a second accept by
      // another master across a failover, whose run the purging node never saw. Its attempts
      // are gone from every state: the process must not go on holding what it held.
      for (const id of this.executor.joblists()) {
        if (!isPurged(state, id)) continue
        this.o.log.warn({ joblist: id }, 'stopping the attempts of a joblist purged while they ran (its request was purged under another ID)')
        this.executor.stop(id)
      }
    }
  }

  /** An attempt was assigned: run it if it is this node's (once its job is known). */
  private assigned (state: ClusterState, b: CarriedAssign): void {
    if (b.node !== this.o.self) return
    const a = state.attempts[b.jobId]?.[b.attempt]
    if (a === undefined || a.state !== 'assigned') return
    this.launchSoon(b.jobId, b.attempt)
  }

  /** Launch this attempt at the end of the batch (settle), or once its job is known. */
  private launchSoon (jobId: string, n: number): void {
    this.toLaunch.set(`${jobId}#${n}`, { jobId, n })
  }

  /** After a batch of events: run the attempts assigned here that are still to run and whose job is known. */
  settle (state: ClusterState): void {
    for (const [key, { jobId, n }] of this.toLaunch) {
      const a = state.attempts[jobId]?.[n]
      // (Ended meanwhile, or no longer this node's: nothing to wait for.)
      if (a === undefined || a.state !== 'assigned' || a.node !== this.o.self) { this.toLaunch.delete(key); continue }
      if (state.jobs[jobId] === undefined) continue
      this.toLaunch.delete(key)
      this.launch(state, jobId, n)
    }
  }

  /** D-3: attempts this node was running when it stopped are lost (leftovers are killed). */
  async recover (state: ClusterState): Promise<void> {
    for (const [jobId, byN] of Object.entries(state.attempts)) {
      for (const a of Object.values(byN)) {
        if ((a.ranOn ?? a.node) !== this.o.self || a.state !== 'running') continue
        const job = state.jobs[jobId]
        const killed = job !== undefined && await killLeftover(a.pid, attemptPaths(this.o.dataDir, job.joblistId, jobId, a.n).workdir)
        await this.o.append('finished', { jobId, attempt: a.n, state: 'lost', exitCode: null, signal: null, reason: `the agent restarted while it ran${killed ? ' (its leftover process group was killed)' : ''}` })
      }
    }
  }

  /** D-3: attempts assigned to this node that never started run now. */
  launchAssigned (state: ClusterState): void {
    for (const [jobId, byN] of Object.entries(state.attempts)) {
      for (const a of Object.values(byN)) {
        // (One whose job is not known yet waits for it, as any assign does: settle.)
        if (a.node === this.o.self && a.state === 'assigned') this.launchSoon(jobId, a.n)
      }
    }
    this.settle(state)
  }

  private launch (state: ClusterState, jobId: string, n: number): void {
    const job = state.jobs[jobId]
    const a = state.attempts[jobId]?.[n]
    if (job === undefined || a === undefined) return
    if (job.cancelled) {
      this.o.append('finished', { jobId, attempt: n, state: 'stopped', exitCode: null, signal: null, reason: 'stopped before it started' })
        .catch(err => this.o.log.error({ err: (err as Error).message }, 'cannot record a stop'))
      return
    }
    this.executor.launch(state, job, a)
  }
}
