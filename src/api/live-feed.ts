// The live feed behind `GET /v1/events` (P-5): the node says what changed; the feed turns it
// into change messages (computed and serialized once, for every client), numbers them, keeps
// the last ones for clients that reconnect with Last-Event-ID, and hands each client what its
// filter asks for. A client whose Last-Event-ID is no longer kept (or from an earlier run of
// the agent) gets a fresh snapshot: never a silent gap.
import { randomBytes } from 'node:crypto'
import type { Change, Snapshot, Topic } from '../live/protocol.js'
import { nodeViews } from '../state/cluster-views.js'
import { scheduleList, scheduleSummary } from '../state/schedule-views.js'
import { comparePositions } from '../state/reducer.js'
import { findJoblist, joblistSummary, joblistView } from '../state/views.js'
import type { JoblistRecord } from '../state/types.js'
import { FINAL_JOBLIST_STATES } from '../state/types.js'
import { waitReasons } from '../scheduler/plan.js'
import type { ApiNode, ClusterSnapshot, NodeChanges } from './node-port.js'

export interface Filter {
  topics: ReadonlySet<Topic>
  /** Only this joblist, in full. */
  joblist?: string
}

export interface Outgoing { id: string, event: 'snapshot' | 'change', data: string }

interface Kept { n: number, topic: Topic, data: string }

export interface Subscriber {
  filter: Filter
  /** The first message(s), one at a time. */
  send: (m: Outgoing) => void
  /** Later messages: already in the event-stream format, all of one flush in one piece. */
  write: (text: string) => void
}

/** One message in the event-stream format (the data is JSON: no newlines in it). */
export const frame = (m: Outgoing): string => `id: ${m.id}\nevent: ${m.event}\ndata: ${m.data}\n\n`

export interface LiveFeedOptions {
  /** Changes within this many ms go out together (default 50). */
  flushMs?: number
  /** How many change messages are kept for resuming (default 10,000). */
  keep?: number
  /**
   * After the last client left, changes are still turned into messages and kept this long, for
   * a client that reconnects with Last-Event-ID (default 60 s); then the feed rests (nothing is
   * computed a change) until a client comes, and an ID from before the rest gets a snapshot.
   */
  resumeGraceMs?: number
  /** The clock (ms), for tests. */
  now?: () => number
}

/** One joblist in full, with why each waiting job waits (as GET /v1/joblists/{id} gives it). */
function fullView (v: ClusterSnapshot, jl: JoblistRecord): ReturnType<typeof joblistView> {
  const waiting = FINAL_JOBLIST_STATES.has(jl.state) ? {} : waitReasons({ state: v.state, now: v.now, alive: v.alive, queue: v.queue }, jl.id)
  return joblistView(v.state, jl, waiting, v)
}

export class LiveFeed {
  /** Differs on every start of the agent: an ID from an earlier run never resumes. */
  private readonly boot = randomBytes(4).toString('hex')
  private n = 0
  private readonly kept: Kept[] = []
  private readonly subs = new Set<Subscriber>()
  private pending: { joblists: Set<string>, schedules: Set<string>, nodes: boolean } = { joblists: new Set(), schedules: new Set(), nodes: false }
  private timer: NodeJS.Timeout | undefined
  private nodesDigest = ''
  /** No client, and none for resumeGraceMs: changes are not computed; nothing kept resumes. */
  private resting = true
  /** When the last client left (ms). */
  private leftAt = -Infinity
  private readonly unsubscribe: () => void
  /** Runs while there are clients (an idle agent without any is not woken for them). */
  private tick: NodeJS.Timeout | undefined

  constructor (private readonly node: ApiNode, private readonly o: LiveFeedOptions = {}) {
    this.unsubscribe = node.onChange(c => this.note(c))
    this.nodesDigest = this.digestNodes(node.view())
  }

  get clients (): number { return this.subs.size }

  close (): void {
    this.unsubscribe()
    clearInterval(this.tick)
    clearTimeout(this.timer)
    this.subs.clear()
  }

  private id (n: number): string { return `${this.boot}-${n}` }

  /**
   * Subscribe; the first messages (a snapshot, or what was missed since `lastEventId`) are
   * sent at once. Returns the unsubscribe call.
   */
  subscribe (sub: Subscriber, lastEventId: string | null): () => void {
    const missed = sub.filter.joblist === undefined ? this.since(lastEventId) : undefined
    if (missed === undefined) sub.send({ id: this.id(this.n), event: 'snapshot', data: JSON.stringify(this.snapshot(sub.filter)) })
    else for (const k of missed) if (sub.filter.topics.has(k.topic)) sub.send({ id: this.id(k.n), event: 'change', data: k.data })
    this.subs.add(sub)
    if (this.resting) { this.resting = false; this.nodesDigest = this.digestNodes(this.node.view()) }
    // Membership is time: a node goes silent without any event. Look once a second.
    if (this.tick === undefined) {
      this.tick = setInterval(() => this.note({ joblists: [], schedules: [], nodes: true }), 1000)
      this.tick.unref()
    }
    return () => {
      if (!this.subs.delete(sub) || this.subs.size > 0) return
      this.leftAt = this.now()
      clearInterval(this.tick)
      this.tick = undefined
    }
  }

  private now (): number { return (this.o.now ?? Date.now)() }

  /**
   * No client for resumeGraceMs: stop computing changes for nobody. What is kept goes, and the
   * count moves on by one, so an ID from before the rest is not resumed as if nothing was missed.
   */
  private rest (): void {
    if (this.resting) return
    this.resting = true
    this.kept.length = 0
    this.n++
    this.pending = { joblists: new Set(), schedules: new Set(), nodes: false }
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The kept changes after `lastEventId`, or undefined if they are not all kept. */
  private since (lastEventId: string | null): Kept[] | undefined {
    if (lastEventId === null) return undefined
    const [boot, num] = lastEventId.split('-')
    const last = Number(num)
    if (boot !== this.boot || !Number.isSafeInteger(last) || last > this.n) return undefined
    const oldest = this.kept[0]?.n ?? this.n + 1
    if (last < oldest - 1) return undefined
    return this.kept.filter(k => k.n > last)
  }

  snapshot (filter: Filter): Snapshot {
    const v = this.node.view()
    if (filter.joblist !== undefined) {
      const jl = findJoblist(v.state, filter.joblist)
      return { self: v.self, joblist: jl === undefined ? null : fullView(v, jl) }
    }
    const out: Snapshot = { self: v.self }
    if (filter.topics.has('joblists')) {
      out.joblists = Object.values(v.state.joblists).sort((a, b) => comparePositions(a.position, b.position)).map(j => joblistSummary(v.state, j))
    }
    if (filter.topics.has('nodes')) out.nodes = nodeViews(v.state, v)
    if (filter.topics.has('schedules')) out.schedules = scheduleList(v.state, v.now, true)
    return out
  }

  private note (c: NodeChanges): void {
    if (this.subs.size === 0 && this.now() - this.leftAt >= (this.o.resumeGraceMs ?? 60_000)) { this.rest(); return }
    for (const id of c.joblists) this.pending.joblists.add(id)
    for (const name of c.schedules) this.pending.schedules.add(name)
    if (c.nodes) this.pending.nodes = true
    this.timer ??= setTimeout(() => { this.timer = undefined; this.flush() }, this.o.flushMs ?? 50)
  }

  private digestNodes (v: ClusterSnapshot): string {
    return JSON.stringify(nodeViews(v.state, v).map(n => ({ ...n, lastSeen: null })))
  }

  /** Turn what changed into messages: numbered, kept, and sent to whoever asked for them. */
  flush (): void {
    const { joblists, schedules, nodes } = this.pending
    this.pending = { joblists: new Set(), schedules: new Set(), nodes: false }
    const v = this.node.view()
    const out: Array<{ topic: Topic, change: Change }> = []
    for (const id of joblists) {
      const jl = v.state.joblists[id]
      out.push({ topic: 'joblists', change: jl === undefined ? { topic: 'joblists', removed: id } : { topic: 'joblists', joblist: joblistSummary(v.state, jl) } })
    }
    for (const name of schedules) {
      const rec = v.state.schedules[name]
      const s = rec === undefined ? undefined : scheduleSummary(v.state, rec, v.now)
      if (s !== undefined) out.push({ topic: 'schedules', change: { topic: 'schedules', schedule: s } })
    }
    if (nodes) {
      const digest = this.digestNodes(v)
      if (digest !== this.nodesDigest) {
        this.nodesDigest = digest
        out.push({ topic: 'nodes', change: { topic: 'nodes', nodes: nodeViews(v.state, v) } })
      }
    }
    const keep = this.o.keep ?? 10_000
    const fresh: Kept[] = []
    for (const { topic, change } of out) {
      const k: Kept = { n: ++this.n, topic, data: JSON.stringify(change) }
      this.kept.push(k)
      fresh.push(k)
    }
    if (this.kept.length > keep) this.kept.splice(0, this.kept.length - keep)
    // Each client gets the flush in one write; the text is made once per set of topics.
    const texts = new Map<string, string>()
    for (const s of this.subs) {
      if (s.filter.joblist !== undefined || fresh.length === 0) continue
      const key = [...s.filter.topics].sort().join(',')
      let text = texts.get(key)
      if (text === undefined) {
        text = fresh.filter(k => s.filter.topics.has(k.topic)).map(k => frame({ id: this.id(k.n), event: 'change', data: k.data })).join('')
        texts.set(key, text)
      }
      if (text !== '') s.write(text)
    }
    // Followers of one joblist get it in full when it changed.
    for (const s of this.subs) {
      const ref = s.filter.joblist
      if (ref === undefined) continue
      const jl = findJoblist(v.state, ref)
      if (jl === undefined || !joblists.has(jl.id)) continue
      const change: Change = { topic: 'joblist', joblist: fullView(v, jl) }
      s.write(frame({ id: this.id(this.n), event: 'change', data: JSON.stringify(change) }))
    }
  }
}
