// Every state change is one of these events, written to the origin node's own signed log.
// Who writes what (see DESIGN.md): node info by that node; submit/stop requests by the node
// that received them (on the master, a submit carries its accept); master/accept/assign/cancel by the master; started/finished by the
// node that runs the attempt; schedule/control/ack/update by the node that received the request;
// skip (and the submits of schedule runs) and delivery (webhook attempts) by the master.
import type { JoblistSpec, NotifySpec } from '../spec/types.js'

export type Resources = Record<string, string[]>

export interface NodeBody {
  name: string
  priority: number
  profiles: string[]
  resources: Resources
  api: string
  addresses: string[]
  version: string
}

/** A run of a schedule: the instant (ms) it stands for; manual: `cis trigger`, outside the cron. */
export interface RunOf { name: string, instant: number, manual?: true }
export interface SubmitBody {
  spec: JoblistSpec
  owner: string
  /** Set on a run of a schedule (written by the master, or by `cis trigger`'s node). */
  schedule?: RunOf
  /**
   * A submit made on the master: its accept, decided as it was written (one event, not two:
   * issue 12). It stands for an accept event of this submit (the request is the submit itself)
   * at the submit's position: see acceptOf.
   */
  accept?: SubmitAccept
}
/** Define or replace the schedule named spec.name (spec.schedule is set; variables filled in). */
export interface ScheduleBody { spec: JoblistSpec, owner: string }
export type ControlOp = 'pause' | 'resume' | 'delete'
export interface ControlBody { name: string, op: ControlOp }
export type SkipReason = 'overlap' | 'missed' | 'caught-up' | 'paused' | 'over-limit'
/** The master skipped the instants from..to (count of them) of a schedule, for `reason`. */
export interface SkipBody { name: string, from: number, to: number, count: number, reason: SkipReason, term: number }
/** A person saw this failed joblist (S-5). */
export interface AckBody { joblistId: string }
export interface StopBody { joblistId: string, jobId?: string }
/**
 * Change a queued or running joblist (D-1): each field present replaces that field. Per field,
 * the update with the highest position (ts, lc, origin, seq) wins, in any arrival order.
 */
export interface UpdateBody {
  joblistId: string
  /** Present: the change is to this job of the joblist (only its notify). */
  jobId?: string
  priority?: number
  tags?: string[]
  /** Replaces the notify list (issue 11); [] removes every subscription. */
  notify?: NotifySpec[]
}
/** The fields of a joblist an update may change. */
export const UPDATABLE_FIELDS = ['priority', 'tags', 'notify'] as const
export type UpdatableField = typeof UPDATABLE_FIELDS[number]
export interface MasterBody { term: number }
export interface LostPolicy { onLost: 'retry' | 'fail', maxLost: number }
export interface AcceptBody extends LostPolicy {
  request: string
  id: string
  term: number
  /**
   * For jobs with a target (S-1..S-4): job number (1-based, across the joblist) -> the node
   * IDs it expands to, one physical job each. Decided by the master at accept time.
   */
  expand?: Record<string, string[]>
  /**
   * Jobs of this joblist placed in the pass that accepted it (its first stage, where there was
   * room): each an assign fact at this event's position, with its term, as an `assign` event
   * would be. One event, not 1 + N, for a joblist placed at once (issue 12).
   */
  assign?: CarriedAssign[]
}
export interface AssignBody { jobId: string, attempt: number, node: string, resources: Resources, term: number }
/** The accept a master's own submit carries: an AcceptBody whose request is that submit. */
export type SubmitAccept = Omit<AcceptBody, 'request'>
/** An assign an accept carries: an AssignBody without the term (the accept's). */
export type CarriedAssign = Omit<AssignBody, 'term'>
/** The assigns an accept carries, each as the body of the assign event it stands for (the accept's term). */
export const carriedAssigns = (b: AcceptBody): AssignBody[] => (b.assign ?? []).map(a => ({ ...a, term: b.term }))
export interface CancelBody { joblistId: string, jobId?: string, request: string, term: number }
/** The master's verdict that an attempt's node is gone; the executor's own `finished` wins. */
export interface LoseBody { jobId: string, attempt: number, reason: string, term: number }
export interface StartedBody { jobId: string, attempt: number, pid: number }
export type AttemptEnd = 'succeeded' | 'failed' | 'stopped' | 'lost'
export interface FinishedBody {
  jobId: string
  attempt: number
  state: AttemptEnd
  exitCode: number | null
  signal: string | null
  reason?: string
  /** The last lines of output, kept for failures so every node can show them. */
  tail?: string
  /** What the attempt's processes used (G-2), when the executing node could measure it. */
  usage?: AttemptUsage
  /**
   * The attempt's start, when no `started` event told it: a job that ended within a few ms of
   * its start (the executor holds a start that long, executor-bridge.ts) sends one event, not
   * two (issue 12). `at`: the start's time on the hybrid clock's scale (ms), at most the
   * event's own `ts`.
   */
  started?: { at: number, pid: number }
}

/**
 * What one attempt's processes used (G-2), as measured by the node that ran it (see
 * src/exec/usage.ts). Every field is a whole number >= 0. A field is left out when it could
 * not be measured, and the whole object when nothing was.
 */
export interface AttemptUsage {
  /**
   * CPU time in user mode, in ms: the job's shell and every descendant it (or they) waited
   * for. Present together with cpuSysMs, or neither is: the shell reports both when it exits,
   * so a shell killed by a signal (a timeout, a stop), replaced by `exec`, or whose EXIT trap
   * the command replaced, reports neither.
   */
  cpuUserMs?: number
  /** CPU time in kernel mode, in ms, of the same processes as cpuUserMs. */
  cpuSysMs?: number
  /**
   * Peak memory in kB (1024 bytes): the highest sum of the resident set sizes of the
   * processes in the attempt's process group, sampled 25 ms after the start and then every
   * 500 ms (Linux only). Shared pages count once per process, so it can exceed what the group
   * held; a peak between samples is missed, and a job shorter than 25 ms has none.
   */
  maxRssKb?: number
}

/**
 * One attempt at a webhook delivery (issue 11), written by the master after it: `id` is the
 * delivery's stable ID `<joblistId>.<state>.<subscription index>` (the webhook-id). ok: a 2xx
 * answer; gone: a 410 (the subscription is disabled); retryAfterMs: the receiver's Retry-After.
 */
export interface DeliveryBody {
  id: string
  attempt: number
  ok: boolean
  status?: number
  error?: string
  retryAfterMs?: number
  gone?: true
  term: number
}

/**
 * One email message (issue 11), written by the master after it tried to send it: `to` the
 * address, `ids` the items it listed (`<joblistId>.<state>.<subscription index>`), ok: the
 * SMTP server accepted it. An item is done once an ok mail lists it.
 */
export interface MailBody {
  to: string
  ids: string[]
  ok: boolean
  error?: string
  term: number
}

/**
 * Ended joblists leave every node's state (G-6, `cis admin purge`): the joblists named, their
 * requests (submit keys) and the IDs they were also accepted under. Written by the node that
 * was asked, with the lists from its view, so every node cuts exactly the same.
 */
export interface PurgeBody {
  /** They ended before this time (ms): what was asked, for the record. */
  before: number
  ids: string[]
  requests: string[]
  /**
   * The events this purge takes out of every node's log (state/cuts.ts): per origin, seq
   * ranges [from, to] of events about the purged joblists only. Written in the last event(s)
   * of a purge, after those naming the joblists.
   */
  cut?: Record<string, Array<[number, number]>>
  /** The writer's master ID counters (acceptCount), which the cut's accepts fed. */
  counters?: Record<string, number>
}

export interface EventBodies {
  node: NodeBody
  submit: SubmitBody
  stop: StopBody
  master: MasterBody
  accept: AcceptBody
  assign: AssignBody
  cancel: CancelBody
  lose: LoseBody
  started: StartedBody
  finished: FinishedBody
  schedule: ScheduleBody
  control: ControlBody
  skip: SkipBody
  ack: AckBody
  update: UpdateBody
  delivery: DeliveryBody
  mail: MailBody
  purge: PurgeBody
}

export type EventType = keyof EventBodies

export interface UnsignedEvent<T extends EventType = EventType> {
  origin: string
  seq: number
  ts: number
  lc: number
  type: T
  body: EventBodies[T]
}

export interface CisEvent<T extends EventType = EventType> extends UnsignedEvent<T> {
  /** base64 Ed25519 signature over the canonical JSON of the unsigned event. */
  sig: string
}

export const EVENT_TYPES: readonly EventType[] = ['node', 'submit', 'stop', 'master', 'accept', 'assign', 'cancel', 'lose', 'started', 'finished', 'schedule', 'control', 'skip', 'ack', 'update', 'delivery', 'mail', 'purge']

/** The key of an event, also the ID of a request made by it: `origin:seq`. */
export function eventKey (e: { origin: string, seq: number }): string {
  return `${e.origin}:${e.seq}`
}

/**
 * The accept event an event is or carries: an accept itself; for a submit that carries its
 * accept (a submit made on the master), that accept as the event it stands for, with the
 * submit's origin, seq, clock and signature, and the submit as its request; else undefined.
 * Whoever acts on accepts (the reducer, the executor, the history, the export) asks this.
 */
export function acceptOf (e: CisEvent): CisEvent<'accept'> | undefined
export function acceptOf (e: UnsignedEvent): UnsignedEvent<'accept'> | undefined
export function acceptOf (e: UnsignedEvent | CisEvent): UnsignedEvent<'accept'> | undefined {
  if (e.type === 'accept') return e as UnsignedEvent<'accept'>
  if (e.type !== 'submit') return undefined
  const carried = (e.body as SubmitBody).accept
  if (carried === undefined) return undefined
  return { ...e, type: 'accept', body: { request: eventKey(e), ...carried } }
}

/** The origin and seq an event key names (eventKey's inverse). */
export function keyParts (key: string): { origin: string, seq: number } {
  const i = key.lastIndexOf(':')
  return { origin: key.slice(0, i), seq: Number(key.slice(i + 1)) }
}
