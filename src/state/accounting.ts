// Accounting (G-2): one record per ended attempt, derived from the state (so the same on every
// node), and an index that answers a query by owner, node, joblist or time range at the cost
// of what it returns rather than of the whole history. Pure: the node feeds the index the
// joblists each batch of events changed; the API and the CLI query it.
import { sortedAttempts } from './derive.js'
import type { AttemptRecord, ClusterState, JoblistRecord } from './types.js'
import { duplicateOf } from './schedule-views.js'

export interface AccountingRecord {
  /** `<jobId>#<attempt>`: unique. */
  key: string
  joblistId: string
  joblistName: string
  jobId: string
  jobName: string
  owner: string
  tags: string[]
  /** The node the attempt ran on (its name; its ID if unknown). */
  node: string
  /** Resource type → the instance IDs the attempt held. */
  resources: Record<string, string[]>
  attempt: number
  /** How the attempt ended. */
  state: 'succeeded' | 'failed' | 'stopped' | 'lost'
  exitCode: number | null
  signal: string | null
  /** ms since the epoch. */
  submittedAt: number
  /** When it started (absent: ended before it started, e.g. lost or stopped while assigned). */
  startedAt?: number
  endedAt: number
  /** ended - started, in seconds (0 if it never started). */
  wallS: number
  /** CPU seconds of the job's process tree, where measured (Linux). */
  cpuUserS?: number
  cpuSysS?: number
  /** Peak resident memory of the job's process tree (KiB), where measured. */
  maxRssKb?: number
  /** It ran although another attempt of the job had already succeeded (the job ran twice), or its joblist is a doubled run of a schedule instant. */
  duplicate: boolean
}

const ENDED = new Set(['succeeded', 'failed', 'stopped', 'lost'])

/** The accounting records of one joblist: one per ended attempt of each of its (physical) jobs. */
export function joblistRecords (state: ClusterState, jl: JoblistRecord): AccountingRecord[] {
  const out: AccountingRecord[] = []
  const doubledRun = duplicateOf(state, jl) !== undefined
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      const logical = state.jobs[logicalId]
      if (logical === undefined) continue
      for (const id of logical.physical ?? [logicalId]) {
        let succeeded = false
        for (const a of sortedAttempts(state.attempts[id])) {
          if (!ENDED.has(a.state)) continue
          out.push(record(state, jl, id, logical.name, a, doubledRun || (succeeded && a.state === 'succeeded')))
          if (a.state === 'succeeded') succeeded = true
        }
      }
    }
  }
  return out
}

function record (state: ClusterState, jl: JoblistRecord, jobId: string, jobName: string, a: AttemptRecord, duplicate: boolean): AccountingRecord {
  const nodeId = a.ranOn ?? a.node
  const endedAt = a.endedAt ?? a.finish?.at ?? a.lostMark?.at ?? a.startedAt ?? a.assignedAt
  const usage = a.usage
  return {
    key: `${jobId}#${a.n}`,
    joblistId: jl.id,
    joblistName: jl.name,
    jobId,
    jobName,
    owner: jl.owner,
    tags: jl.tags,
    node: state.nodes[nodeId]?.name ?? nodeId,
    resources: a.resources,
    attempt: a.n,
    state: a.state as AccountingRecord['state'],
    exitCode: a.exitCode ?? null,
    signal: a.signal ?? null,
    submittedAt: jl.submittedAt,
    ...(a.startedAt !== undefined ? { startedAt: a.startedAt } : {}),
    endedAt,
    wallS: a.startedAt === undefined ? 0 : Math.max(0, endedAt - a.startedAt) / 1000,
    ...(usage?.cpuUserMs !== undefined ? { cpuUserS: usage.cpuUserMs / 1000 } : {}),
    ...(usage?.cpuSysMs !== undefined ? { cpuSysS: usage.cpuSysMs / 1000 } : {}),
    ...(usage?.maxRssKb !== undefined ? { maxRssKb: usage.maxRssKb } : {}),
    duplicate
  }
}

/** Whether a record answers a query (its joblist aside): it ran in the range, and matches owner, node, tag. */
export function inQuery (r: AccountingRecord, q: AccountingQuery): boolean {
  if (r.endedAt < q.since || (r.startedAt ?? r.endedAt) > q.until) return false
  if (q.owner !== undefined && r.owner !== q.owner) return false
  if (q.node !== undefined && r.node !== q.node) return false
  return q.tag === undefined || r.tags.includes(q.tag)
}

export interface AccountingQuery {
  owner?: string
  node?: string
  joblistId?: string
  tag?: string
  /** A record counts if the attempt ran in [since, until] (overlap), not only if it started there. */
  since: number
  until: number
}

/** The records sorted by end time (then key), with binary search from a time on. */
class ByEnd {
  readonly list: AccountingRecord[] = []

  insert (r: AccountingRecord): void {
    // Records mostly end in time order: one after the last goes at the end without a search.
    const last = this.list[this.list.length - 1]
    if (last === undefined || last.endedAt < r.endedAt || (last.endedAt === r.endedAt && last.key < r.key)) { this.list.push(r); return }
    this.list.splice(this.lowerBound(r.endedAt, r.key), 0, r)
  }

  remove (r: AccountingRecord): void {
    const i = this.lowerBound(r.endedAt, r.key)
    if (this.list[i]?.key === r.key) this.list.splice(i, 1)
  }

  /** The first index whose (endedAt, key) is >= (t, key). */
  lowerBound (t: number, key = ''): number {
    let lo = 0
    let hi = this.list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const m = this.list[mid]
      if (m.endedAt < t || (m.endedAt === t && m.key < key)) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** More joblists than this changed since a query: the next one indexes the state afresh. */
export const PENDING_MAX = 10_000

/**
 * The accounting index: every record, and per owner and per node the records sorted by end
 * time. A query walks one sorted list from the first record that ended at or after `since`:
 * the records it reads are those that ended in the range or later, not the whole history.
 */
export class AccountingIndex {
  private byKey = new Map<string, AccountingRecord>()
  private byJoblist = new Map<string, string[]>()
  private all = new ByEnd()
  private byOwner = new Map<string, ByEnd>()
  private byNode = new Map<string, ByEnd>()
  /** Joblists changed since the index last caught up (touch); 'all': index the whole state afresh (so at first). */
  private pending: Set<string> | 'all' = 'all'
  /** Records read by the last query (for the bench: the cost of a query). */
  lastScanned = 0

  get size (): number { return this.byKey.size }

  /** Index every joblist of the state (at start). */
  rebuild (state: ClusterState): void {
    for (const jl of Object.values(state.joblists)) this.update(state, jl.id)
  }

  /**
   * These joblists changed (events applied, archived out, brought back): their records are
   * derived when a query next needs them (catchUp), not for every batch of events, so a node
   * nobody asks for accounting pays nothing a job for it, and a joblist changed by several
   * batches is derived once. Past PENDING_MAX joblists the next query indexes the state afresh
   * (the pending set stays bounded).
   */
  touch (ids: Iterable<string>): void {
    if (this.pending === 'all') return
    for (const id of ids) this.pending.add(id)
    if (this.pending.size > PENDING_MAX) this.touchAll()
  }

  /** Every joblist may have changed (at start): the next query indexes the state afresh; what is indexed now is let go. */
  touchAll (): void {
    this.pending = 'all'
    this.empty()
  }

  private empty (): void {
    this.byKey = new Map()
    this.byJoblist = new Map()
    this.all = new ByEnd()
    this.byOwner = new Map()
    this.byNode = new Map()
  }

  /** Bring the index up to date with the state: the joblists touched since the last time (if this throws, the next time starts afresh). */
  catchUp (state: ClusterState): void {
    const pending = this.pending
    if (pending !== 'all' && pending.size === 0) return
    try {
      if (pending === 'all') {
        this.empty()
        this.rebuild(state)
      } else {
        for (const id of pending) this.update(state, id)
      }
      this.pending = new Set()
    } catch (err) {
      this.touchAll()
      throw err
    }
  }

  /** A joblist changed: replace its records by those derived now. Only ended attempts have records, so an open joblist costs little. */
  update (state: ClusterState, joblistId: string): void {
    const jl = state.joblists[joblistId]
    this.replace(joblistId, jl === undefined ? [] : joblistRecords(state, jl))
  }

  /** The records of a joblist are now `fresh` (those gone are dropped, those changed replaced). */
  replace (joblistId: string, fresh: readonly AccountingRecord[]): void {
    // Most changes are of joblists with nothing ended yet: nothing to do.
    if (fresh.length === 0 && !this.byJoblist.has(joblistId)) return
    const old = this.byJoblist.get(joblistId) ?? []
    const keep = new Set(fresh.map(r => r.key))
    for (const k of old) {
      const r = this.byKey.get(k)
      if (r !== undefined && !keep.has(k)) this.drop(r)
    }
    for (const r of fresh) {
      const had = this.byKey.get(r.key)
      if (had !== undefined) {
        if (same(had, r)) continue
        this.drop(had)
      }
      this.add(r)
    }
    if (fresh.length > 0) this.byJoblist.set(joblistId, fresh.map(r => r.key))
    else this.byJoblist.delete(joblistId)
  }

  /** The records of a query, sorted by end time. */
  query (q: AccountingQuery): AccountingRecord[] {
    let from: AccountingRecord[]
    let start = 0
    if (q.joblistId !== undefined) {
      from = (this.byJoblist.get(q.joblistId) ?? []).map(k => this.byKey.get(k)).filter((r): r is AccountingRecord => r !== undefined).sort((a, b) => a.endedAt - b.endedAt || (a.key < b.key ? -1 : 1))
    } else {
      const list = q.owner !== undefined ? this.byOwner.get(q.owner) : q.node !== undefined ? this.byNode.get(q.node) : this.all
      if (list === undefined) { this.lastScanned = 0; return [] }
      from = list.list
      start = list.lowerBound(q.since)
    }
    const out: AccountingRecord[] = []
    let scanned = 0
    for (let i = start; i < from.length; i++) {
      const r = from[i]
      scanned++
      if (inQuery(r, q)) out.push(r)
    }
    this.lastScanned = scanned
    return out
  }

  private add (r: AccountingRecord): void {
    this.byKey.set(r.key, r)
    this.all.insert(r)
    sortedList(this.byOwner, r.owner).insert(r)
    sortedList(this.byNode, r.node).insert(r)
  }

  private drop (r: AccountingRecord): void {
    this.byKey.delete(r.key)
    this.all.remove(r)
    this.byOwner.get(r.owner)?.remove(r)
    this.byNode.get(r.node)?.remove(r)
  }
}

function sortedList (m: Map<string, ByEnd>, k: string): ByEnd {
  let l = m.get(k)
  if (l === undefined) m.set(k, l = new ByEnd())
  return l
}

const same = (a: AccountingRecord, b: AccountingRecord): boolean => JSON.stringify(a) === JSON.stringify(b)

export type GroupBy = 'owner' | 'node' | 'joblist' | 'day'

export interface AccountingGroup {
  /** The owner, node, joblist (`name (id)`) or day (YYYY-MM-DD, UTC). */
  group: string
  /** Attempts (a day: those that ran that day). */
  jobs: number
  /** ... that failed or were lost. */
  failed: number
  /** Wall seconds (a day: the part of each attempt within that day and the range). */
  wallS: number
  cpuUserS: number
  cpuSysS: number
  /** The highest peak memory of one attempt (KiB), if any was measured. */
  maxRssKb?: number
}

const DAY_MS = 86_400_000

/** The summary of records per group (like `qacct`), plus the total as the last row (`group: 'total'`). */
export function summarize (records: readonly AccountingRecord[], by: GroupBy, range: { since: number, until: number }): AccountingGroup[] {
  const groups = new Map<string, AccountingGroup>()
  const add = (g: string, r: AccountingRecord, wallS: number): void => {
    let a = groups.get(g)
    if (a === undefined) groups.set(g, a = { group: g, jobs: 0, failed: 0, wallS: 0, cpuUserS: 0, cpuSysS: 0 })
    a.jobs++
    if (r.state === 'failed' || r.state === 'lost') a.failed++
    a.wallS += wallS
    a.cpuUserS += r.cpuUserS ?? 0
    a.cpuSysS += r.cpuSysS ?? 0
    if (r.maxRssKb !== undefined) a.maxRssKb = Math.max(a.maxRssKb ?? 0, r.maxRssKb)
  }
  const total: AccountingGroup = { group: 'total', jobs: 0, failed: 0, wallS: 0, cpuUserS: 0, cpuSysS: 0 }
  for (const r of records) {
    total.jobs++
    if (r.state === 'failed' || r.state === 'lost') total.failed++
    total.wallS += r.wallS
    total.cpuUserS += r.cpuUserS ?? 0
    total.cpuSysS += r.cpuSysS ?? 0
    if (r.maxRssKb !== undefined) total.maxRssKb = Math.max(total.maxRssKb ?? 0, r.maxRssKb)
    if (by === 'day') {
      // A job that spans midnight counts in each day it ran, with the wall time of that day.
      const from = Math.max(r.startedAt ?? r.endedAt, range.since)
      const to = Math.min(r.endedAt, range.until)
      for (let d = Math.floor(from / DAY_MS) * DAY_MS; d <= to && d < from + 400 * DAY_MS; d += DAY_MS) {
        const wall = r.startedAt === undefined ? 0 : Math.max(0, Math.min(to, d + DAY_MS) - Math.max(from, d)) / 1000
        add(new Date(d).toISOString().slice(0, 10), r, wall)
      }
    } else {
      add(by === 'owner' ? r.owner : by === 'node' ? r.node : `${r.joblistName} (${r.joblistId})`, r, r.wallS)
    }
  }
  const round = (g: AccountingGroup): AccountingGroup => ({ ...g, wallS: round3(g.wallS), cpuUserS: round3(g.cpuUserS), cpuSysS: round3(g.cpuSysS) })
  return [...[...groups.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0)).map(round), round(total)]
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000
