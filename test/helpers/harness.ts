// A scheduler harness in the style of Nomad's: build a state from events, run the pure
// scheduler, record its decisions, apply them as the master's events. No I/O, no clock.
import type { EventBodies, EventType, Resources, UnsignedEvent } from '../../src/events/types.js'
import type { Decision } from '../../src/scheduler/schedule.js'
import { schedule } from '../../src/scheduler/schedule.js'
import { decisionEvent } from '../../src/scheduler/decision-event.js'
import type { QueueOptions } from '../../src/scheduler/queue.js'
import type { QueueView } from '../../src/scheduler/queue-index.js'
import type { JobSpec, JoblistSpec } from '../../src/spec/types.js'
import { apply } from '../../src/state/reducer.js'
import type { ClusterState } from '../../src/state/types.js'
import { emptyState } from '../../src/state/types.js'
import { QueueList } from '../../src/state/queue-list.js'

export function job (name: string, over: Partial<JobSpec> = {}): JobSpec {
  return { name, run: 'true', needs: { slot: 1 }, env: {}, retries: 0, replace: {}, files: [], ...over }
}

export function joblist (name: string, stages: Array<[string, JobSpec[]]>, over: Partial<JoblistSpec> = {}): JoblistSpec {
  return { name, priority: 0, tags: [], replace: {}, stages: stages.map(([n, jobs]) => ({ name: n, jobs })), ...over }
}

export class Harness {
  state: ClusterState = emptyState()
  readonly events: UnsignedEvent[] = []
  readonly decisions: Decision[][] = []
  private readonly seqs = new Map<string, number>()
  now = 1_000
  /** Told the joblist IDs each event changed (what the reducer returns; the node's views follow them). */
  applied?: (changed: string[]) => void
  /** The master's index of the queue, for the passes (kept by the test through `applied`). */
  index?: QueueView

  constructor (readonly master = 'M') {}

  emit<T extends EventType> (origin: string, type: T, body: EventBodies[T]): UnsignedEvent<T> {
    const seq = (this.seqs.get(origin) ?? 0) + 1
    this.seqs.set(origin, seq)
    this.now += 1
    const e: UnsignedEvent<T> = { origin, seq, ts: this.now, lc: 0, type, body }
    this.events.push(e)
    const changed = apply(this.state, e)
    this.applied?.(changed)
    return e
  }

  node (id: string, resources: Resources, priority = 0, profiles: string[] = []): void {
    this.emit(id, 'node', { name: id, priority, profiles, resources, api: '', addresses: [], version: 't' })
  }

  submit (spec: JoblistSpec, origin = this.master, owner = 'tester'): string {
    const e = this.emit(origin, 'submit', { spec, owner })
    return `${e.origin}:${e.seq}`
  }

  /** One scheduler pass; its decisions become the master's events. */
  queue: QueueOptions = { policy: 'fifo', agingPerMinute: 1 }

  /** `lost`: nodes gone for certain; `silent`: nodes not heard from, and for how long (ms). */
  step (alive?: string[], lost: string[] = [], o: { silent?: Map<string, number>, lostAfterMs?: number } = {}): Decision[] {
    const ds = schedule({
      state: this.state,
      now: this.now,
      self: this.master,
      selfCode: this.master.toLowerCase(),
      alive: new Set(alive ?? Object.keys(this.state.nodes)),
      silent: new Map([...(o.silent ?? []), ...lost.map((n): [string, number] => [n, Infinity])]),
      lostAfterMs: o.lostAfterMs ?? 0,
      policy: { onLost: 'retry', maxLost: 2 },
      queue: this.queue,
      ...(this.index !== undefined ? { index: this.index } : {})
    })
    this.decisions.push(ds)
    for (const d of ds) {
      const e = decisionEvent(d, 1)
      this.emit(this.master, e.type, e.body)
    }
    return ds
  }

  /** Run passes until nothing new is decided (bounded). */
  settle (alive?: string[], lost: string[] = []): Decision[] {
    const all: Decision[] = []
    for (let i = 0; i < 20; i++) {
      const ds = this.step(alive, lost)
      if (ds.length === 0) return all
      all.push(...ds)
    }
    throw new Error('scheduler did not settle in 20 passes')
  }

  assigns (ds: Decision[]): Array<Extract<Decision, { type: 'assign' }>> {
    return ds.filter((d): d is Extract<Decision, { type: 'assign' }> => d.type === 'assign')
  }

  attempt (jobId: string, n?: number): { n: number, node: string } {
    const byN = this.state.attempts[jobId]
    const list = Object.values(byN ?? {}).sort((a, b) => a.n - b.n)
    const a = n === undefined ? list[list.length - 1] : list.find(x => x.n === n)
    if (a === undefined) throw new Error(`job ${jobId} has no attempt`)
    return a
  }

  start (jobId: string): void {
    const a = this.attempt(jobId)
    this.emit(a.node, 'started', { jobId, attempt: a.n, pid: 100 })
  }

  finish (jobId: string, state: 'succeeded' | 'failed' | 'stopped' | 'lost' = 'succeeded'): void {
    const a = this.attempt(jobId)
    this.emit(a.node, 'finished', { jobId, attempt: a.n, state, exitCode: state === 'succeeded' ? 0 : 1, signal: null })
  }

  /** A short job: its start told with its end, in one finished event (src/node/start-hold.ts). */
  finishQuick (jobId: string, state: 'succeeded' | 'failed' = 'succeeded'): void {
    const a = this.attempt(jobId)
    this.now += 1
    this.emit(a.node, 'finished', { jobId, attempt: a.n, state, exitCode: state === 'succeeded' ? 0 : 1, signal: null, started: { at: this.now, pid: 100 } })
  }

  /** Start and finish every running-or-assigned attempt. */
  runAll (state: 'succeeded' | 'failed' = 'succeeded'): void {
    for (const [jobId, byN] of Object.entries(this.state.attempts)) {
      for (const a of Object.values(byN)) {
        if (a.state === 'assigned') this.emit(a.node, 'started', { jobId, attempt: a.n, pid: 1 })
        if (a.state === 'running') this.emit(a.node, 'finished', { jobId, attempt: a.n, state, exitCode: state === 'succeeded' ? 0 : 1, signal: null })
      }
    }
  }

  joblistId (request: string): string {
    const id = this.state.requests[request]?.joblistId
    if (id === undefined) throw new Error(`request ${request} not accepted`)
    return id
  }
}

/** A deep copy of a state (structuredClone keeps the queue's fields, not its class: made again). */
export function cloneState (state: ClusterState): ClusterState {
  const copy = structuredClone(state)
  copy.queue = QueueList.from(state.queue)
  return copy
}
