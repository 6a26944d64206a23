// The live stream's contract (P-5): what `GET /v1/events` sends. Shared by the server, the
// `cis watch` client and the dashboard (this directory imports nothing at run time but
// itself, so a browser loads it as it is).
import type { NodeView } from '../state/cluster-views.js'
import type { ScheduleSummary } from '../state/schedule-views.js'
import type { JoblistView } from '../state/views.js'

export type Topic = 'joblists' | 'nodes' | 'schedules'
export const TOPICS: readonly Topic[] = ['joblists', 'nodes', 'schedules']

/** A joblist as `GET /v1/joblists` lists it. */
export type JoblistSummary = Omit<JoblistView, 'stages'> & { jobs: Record<string, number>, stages: number }

/**
 * `event: snapshot`: the whole picture the client asked for. With `?joblist=ID`, `joblist` is
 * that one joblist in full (stages, jobs, attempts) and the rest is absent.
 */
export interface Snapshot {
  self: string
  joblists?: JoblistSummary[]
  nodes?: NodeView[]
  schedules?: ScheduleSummary[]
  joblist?: JoblistView | null
}

/** `event: change`: one thing changed; apply it to the copy. */
export type Change =
  | { topic: 'joblists', joblist: JoblistSummary }
  /** A joblist ID that is gone (two masters accepted one request; the other ID won). */
  | { topic: 'joblists', removed: string }
  /** The node list, whole (it is small); sent when anything but `lastSeen` changed. */
  | { topic: 'nodes', nodes: NodeView[] }
  | { topic: 'schedules', schedule: ScheduleSummary }
  /** With `?joblist=ID`: that joblist, in full. */
  | { topic: 'joblist', joblist: JoblistView }

/** One message of the stream as the client sees it. */
export type LiveMessage =
  | { event: 'snapshot', id: string, data: Snapshot }
  | { event: 'change', id: string, data: Change }
