// A local copy of what the stream describes: a snapshot, then changes applied in order.
// Pure; the dashboard and `cis watch` render from it, and tests compare it with the API.
import type { NodeView } from '../state/cluster-views.js'
import type { ScheduleSummary } from '../state/schedule-views.js'
import type { JoblistView } from '../state/views.js'
import type { Change, JoblistSummary, Snapshot } from './protocol.js'

export class LiveCopy {
  self = ''
  readonly joblists = new Map<string, JoblistSummary>()
  readonly schedules = new Map<string, ScheduleSummary>()
  nodes: NodeView[] = []
  /** With `?joblist=ID`: that joblist in full. */
  joblist: JoblistView | null = null
  /** The ID of the last message applied (what a reconnect sends as Last-Event-ID). */
  lastId: string | null = null
  /** How many snapshots were applied (more than one: a reconnect could not resume). */
  snapshots = 0

  /** Replace everything with a snapshot. */
  reset (s: Snapshot, id: string): void {
    this.self = s.self
    this.joblists.clear()
    for (const j of s.joblists ?? []) this.joblists.set(j.id, j)
    this.schedules.clear()
    for (const x of s.schedules ?? []) this.schedules.set(x.name, x)
    this.nodes = s.nodes ?? []
    this.joblist = s.joblist ?? null
    this.lastId = id
    this.snapshots++
  }

  apply (c: Change, id: string): void {
    switch (c.topic) {
      case 'joblists':
        if ('removed' in c) this.joblists.delete(c.removed)
        else this.joblists.set(c.joblist.id, c.joblist)
        break
      case 'nodes': this.nodes = c.nodes; break
      case 'schedules': this.schedules.set(c.schedule.name, c.schedule); break
      case 'joblist': this.joblist = c.joblist; break
    }
    this.lastId = id
  }

  /** The joblists sorted as the API lists them (by acceptance, then ID). */
  joblistList (): JoblistSummary[] {
    return [...this.joblists.values()].sort((a, b) => a.acceptedAt < b.acceptedAt ? -1 : a.acceptedAt > b.acceptedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  }

  master (): NodeView | undefined {
    return this.nodes.find(n => n.master)
  }
}
