// The shapes of the agent's API answers, as the CLI reads them. Types only: every import
// here is `import type`, so importing this module (with `import type`) loads nothing.
import type { NodeView } from '../state/cluster-views.js'
import type { AccountingRecord } from '../state/accounting.js'
import type { OwnerUsage } from '../scheduler/fairshare.js'
import type { PlannedJob } from '../scheduler/plan.js'
import type { AttemptView, JobView, JoblistView, joblistSummary } from '../state/views.js'
import type { RunView, ScheduleSummary, ScheduleView, SkipView } from '../state/schedule-views.js'

export type { AttemptView, JobView, JoblistView }
export type { RunView, ScheduleSummary, ScheduleView, SkipView }

/** GET /v1/joblists: one summary a joblist. */
export type JoblistSummary = ReturnType<typeof joblistSummary>
export interface JoblistsResponse { joblists: JoblistSummary[] }

/** POST /v1/joblists (201, or 202 with id null when no master accepted it yet). */
export interface SubmitResponse { id: string | null, name: string, request: string, state: string }

/** POST /v1/joblists of a joblist with `schedule` (201): the schedule it defined or replaced. */
export interface ScheduleDefinedResponse { schedule: string, request: string, next: string | null, replaced: boolean }

/** GET /v1/schedules[?all=true]: paused and failing first. */
export interface SchedulesResponse { schedules: ScheduleSummary[] }

/** POST /v1/schedules/:name/pause|resume, DELETE /v1/schedules/:name (202). */
export interface ScheduleControlResponse { name: string, request: string, paused: boolean, removed: boolean }

/** POST /v1/schedules/:name/trigger (201, or 202 with id null when no master accepted it yet). */
export interface TriggerResponse { id: string | null, name: string, request: string, state: string }

/** POST /v1/joblists/:ref/ack (202, or 200 with request null if it was acknowledged already). */
export interface AckResponse { id: string, request: string | null, acked: true }

/** POST /v1/joblists/:ref/stop and /v1/jobs/:ref/stop. */
export interface StopResponse { id: string, request: string, state: string }

/** PATCH /v1/joblists/:ref (202): the change is written; the joblist's fields after it. */
/** A subscription as views show it (issue 11). */
export type SubscriptionView = ({ webhook: string } | { email: string, digest: 'now' | 'daily' }) & { on: string[], key: string, since?: string }
export interface UpdateResponse { id: string, request: string, priority: number, tags: string[], notify: SubscriptionView[], state: string }
/** PATCH /v1/jobs/:ref. */
export interface JobUpdateResponse { id: string, joblistId: string, request: string, notify: SubscriptionView[], state: string }

/** POST /v1/jobs (201, or 202 with id null when no master accepted it yet). */
export interface JobSubmitResponse { id: string | null, joblistId: string | null, name: string, request: string, state: string }

/** POST /v1/plan. */
export interface PlanResponse { stage: string, jobs: PlannedJob[] }

/** GET /v1/jobs/:ref/logs without ?stream (both streams whole). */
export interface LogsResponse { jobId: string, attempt: number, node: string, state: AttemptView['state'], done: boolean, stdout: string, stderr: string }

/** GET /v1/state (without ?full, ?event or ?hash=false). */
export interface StateHashResponse { hash: string, events: number, origins: Record<string, number>, at?: string }

/** GET /v1/nodes (each entry as state/cluster-views.ts shapes it). */
export type { NodeView }
export interface NodesResponse { nodes: NodeView[] }

/** GET /v1/usage: fair share (P-4) per owner, sorted by owner. */
export interface UsageResponse { policy: 'fifo' | 'priority' | 'fairshare', halfLifeMs: number, at: string, owners: OwnerUsage[] }
export type { OwnerUsage }

/** GET /v1/health. */
export interface HealthResponse { ok: true, id: string, name: string, version: string, master: boolean }

/** The body of every error answer (4xx, 5xx). */
export interface ErrorBody { error?: string, code?: string, details?: unknown }

/** What every notification of GET /v1/notifications (issue 11) says of what it tells about. */
interface NotificationOf {
  id: string
  /** Whether the joblist or one of its jobs is told about. */
  subject: 'joblist' | 'job'
  subjectId: string
  joblistId: string
  /** The joblist's name, or `joblist/job`. */
  name: string
  state: 'running' | 'succeeded' | 'failed' | 'stopped'
}
/** A webhook delivery of GET /v1/notifications. */
export interface NotificationView extends NotificationOf {
  url: string
  reachedAt: string
  attempts: Array<{ at: string, ok: boolean, status: number | null, error: string | null, retryAfterMs?: number }>
  delivered: boolean
  gaveUp: boolean
  disabled: boolean
  nextAt: string | null
  /** A change removed its subscription (or the state from it): kept for its history, never attempted again. */
  retired?: boolean
}
/** An email item of GET /v1/notifications (issue 11): sent, pending (nextAt) or given up. */
export interface EmailNotificationView extends NotificationOf {
  email: string
  digest: 'now' | 'daily'
  reachedAt: string
  dueAt: string
  sentAt: string | null
  failures: number
  lastError: string | null
  gaveUp: boolean
  nextAt: string | null
}
export interface NotificationsResponse { notifications: NotificationView[], emails?: EmailNotificationView[] }

/** GET /v1/accounting (G-2). */
export interface AccountingGroupView { group: string, jobs: number, failed: number, wallS: number, cpuUserS: number, cpuSysS: number, maxRssKb?: number }
/** An accounting record as the API answers it: the record, its times as ISO strings. */
export type AccountingRecordView = Omit<AccountingRecord, 'submittedAt' | 'startedAt' | 'endedAt'> & { submittedAt: string | null, startedAt: string | null, endedAt: string | null }
export interface AccountingResponse { since: string, until: string, by: string, groups: AccountingGroupView[], records?: AccountingRecordView[], truncated?: boolean, scanned: number }

/** GET /v1/joblists/:ref/history (G-3). */
export interface HistoryResponse { id: string, name: string, events: Array<{ at: string, node: string, origin: string, seq: number, type: string, text: string }> }

/** GET /v1/log (G-5): a page of the stored events after a version vector. */
export interface LogEvent { origin: string, seq: number, ts: number, lc: number, type: string, body: unknown, sig: string }
export interface LogResponse { events: LogEvent[], more: boolean, position: Record<string, number>, next: string, total: number }
