// The master's standing order of the queue under the priority and fairshare policies (issue 12).
// A pass serves the queue highest effective priority first (queue.ts); without this, each pass
// computed every queued joblist's effective priority and built a heap of all of them before
// the first decision (13-19 ms at 100,000 queued, after every job's end on a saturated
// cluster), though a pass with the queue's index stops after the few joblists it can place.
//
// What makes a standing order possible: effective priority = base + aging x minutes waited,
// where the base (the priority, times the owner's fair-share factor under fairshare) is the same
// for every joblist of one owner and one priority. Within such a group the effective priority
// only falls as the accept time grows, at every `now`: kept sorted by accept time (then
// position), a group is in served order at every pass, and a pass merges the groups' heads (a
// heap as large as the groups, not the queue). Exactly the order of servedInOrder, ties too:
// where equal effective priorities meet different accept times (accepted after `now`, by a
// master whose clock ran ahead, so all at the base; or a rounding) that run is served by
// position, as the policy's sort does. With no aging a group is in position order.
// Pure: the queue's index (queue-index.ts) tells it each joblist that changed, from the state.
import { comparePositions } from '../state/position.js'
import type { ClusterState, JoblistRecord, Position } from '../state/types.js'
import { MinHeap } from '../util/min-heap.js'
import { effectivePriority, queueFactors, servedFirst } from './queue.js'
import type { QueueOptions } from './queue.js'

/** A joblist of the order: its ID, accept time and queue position when it was put in. */
interface Entry { readonly id: string, readonly at: number, readonly pos: Position }

/** How the groups are formed and sorted: by owner too (fairshare), by accept time (aging > 0). */
interface Mode { readonly byOwner: boolean, readonly aging: boolean }

const sameMode = (a: Mode, b: Mode): boolean => a.byOwner === b.byOwner && a.aging === b.aging

/**
 * One group's entries, sorted, from `start` on. An entry is put in or taken out by moving the
 * shorter side of the list (the joblists of a group end and are accepted mostly at its two ends:
 * the front runs, the back is new), not always what follows it (a splice near the front of
 * 100,000 entries took 100-220 µs on the 2-core VM; this, 3-5 µs).
 */
class Group {
  items: Entry[] = []
  start = 0
  get size (): number { return this.items.length - this.start }

  insertAt (i: number, entry: Entry): void {
    const h = this.items
    if (i === h.length) { h.push(entry); return }
    if (this.start > 0 && i - this.start < h.length - i) {
      this.start--
      for (let j = this.start; j < i - 1; j++) h[j] = h[j + 1]
      h[i - 1] = entry
      return
    }
    h.splice(i, 0, entry)
  }

  removeAt (i: number): void {
    const h = this.items
    if (i - this.start < h.length - 1 - i) {
      for (let j = i; j > this.start; j--) h[j] = h[j - 1]
      this.start++
      // (The front given back once it is most of the list.)
      if (this.start > 64 && this.start > h.length - this.start) { this.items = h.slice(this.start); this.start = 0 }
      return
    }
    h.splice(i, 1)
  }
}

export class ServedOrder {
  private mode: Mode | undefined
  private readonly groups = new Map<string, Group>()
  private readonly members = new Map<string, { group: string, entry: Entry }>()

  /** Forget everything: the order is built again, from the queue, when next asked. */
  clear (): void {
    this.mode = undefined
    this.groups.clear()
    this.members.clear()
  }

  /** Whether the order is kept (asked once, under a policy that serves by priority). */
  get kept (): boolean { return this.mode !== undefined }

  /** This joblist may have changed: put it where it belongs now (out, when not in the queue). */
  update (state: ClusterState, id: string, inQueue: boolean): void {
    if (this.mode === undefined) return
    const jl = inQueue ? state.joblists[id] : undefined
    const was = this.members.get(id)
    if (jl === undefined) {
      if (was !== undefined) this.remove(id, was.group, was.entry)
      return
    }
    const group = this.groupOf(jl)
    if (was !== undefined && was.group === group && was.entry.at === jl.acceptedAt && comparePositions(was.entry.pos, jl.position) === 0) return
    if (was !== undefined) this.remove(id, was.group, was.entry)
    this.insert(group, { id, at: jl.acceptedAt, pos: jl.position })
  }

  /**
   * The queue in the order `o` serves it at `now`, one joblist at a time (what servedInOrder
   * gives), or undefined when `o` does not serve by priority (fifo) or ages backwards. Built
   * from the queue the first time, and again when the policy's grouping changes.
   */
  served (state: ClusterState, now: number, o: QueueOptions): (() => JoblistRecord | undefined) | undefined {
    if (o.policy === 'fifo' || !(o.agingPerMinute >= 0)) return undefined
    const mode: Mode = { byOwner: o.policy === 'fairshare', aging: o.agingPerMinute > 0 }
    if (this.mode === undefined || !sameMode(this.mode, mode)) this.build(state, mode)
    const factors = queueFactors(state, now, o)
    const effOf = (jl: JoblistRecord): number => effectivePriority(jl, now, o, factors?.get(jl.owner) ?? 1)
    const heap = new MinHeap<GroupCursor>((a, b) => servedFirst(a.eff, a.head as JoblistRecord, b.eff, b.head as JoblistRecord) < 0)
    for (const g of this.groups.values()) {
      const c = new GroupCursor(g.items, g.start, state, effOf, mode.aging)
      if (c.advance()) heap.push(c)
    }
    return () => {
      const c = heap.pop()
      if (c === undefined) return undefined
      const jl = c.head as JoblistRecord
      if (c.advance()) heap.push(c)
      return jl
    }
  }

  /** How the order differs from the queue of `state` (empty: it does not), at most `max` lines. */
  differences (state: ClusterState, max = 5): string[] {
    if (this.mode === undefined) return []
    const out: string[] = []
    for (const id of state.queue) {
      const jl = state.joblists[id]
      const m = this.members.get(id)
      if (jl === undefined || out.length >= max) continue
      if (m === undefined) out.push(`served order: ${id} of the queue is not in it`)
      else if (m.group !== this.groupOf(jl) || m.entry.at !== jl.acceptedAt || comparePositions(m.entry.pos, jl.position) !== 0) out.push(`served order: ${id} kept as ${m.group} at ${m.entry.at}, in the state ${this.groupOf(jl)} at ${jl.acceptedAt}`)
    }
    if (this.members.size !== state.queue.length && out.length < max) {
      const queued = new Set(state.queue)
      const extra = [...this.members.keys()].filter(id => !queued.has(id)).slice(0, 3)
      out.push(`served order: ${this.members.size} joblists kept, ${state.queue.length} in the queue${extra.length > 0 ? ` (not in it: ${extra.join(', ')})` : ''}`)
    }
    for (const [key, g] of this.groups) {
      const list = g.items
      for (let i = g.start + 1; i < list.length && out.length < max; i++) if (this.compare(list[i - 1], list[i]) >= 0) { out.push(`served order: group ${key} out of order at ${list[i].id}`); break }
    }
    return out
  }

  private build (state: ClusterState, mode: Mode): void {
    this.clear()
    this.mode = mode
    for (const id of state.queue) {
      const jl = state.joblists[id]
      if (jl === undefined) continue
      const group = this.groupOf(jl)
      const entry = { id, at: jl.acceptedAt, pos: jl.position }
      this.members.set(id, { group, entry })
      let g = this.groups.get(group)
      if (g === undefined) this.groups.set(group, g = new Group())
      g.items.push(entry)
    }
    for (const g of this.groups.values()) g.items.sort((a, b) => this.compare(a, b))
  }

  private groupOf (jl: JoblistRecord): string {
    return this.mode?.byOwner === true ? `${jl.priority} ${jl.owner}` : String(jl.priority)
  }

  /** A group's sort: accept time, then position (aging); position alone (no aging). */
  private compare (a: Entry, b: Entry): number {
    if (this.mode?.aging === true && a.at !== b.at) return a.at < b.at ? -1 : 1
    return comparePositions(a.pos, b.pos)
  }

  /** Where `entry` goes in the group: the first index whose entry sorts after it (mostly the end). */
  private slot (g: Group, entry: Entry): number {
    const list = g.items
    let lo = g.start
    let hi = list.length
    if (hi > lo && this.compare(list[hi - 1], entry) < 0) return hi
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.compare(list[mid], entry) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private insert (group: string, entry: Entry): void {
    this.members.set(entry.id, { group, entry })
    let g = this.groups.get(group)
    if (g === undefined) this.groups.set(group, g = new Group())
    g.insertAt(this.slot(g, entry), entry)
  }

  private remove (id: string, group: string, entry: Entry): void {
    this.members.delete(id)
    const g = this.groups.get(group)
    if (g === undefined) return
    const i = this.slot(g, entry)
    if (g.items[i]?.id === id) g.removeAt(i)
    if (g.size === 0) this.groups.delete(group)
  }
}

/** The first index from `from` whose accept time is after `at` (a group sorted by accept time). */
function afterTime (list: readonly Entry[], from: number, at: number): number {
  let lo = from
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (list[mid].at > at) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** One group's joblists in served order at one pass: `head` and its effective priority. */
class GroupCursor {
  head: JoblistRecord | undefined
  eff = 0
  /** (`k`: the next entry of the list.) Entries before `until` follow in order as they are. */
  private until = 0
  /** A run of equal effective priority over several accept times, sorted by position, and the next of it. */
  private run: JoblistRecord[] = []
  private r = 0

  constructor (private readonly list: readonly Entry[], private k: number, private readonly state: ClusterState,
    private readonly effOf: (jl: JoblistRecord) => number, private readonly aging: boolean) {}

  /** Move to the next joblist of the group (false: none left). */
  advance (): boolean {
    if (this.r < this.run.length) return this.at(this.run[this.r++])
    if (this.k < this.until) return this.at(this.record(this.k++))
    if (this.k >= this.list.length) { this.head = undefined; return false }
    // No aging: every joblist of the group has the base, and the group is in position order.
    if (!this.aging) { this.until = this.list.length; return this.at(this.record(this.k++)) }
    // With aging: the entries of one accept time are in position order; the next time's entry
    // has a lower effective priority, unless `now` or a rounding made them equal: then the whole
    // run of that effective priority is served by position.
    const first = this.record(this.k)
    const eff = this.effOf(first)
    let end = afterTime(this.list, this.k, this.list[this.k].at)
    if (end < this.list.length && this.effOf(this.record(end)) === eff) {
      while (end < this.list.length && this.effOf(this.record(end)) === eff) end = afterTime(this.list, end, this.list[end].at)
      this.run = this.list.slice(this.k, end).map(x => this.state.joblists[x.id]).sort((a, b) => comparePositions(a.position, b.position))
      this.r = 0
      this.k = end
      return this.at(this.run[this.r++])
    }
    this.until = end
    return this.at(this.record(this.k++))
  }

  private record (i: number): JoblistRecord { return this.state.joblists[this.list[i].id] }

  private at (jl: JoblistRecord): boolean {
    this.head = jl
    this.eff = this.effOf(jl)
    return true
  }
}
