// What the API needs of a node, and nothing more: the API depends on this, never on the
// node's class. A node without libp2p (or a fake) serves it as well as a full agent.
import type { BackupHeader } from '../events/backup-format.js'
import type { CisEvent, ControlOp, RunOf, UpdateBody } from '../events/types.js'
import type { QueueOptions } from '../scheduler/queue.js'
import type { JoblistSpec } from '../spec/types.js'
import type { ClusterState } from '../state/types.js'
import type { AccountingQuery, AccountingRecord } from '../state/accounting.js'

export type OutputStream = 'stdout' | 'stderr'

/** What the node knows now: the state and its membership view. */
export interface ClusterSnapshot {
  state: ClusterState
  self: string
  alive: ReadonlySet<string>
  master: string | null
  lastSeen: (id: string) => number | undefined
  now: number
  queue: QueueOptions
  /** Known nodes not heard from now, and for how long (ms; Infinity: gone for certain). */
  silent: ReadonlyMap<string, number>
  /** The default lostAfter: how long attempts on a silent node stay unknown. */
  lostAfterMs: number
}

/** What changed in the state or the membership, for the live stream. */
export interface NodeChanges {
  /** IDs of joblists whose view changed (or that are gone). */
  joblists: Iterable<string>
  /** Names of schedules that changed. */
  schedules: Iterable<string>
  /** The node list or the membership may have changed. */
  nodes: boolean
}

/** The notify settings the API checks submits against and shows deliveries with (issue 11). */
export interface NotifyPolicy {
  /** Hosts webhooks may name (host or host:port). */
  allowHosts: readonly string[]
  /** A signing secret is configured (without one, webhooks are refused). */
  signed: boolean
  /** How long a delivery is retried. */
  retryForMs: number
  /** An SMTP server is configured (without one, email subscriptions are refused). */
  smtp?: boolean
  /** The email settings, to show when messages are due. */
  mail?: { mailEveryMs: number, digestAt: string, digestEveryMs?: number }
}

/** A backup as the node gives it (G-6): the header, and its events, read as they are sent. */
export interface BackupSource {
  header: BackupHeader
  events: AsyncIterable<CisEvent>
}

export interface ApiNode {
  readonly id: string
  readonly name: string
  readonly version: string
  view: () => ClusterSnapshot
  /**
   * The view for reading one joblist or job (by ID, alias, name, `joblist/job`): with that
   * joblist in the state even when it was archived out of memory (the state is not changed).
   */
  viewOf: (ref: string) => Promise<ClusterSnapshot>
  /** The view with the joblists of these request keys in the state, archived ones read back. */
  viewWithRequests: (keys: readonly string[]) => Promise<ClusterSnapshot>
  /** The archived joblists of a name (latest ended first, at most `limit`), as views. */
  archivedNamed: (name: string, limit: number) => Promise<ClusterSnapshot[]>
  /** This node's state hash (archived joblists included). */
  hash: () => string
  /** The whole derived state, archived joblists included (a copy; reads the whole archive). */
  wholeState: () => Promise<ClusterSnapshot['state']>
  /** The joblists archived out of memory: how many, and by state. */
  archived: () => { count: number, byState: Readonly<Record<string, number>> }
  /** The joblists in memory by state (kept as events change them: no pass over every joblist). */
  inMemoryByState: () => Readonly<Record<string, number>>
  /** Purges whose events are still to leave this node's log, and the events taken out since start (G-6). */
  reclaim: () => { pending: number, taken: number }
  /** Purges by retention (store.purgeAfter, G-6): null when off. */
  retentionStatus: () => { afterMs: number, last: { at: number, before: number, joblists: number } | null, error: string | null } | null
  /** The notify settings; absent: this node refuses webhooks. */
  readonly notify?: NotifyPolicy
  /** Write a submit request; the joblist ID once a master accepted it (null if none did in time). */
  submit: (spec: JoblistSpec, owner: string, waitMs?: number, schedule?: RunOf) => Promise<{ request: string, id: string | null }>
  /** Define or replace a schedule (S-1); the request's ID. */
  defineSchedule: (spec: JoblistSpec, owner: string) => Promise<string>
  /** Pause, resume or remove a schedule; the request's ID. */
  controlSchedule: (name: string, op: ControlOp) => Promise<string>
  /** Mark a failed joblist as seen (S-5); the request's ID. */
  ack: (joblistId: string) => Promise<string>
  /** Change a joblist's priority and/or tags (D-1); the request's ID. */
  updateJoblist: (change: UpdateBody) => Promise<string>
  /** Write a stop request for a joblist or one of its jobs; the request's ID. */
  requestStop: (joblistId: string, jobId?: string) => Promise<string>
  /** A chunk of an attempt's output, read here or from the node that ran it. */
  readOutput: (jobId: string, attempt: number, node: string, stream: OutputStream, offset: number) => Promise<Buffer>
  /** Attempts running on this node. */
  runningCount: () => number
  /** This node's metrics (P-5). */
  readonly metrics: ApiMetrics
  /** A consistent backup of this node's store: every origin's durable events up to now (G-6). */
  backup: () => Promise<BackupSource>
  /** When this node applied event `origin:seq` (ms), if recently. */
  appliedAt: (key: string) => number | undefined
  /** Test gate: drop and refuse these peers ([] heals). Absent on a node without a network. */
  partition?: (peers: string[], mute?: boolean) => Promise<void>
  /** Be told what changes (the live stream); returns the call that stops it. */
  onChange: (listener: (c: NodeChanges) => void) => () => void
  /** A request failed on a bug: the node logs it. */
  reportError: (err: Error) => void
  /** The stored events of every origin, up to a time if given (history and time travel, G-3). */
  storedEvents: (until?: number) => Promise<CisEvent[]>
  /** The stored events about these request keys or joblist IDs (a joblist's history, G-3), through the store's index. */
  subjectEvents: (subjects: Iterable<string>) => Promise<CisEvent[]>
  /**
   * The stored events after a version vector (G-5, the export's feed): of every origin those
   * with seq > after[origin] (absent: from 1), in seq order per origin, at most `limit`;
   * `more`: the store has more after them.
   */
  eventsAfter: (after: Readonly<Record<string, number>>, limit: number) => Promise<{ events: CisEvent[], more: boolean }>
  /**
   * Purge (G-6): the joblists that ended before `before` leave every node's state. Without
   * `dryRun`, written as purge events (several for a large purge); their request IDs.
   */
  purge: (before: number, dryRun: boolean) => Promise<{ ids: string[], joblists: number, requests: string[] }>
  /** Accounting records (G-2) of a query, from the node's index; `scanned`: records read to answer it. */
  accounting: (q: AccountingQuery) => Promise<{ records: AccountingRecord[], scanned: number }>
}

/** The node's metrics as the API serves and feeds them (P-5). */
export interface ApiMetrics {
  readonly contentType: string
  /** The Prometheus text exposition of this node's metrics. */
  text: () => Promise<string>
  /** An API request ended; route is the route's template (`unmatched`: no route). */
  request: (method: string, route: string, status: number, seconds: number) => void
}
