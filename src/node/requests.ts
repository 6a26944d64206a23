// Requests made at this node (R4-1, R4-2, D-1): a submit, a stop or an update is an event in this node's own
// log, durable before it is answered, whether or not a master is reachable. A submit waits a
// little for the master's accept, to answer with the joblist's ID (on the master, the submit
// carries its accept: answered at once).
import type { CisEvent, ControlOp, EventBodies, EventType, RunOf, SubmitBody, UpdateBody } from '../events/types.js'
import { eventKey } from '../events/types.js'
import type { JoblistSpec } from '../spec/types.js'
import type { ClusterState } from '../state/types.js'

export interface RequestsOptions {
  state: () => ClusterState
  append: <T extends EventType>(type: T, body: EventBodies[T]) => Promise<CisEvent<T>>
  /** Writes a submit: on the master, carrying its accept when it can (event-log.ts OwnAccept); default: append. */
  appendSubmit?: (body: SubmitBody) => Promise<CisEvent<'submit'>>
}

export class Requests {
  private readonly acceptWaiters = new Map<string, Array<(id: string) => void>>()

  constructor (private readonly o: RequestsOptions) {}

  /** Write a submit request; resolve with the joblist ID once a master accepted it (null after waitMs). */
  async submit (spec: JoblistSpec, owner: string, waitMs = 2000, schedule?: RunOf): Promise<{ request: string, id: string | null }> {
    const body: SubmitBody = { spec, owner, ...(schedule !== undefined ? { schedule } : {}) }
    const e = this.o.appendSubmit !== undefined ? await this.o.appendSubmit(body) : await this.o.append('submit', body)
    const request = eventKey(e)
    const known = this.o.state().requests[request]?.joblistId
    if (known !== undefined) return { request, id: known }
    const id = await new Promise<string | null>(resolve => {
      const timer = setTimeout(() => resolve(null), waitMs)
      const list = this.acceptWaiters.get(request) ?? []
      list.push(id => { clearTimeout(timer); resolve(id) })
      this.acceptWaiters.set(request, list)
    })
    this.acceptWaiters.delete(request)
    return { request, id }
  }

  /** Write a stop request for a joblist or one of its jobs; the request's ID. */
  async stop (joblistId: string, jobId?: string): Promise<string> {
    const e = await this.o.append('stop', { joblistId, ...(jobId !== undefined ? { jobId } : {}) })
    return eventKey(e)
  }

  /** Change a joblist's priority and/or tags (D-1); the request's ID. */
  async update (change: UpdateBody): Promise<string> {
    return eventKey(await this.o.append('update', change))
  }

  /** Define or replace a schedule (its joblist has `schedule`, its variables filled in). */
  async defineSchedule (spec: JoblistSpec, owner: string): Promise<string> {
    return eventKey(await this.o.append('schedule', { spec, owner }))
  }

  async controlSchedule (name: string, op: ControlOp): Promise<string> {
    return eventKey(await this.o.append('control', { name, op }))
  }

  /** Mark a failed joblist as seen (S-5). */
  async ack (joblistId: string): Promise<string> {
    return eventKey(await this.o.append('ack', { joblistId }))
  }

  /** An accept event was applied: answer whoever waits for that request. */
  accepted (request: string): void {
    const waiters = this.acceptWaiters.get(request)
    const id = this.o.state().requests[request]?.joblistId
    if (waiters !== undefined && id !== undefined) for (const w of waiters) w(id)
  }
}
