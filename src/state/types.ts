// The derived cluster state: a plain JSON value, a pure function of the set of events.
import type { JobSpec, JoblistSpec, NotifySpec } from '../spec/types.js'
import type { AttemptEnd, AttemptUsage, DeliveryBody, LostPolicy, NodeBody, Resources, RunOf, SkipReason } from '../events/types.js'
import type { CutRange } from './cuts.js'
import { QueueList } from './queue-list.js'

export type JoblistState = 'queued' | 'running' | 'succeeded' | 'failed' | 'stopped'
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped' | 'lost'
export type StageState = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped'
export type AttemptState = 'assigned' | 'running' | AttemptEnd

export interface NodeRecord extends NodeBody {
  id: string
  /** Time of the node's latest info event. */
  updatedAt: number
}

export interface RequestRecord {
  key: string
  origin: string
  at: number
  /** HLC order of the request: [ts, lc, origin, seq]. */
  order: [number, number, string, number]
  owner: string
  name: string
  spec: JoblistSpec
  /** Set once the master accepted it. */
  joblistId?: string
  /** A run of a schedule. */
  schedule?: RunOf
}

export interface AcceptFact extends LostPolicy {
  expand?: Record<string, string[]>
  id: string
  term: number
  origin: string
  at: number
  position: [number, number, string, number]
}

export interface AttemptRecord {
  n: number
  node: string
  resources: Resources
  state: AttemptState
  assignedAt: number
  term: number
  startedAt?: number
  endedAt?: number
  exitCode?: number | null
  signal?: string | null
  reason?: string
  tail?: string
  pid?: number
  /** The executor's own report of the attempt's end, when it sent one. */
  finish?: { state: AttemptEnd, at: number, exitCode: number | null, signal: string | null, reason?: string, tail?: string }
  /** What the attempt used (G-2): the winning finished fact's usage, when it had one. */
  usage?: AttemptUsage
  /** The node whose executor reported on the attempt (started/finished). */
  ranOn?: string
  /** Positions of the winning assign/started/finished facts (see reducer). */
  assignPos?: [number, number, string, number]
  startPos?: [number, number, string, number]
  finishPos?: [number, number, string, number]
  /** Facts about this attempt overruled by an earlier one (two masters deciding at once). */
  conflicts?: number
  /** The master declared the attempt lost (its node was gone). */
  lostMark?: { at: number, reason: string }
}

export interface JobRecord {
  id: string
  joblistId: string
  name: string
  stage: number
  spec: JobSpec
  state: JobState
  cancelled: boolean
  /** A job with a target is logical: these are its physical jobs, one per node (S-4). */
  physical?: string[]
  /** A physical job: its logical job, and the node it must run on. */
  logical?: string
  pin?: string
}

export interface StageRecord {
  name: string
  jobIds: string[]
  state: StageState
}

export interface JoblistRecord {
  id: string
  name: string
  request: string
  owner: string
  priority: number
  tags: string[]
  replace: Record<string, string>
  submittedAt: number
  acceptedAt: number
  acceptedBy: string
  term: number
  /** Queue position: the accept event's [ts, lc, origin, seq]. */
  position: [number, number, string, number]
  policy: LostPolicy
  stages: StageRecord[]
  state: JoblistState
  /** Index of the stage in progress (stages.length when all are done). */
  currentStage: number
  cancelled: boolean
  endedAt?: number
  /** Attempts that ran more than once because a node was only thought lost. */
  duplicates: number
  /** A run of a schedule: which, and the instant it stands for. */
  schedule?: RunOf
  /** The values its variables were filled in with (S-7). */
  values?: Record<string, string>
}

export type Position = [number, number, string, number]

export interface SkipRecord {
  from: number
  to: number
  count: number
  reason: SkipReason
  /** Position of the skip event (sort key). */
  pos: Position
}

/**
 * A schedule (S-1, S-6): the latest definition, the user's controls, its runs and skipped
 * instants. Facts only; paused and the like are derived (schedules.ts), so any arrival order
 * gives the same record.
 */
export interface ScheduleRecord {
  name: string
  /** The latest definition (null until a definition arrived: a run may come first). */
  spec: JoblistSpec | null
  owner: string
  definedPos: Position | null
  /** Time of the first definition. */
  created: number
  definitions: number
  /** The latest of each control. */
  ops: { pause?: Position, resume?: Position, delete?: Position }
  /** Request keys of all runs (cron and manual), in request order. */
  runs: string[]
  /** The request order of each run (kept here: a run's request may be archived out of memory). */
  order: Record<string, Position>
  /** Cron instant -> request keys of the runs that stand for it, in request order (more than one: duplicates). */
  byInstant: Record<string, string[]>
  /** The newest instant accounted for, by a run or a skip (0: none yet). */
  lastInstant: number
  skips: SkipRecord[]
  /** Request keys of runs not ended yet (accepted or not), sorted. */
  active: string[]
  /** The run that failed last (by end time). */
  lastFailed?: { key: string, at: number }
  /** Request keys of the runs that failed, with their end times. */
  failed?: Record<string, number>
}

export interface ClusterState {
  /** Highest seq applied per origin: the version vector. */
  applied: Record<string, number>
  /** Highest HLC seen. */
  clock: { ts: number, lc: number }
  nodes: Record<string, NodeRecord>
  /** Submit requests by `origin:seq`, with their specs until accepted. */
  requests: Record<string, RequestRecord>
  /**
   * Every accept per request. Normally one; two masters (a partition healing) may both accept
   * a request: the accept with the lowest position wins, the other ID becomes an alias.
   */
  accepts: Record<string, AcceptFact[]>
  /** Joblist IDs of accepts that lost to another accept of the same request. */
  aliases: Record<string, string>
  joblists: Record<string, JoblistRecord>
  /** IDs of joblists not yet ended, in queue order (the accept's position): the scheduler's work list. */
  queue: QueueList
  /** Keys of submit requests no master accepted yet, in request order. */
  unaccepted: string[]
  jobs: Record<string, JobRecord>
  /** Attempt facts by job ID then attempt number; kept apart from jobs so any arrival order works. */
  attempts: Record<string, Record<string, AttemptRecord>>
  /** Cancels by joblist ID: whole joblist (`*`) or job IDs. */
  cancels: Record<string, { all: boolean, jobs: string[], at: number }>
  /** Stop requests (by `origin:seq`) and whether a master handled them. */
  stops: Record<string, { joblistId: string, jobId?: string, at: number, handled: boolean }>
  /** Number of accepts each master wrote: the next ID counter. */
  acceptCount: Record<string, number>
  /** Master claims: highest term per origin. */
  terms: Record<string, number>
  schedules: Record<string, ScheduleRecord>
  /** Failed joblists a person has seen (S-5): joblist ID -> time of the first ack. */
  acks: Record<string, number>
  /**
   * Changes of joblists (D-1) by the joblist ID the update named: per field, the winning value
   * (the update with the highest position). The joblist's record takes its fields from here.
   */
  updates: Record<string, UpdateRecord>
  /** Webhook delivery attempts (issue 11) by delivery ID, sorted by the event's position. */
  deliveries: Record<string, DeliveryAttempt[]>
  /**
   * Email messages (issue 11) by address, sorted by the event's position: only what the
   * address's next message waits for, the last that got through and the failed ones after it
   * (at most MAX_TRAILING_MAIL_FAILURES, the latest); what each item's messages said is in
   * mailItems. (Until Dec 4 every message was kept here for good, on every node.)
   */
  mails: Record<string, MailRecord[]>
  /**
   * What the messages that listed an email item said of it, by item ID and then by the address
   * they went to (an item counts the messages to its own address only), kept and archived with
   * its joblist.
   */
  mailItems: Record<string, Record<string, MailItemStanding>>
  /**
   * Joblist IDs and request keys a purge removed (G-6): what a later event about them adds is
   * removed again, so the state is the same whatever order the purge and those events come in.
   * As bits (purged.ts): `purgedIds` by ID code and block of counters, `purgedRequests` by
   * origin and block of seqs; `purged` keeps keys of other forms whole. Ask purged.ts (isPurged).
   */
  purged: Record<string, true>
  purgedIds: Record<string, number[]>
  purgedRequests: Record<string, number[]>
  /**
   * Per origin, the seq ranges purges took out of the logs, with the key of the purge event
   * that named each (state/cuts.ts): a gap in an origin's log is served as a skip they cover.
   */
  cuts: Record<string, CutRange[]>
}

/** One email message the master tried to send (a `mail` event). */
export interface MailRecord {
  ids: string[]
  ok: boolean
  error?: string
  /** When it was recorded (the event's ts). */
  at: number
  pos: Position
}

/**
 * An email item's standing from the messages that listed it, each fact with the position of its
 * event (the first that got through; the last failure; the last failure's error), so that the
 * result is the same in any order the messages arrive in.
 */
export interface MailItemStanding {
  sent?: { at: number, pos: Position }
  /** Failed messages that listed it. */
  failures: number
  lastFailed?: { at: number, pos: Position }
  lastError?: { error: string, pos: Position }
}

/** One recorded attempt at a webhook delivery: a `delivery` event's body, with when it was recorded (the event's ts) and its position. */
export type DeliveryAttempt = Omit<DeliveryBody, 'id' | 'term'> & { at: number, pos: Position }

/** The winning value of each changed field of one joblist, with the position of its update. */
export interface UpdateRecord {
  priority?: { value: number, pos: Position }
  tags?: { value: string[], pos: Position }
  /** The joblist's notify list (issue 11). */
  notify?: NotifyChange
  /** Its jobs' notify lists, by job ID. */
  jobs?: Record<string, NotifyChange>
}

/**
 * A changed notify list: the winning update's list, and per target (see subscriptions.ts)
 * the time of the first update that listed it (a minimum: the same in any arrival order).
 */
export interface NotifyChange {
  value: NotifySpec[]
  pos: Position
  since: Record<string, number>
}

/** The joblist of an ID, or of an alias ID (a losing accept's, now the winner's). */
export function joblistById (state: ClusterState, id: string): JoblistRecord | undefined {
  return state.joblists[id] ?? state.joblists[state.aliases[id] ?? '']
}

export function emptyState (): ClusterState {
  return {
    applied: {},
    clock: { ts: 0, lc: 0 },
    nodes: {},
    requests: {},
    accepts: {},
    aliases: {},
    joblists: {},
    queue: new QueueList(),
    unaccepted: [],
    jobs: {},
    attempts: {},
    cancels: {},
    stops: {},
    acceptCount: {},
    terms: {},
    schedules: {},
    acks: {},
    updates: {},
    deliveries: {},
    mails: {},
    mailItems: {},
    purged: {},
    purgedIds: {},
    purgedRequests: {},
    cuts: {}
  }
}

export const FINAL_JOBLIST_STATES: ReadonlySet<JoblistState> = new Set(['succeeded', 'failed', 'stopped'])
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'stopped', 'lost'])
export const ACTIVE_ATTEMPT_STATES: ReadonlySet<AttemptState> = new Set(['assigned', 'running'])
