// Membership: who is in the cluster and alive, in this node's view. Heartbeats from directly
// connected peers and connection-close hints feed a MembershipView; the liveness rule itself
// is the pure one in election/membership.ts. Peers that stay connected but silent are hung up on.
import type { Logger } from 'pino'
import { aliveSet, isAlive, isDown, silence } from '../election/membership.js'
import type { MembershipView, PeerSeen } from '../election/membership.js'

export interface Heartbeat {
  id: string
  name: string
  priority: number
  /** The sender's version vector: a peer that is behind pulls from it. */
  vector: Record<string, number>
  /** Sender's clock (ms): makes every heartbeat distinct. */
  ts: number
  /** The sender holds the master office now (its master role is established). */
  master?: boolean
  /** The sender reads a heartbeat carried on a frame of events (cluster/carried-beats.ts; absent before Dec 5, 2026). */
  carried?: true
  /**
   * The sender is stopping (a graceful stop: its jobs are being ended): hold it down now, so
   * that no work is placed on it in the seconds it still takes to stop (absent before Dec 6, 2026).
   */
  leaving?: true
}

/**
 * A large cluster's membership (issue 12), SWIM-like, so what a node sends does not grow with
 * the cluster: a node is alive here until a down notice about it (no beat of it needs to come
 * by), and every node is watched by its WATCHERS predecessors on a ring of the nodes alive in
 * their views (ids in code-unit order): each watcher asks it to beat to it (a watch request),
 * and a watched node beats to the nodes that asked, every heartbeat interval. A watched node
 * silent past the timeout is probed (asked again, which it answers at once), and silent for
 * PROBE_ROUNDS intervals more it is held down and a down notice floods the cluster; a closed
 * connection floods one at once. A down node leaves the ring, so its successors get watchers
 * that are alive: across a partition the ring closes over the far side within a few rounds.
 * A beat newer than a notice revives the node; a node that hears a notice about itself beats
 * to every neighbour at once, to refute it; a node coming back (a restart, a healed partition)
 * gives its fresh beat to every new connection, so it is alive again everywhere in one flood.
 * A node that hears nothing at all for the timeout is isolated (a silent cut, its network
 * gone): it holds every other node not alive, and notices nothing about them, until it hears
 * again (as a small cluster's node whose heartbeats all stopped).
 */
export interface Beat { id: string, name: string, priority: number, ts: number, master?: boolean, leaving?: true }
/** A node seen down (its connection to the notice's writer closed, or its watchers heard nothing) at `ts` (the writer's clock). */
export interface Down { id: string, ts: number }

/** Clusters of more nodes than this use the liveness gossip; up to it, a heartbeat goes to every peer. */
export const LARGE_CLUSTER = 16
/**
 * Watchers of each node in a large cluster (its predecessors on the ring). Two since Dec 6 (3
 * before): an idle node's messages are its beats to its watchers, so a third fewer (100
 * simulated nodes: 5.8 messages a node a second against 8.5, the same detection and failover,
 * no false down in any scenario, with 2 % loss too; with the rounds at the beat's period,
 * mesh-core.ts, 20 idle agents on one machine used a fifth to a quarter less CPU). What it gives up: a node is held down by
 * mistake only if the link to one watcher fails and its other watcher cannot vouch for it
 * either (two faults, not three); it refutes the notice at once (a beat to every neighbour).
 */
export const WATCHERS = 2
/** Heartbeat intervals a watcher waits for the answer to a probe before it holds the node down. */
export const PROBE_ROUNDS = 2
/**
 * A watched node beats to its watchers every BEAT_EVERY heartbeat intervals (issue 12: half the
 * messages of an idle ring), as long as its watchers still hear two beats within the timeout;
 * a beat late or lost costs a probe, which is answered at once, not a down notice.
 */
export const BEAT_EVERY = 2
/** The most watch requests a node honours at once (a few over WATCHERS: views differ for a while after a change). */
const MAX_WATCHERS = 4 * WATCHERS
/** Connections each node dials up to in a large cluster (with those dialled to it, about twice as many; one with more than three times as many hangs up on extras down to twice). */
export const TARGET_PEERS = 8
/** The most beats one batch may carry. */
export const MAX_BEATS = 20_000

/** A heartbeat's (or beat's) beat: what liveness gossip carries of it. */
export function beatOf (hb: { id: string, name: string, priority: number, ts: number, master?: boolean, leaving?: true }): Beat {
  return { id: hb.id, name: hb.name, priority: hb.priority, ts: hb.ts, ...(hb.master === true ? { master: true } : {}), ...(hb.leaving === true ? { leaving: true } : {}) }
}

const isBeat = (b: unknown): b is Beat => {
  const x = b as Beat
  return typeof x === 'object' && x !== null && typeof x.id === 'string' && x.id.length <= 128 && typeof x.name === 'string' && x.name.length <= 256 &&
    typeof x.priority === 'number' && typeof x.ts === 'number' && Number.isFinite(x.ts) && (x.master === undefined || typeof x.master === 'boolean') &&
    (x.leaving === undefined || x.leaving === true)
}

/** What membership needs of the transport: the peers it is connected to, and a way to hang up. */
export interface MembershipLinks {
  connectedPeers: () => string[]
  connectedSince: (peer: string) => number | undefined
  hangUp: (peer: string) => Promise<void>
}

export interface MembershipOptions {
  self: string
  log: Logger
  now: () => number
  heartbeatIntervalMs: number
  timeoutMs: number
  /** Clusters of more nodes than this use the watch ring (default LARGE_CLUSTER). */
  largeAbove?: number
  /** A watched node beats to its watchers every this many heartbeat intervals (default BEAT_EVERY; fewer if two beats would not fit in the timeout). */
  beatEvery?: number
  /** Someone joined, left, or changed priority: the master may have changed. */
  changed: () => void
}

/**
 * A peer connected for this long without one heartbeat reaching us (at least 10 s, or 50
 * heartbeat intervals) is hung up on, and dialled again: its gossip stream to us is dead
 * (gossipsub does not recreate a failed stream while the connection lives).
 */
const silentLimitMs = (heartbeatIntervalMs: number): number => Math.max(10_000, 50 * heartbeatIntervalMs)

/** What a watcher does this round about the nodes it watches (Membership.watch). */
export interface WatchRound {
  /** Nodes it begins to watch: dial them if need be, and ask each to beat to it. */
  start: string[]
  /** Nodes it watches no longer: tell each, so it stops beating here. */
  stop: string[]
  /** Watched nodes silent past the timeout: ask again (they answer at once if alive). */
  probe: string[]
  /**
   * For each probed node, the other nodes that watch it (its ring predecessors here): ask them
   * whether they hear it (an indirect probe, SWIM's ping-req). A node this node alone cannot
   * hear (one bad link) is vouched for, and not held down everywhere.
   */
  vouch: Array<{ id: string, helpers: string[] }>
  /** Watched nodes that did not answer: held down here; flood the notices. */
  down: Down[]
}

export class Membership {
  readonly view: MembershipView = {}
  private readonly lastTs = new Map<string, number>()
  private readonly startedAt: number
  /** Over LARGE_CLUSTER nodes: the watch ring, alive until a notice. */
  private large = false
  /** Large clusters: the freshest beat of each node (what a new neighbour is given). */
  private readonly beats = new Map<string, Beat>()
  /** The latest down notice about each node (its writer's clock). */
  private readonly downTs = new Map<string, number>()
  /** Large clusters: the nodes this node watches (since when; when it probed one that went silent). */
  private readonly watching = new Map<string, { since: number, probedAt?: number, probeSent?: number }>()
  /** The instant of the last watch round (not ringOnly): what was due by then it did (nextWatchDue). */
  watchedAt = -Infinity
  /** Large clusters: the nodes that asked this node to beat to them. */
  private readonly watchers = new Set<string>()
  /** Someone's status changed since the ring was last worked out. */
  private ringStale = true
  /** When this node last heard any membership message (a large cluster's node hearing none is isolated). */
  private lastHeard: number
  /** A small cluster's peers asked about at the last heartbeat (fading()). */
  private askedAbout = new Set<string>()
  /** Switched to the watch ring and the neighbours were not yet given their beats (grewLarge()). */
  private grew = false

  constructor (private readonly o: MembershipOptions) {
    this.startedAt = o.now()
    this.lastHeard = this.startedAt
    this.settleFrom = this.startedAt
  }

  /** When the network started (it can hear peers from then): the start of `settling`'s window. */
  private settleFrom: number

  /** The transport started: a start slow before it (libp2p's) does not use up settling's window. */
  networkStarted (): void { this.settleFrom = this.o.now() }

  /**
   * The cluster's size: above LARGE_CLUSTER the watch ring is in force. True if large. On the
   * switch to it, nodes past the timeout here are held down (alive until a notice would revive
   * them); on the switch back, nodes alive here get a fresh timeout (heartbeats come to every
   * peer again).
   */
  sized (n: number): boolean {
    const large = n > (this.o.largeAbove ?? LARGE_CLUSTER)
    if (large !== this.large) {
      const now = this.o.now()
      for (const p of Object.values(this.view)) {
        if (large && !isAlive(p, now, this.o.timeoutMs) && !isDown(p)) p.downAt = Math.max(now, p.lastSeen)
        if (!large && isAlive(p, now, Infinity)) p.lastSeen = now
      }
      this.large = large
      this.o.log.info({ nodes: n }, large ? `membership: the watch ring (more than ${this.o.largeAbove ?? LARGE_CLUSTER} nodes)` : 'membership: heartbeats to every peer')
      this.lastHeard = now
      // (Watch requests that came before this node knew the cluster was large still hold.)
      if (!large) { this.watching.clear(); this.watchers.clear() }
      this.grew = large
      this.ringStale = true
    }
    return large
  }

  /**
   * True once after the switch to the watch ring: the neighbours must then get what a new
   * connection gets (their heartbeats may not all have been heard, and from now on beats go
   * only to watchers).
   */
  grewLarge (): boolean {
    const grew = this.grew
    this.grew = false
    return grew
  }

  /**
   * Every how many heartbeat intervals this node beats to its watchers: BEAT_EVERY (or the
   * option), but never so seldom that fewer than two beats fall within the timeout.
   */
  get beatEvery (): number {
    const fit = Math.floor(this.o.timeoutMs / (2 * this.o.heartbeatIntervalMs))
    return Math.max(1, Math.min(this.o.beatEvery ?? BEAT_EVERY, fit))
  }

  /** How long a node is alive after it was last heard: a large cluster's are alive until a notice. */
  private get liveFor (): number { return this.large ? Infinity : this.o.timeoutMs }

  /** The longest a node may be silent before it is held not alive here (ms): the timeout, and in a large cluster the probe after it. */
  get timeout (): number { return this.large ? this.o.timeoutMs + PROBE_ROUNDS * this.o.heartbeatIntervalMs : this.o.timeoutMs }

  /** A large cluster's node that heard nothing for the timeout: it holds every other node not alive. */
  private isolated (now: number): boolean {
    return this.large && now - this.lastHeard > this.timeout
  }

  /**
   * Something of the membership came from a peer: this node is not cut off. True if it was (a
   * large cluster's node back from isolation: the notices flooded meanwhile passed it by).
   */
  heardFrom (): boolean {
    const now = this.o.now()
    const back = this.isolated(now)
    this.lastHeard = now
    return back
  }

  /**
   * The latest notice about each node held down here: what a neighbour back from isolation
   * missed (in a large cluster a node is alive until a notice, and a notice floods only once).
   */
  downsHere (): Down[] {
    const now = this.o.now()
    const out: Down[] = []
    for (const [id, ts] of this.downTs) {
      if (out.length >= MAX_BEATS) break
      if (!isAlive(this.view[id], now, this.liveFor)) out.push({ id, ts })
    }
    return out
  }

  /** The beats to give a new neighbour: this node's own, then those of every node alive here. */
  beatsFor (peer: string, own: Beat): Beat[] {
    const out: Beat[] = [own]
    const now = this.o.now()
    for (const [id, b] of this.beats) if (id !== peer && id !== this.o.self && isAlive(this.view[id], now, this.liveFor)) out.push(b)
    return out
  }

  /**
   * A batch of beats from a neighbour. Returns the beats that changed a node's status here (it
   * came, came back, claims or left the office, changed priority): forward them at once.
   */
  mergeBeats (data: unknown, from: string): Beat[] {
    if (!Array.isArray(data) || data.length > MAX_BEATS) { this.o.log.warn({ from }, 'dropped a malformed batch of beats'); return [] }
    const changed: Beat[] = []
    for (const b of data) {
      if (!isBeat(b)) { this.o.log.warn({ from }, 'dropped a malformed beat'); continue }
      if (b.id === this.o.self) continue
      if (this.record(b) === 'status') changed.push(beatOf(b)) // (only what a beat is goes on)
    }
    return changed
  }

  /** Something malformed from a peer: dropped, and said. */
  malformed (what: string, from: string): void { this.o.log.warn({ from }, `dropped ${what}: malformed`) }

  /** A down notice from a neighbour: true if it is news here (forward it); 'self' if it names this node (refute it). */
  downNotice (data: unknown, from: string): boolean | 'self' {
    const d = data as Down
    if (typeof d !== 'object' || d === null || typeof d.id !== 'string' || typeof d.ts !== 'number' || !Number.isFinite(d.ts)) {
      this.o.log.warn({ from }, 'dropped a malformed down notice')
      return false
    }
    if (d.id === this.o.self) return 'self'
    if ((this.downTs.get(d.id) ?? -Infinity) >= d.ts || (this.lastTs.get(d.id) ?? -Infinity) >= d.ts) return false
    this.downTs.set(d.id, d.ts)
    const p = this.view[d.id]
    if (p !== undefined && isAlive(p, this.o.now(), this.liveFor)) this.markDown(d.id, p)
    else this.watchers.delete(d.id)
    return true
  }

  /** The notice to spread when the connection to a neighbour closed. */
  downOf (peer: string): Down {
    const ts = this.o.now()
    this.downTs.set(peer, Math.max(ts, this.downTs.get(peer) ?? -Infinity))
    return { id: peer, ts }
  }

  /**
   * Hold a node down here from now. In a large cluster a node not watched here was last heard
   * long ago (it was alive until a notice): its silence counts from a timeout ago, about when
   * its watchers last heard it, not from then (its attempts must wait for lostAfter).
   */
  private markDown (id: string, p: PeerSeen): void {
    this.watchers.delete(id)
    const now = this.o.now()
    if (this.large) p.lastSeen = Math.max(p.lastSeen, now - this.timeout)
    p.downAt = now
    this.statusChanged()
  }

  private statusChanged (): void {
    this.ringStale = true
    this.o.changed()
  }

  /**
   * Record a node's beat (or heartbeat): 'status' if its status here changed (it came, came
   * back, its priority or office claim changed), 'new' if only fresher, false if not newer.
   * A beat not newer than a down notice about the node does not revive it.
   */
  private record (hb: { id: string, name: string, priority: number, ts: number, master?: boolean, leaving?: true }): 'status' | 'new' | false {
    if ((this.lastTs.get(hb.id) ?? -1) >= hb.ts) return false // an old one, relayed late
    this.lastTs.set(hb.id, hb.ts)
    this.beats.set(hb.id, beatOf(hb))
    if ((this.downTs.get(hb.id) ?? -Infinity) >= hb.ts) return 'new'
    const now = this.o.now()
    const known = this.view[hb.id]
    if (hb.leaving === true) {
      // A graceful stop: down here now (its beats go on until it has stopped; they keep it down).
      if (known === undefined || !isAlive(known, now, this.liveFor)) return 'new'
      this.o.log.info({ peer: hb.id, name: hb.name }, 'a peer is stopping: held down')
      this.markDown(hb.id, known)
      return 'status'
    }
    const wasAlive = isAlive(known, now, this.liveFor)
    const firstOfPeriod = !wasAlive || known?.heardAt === undefined || known.heardAt < (known.aliveSince ?? 0)
    this.view[hb.id] = { lastSeen: now, priority: hb.priority, aliveSince: wasAlive ? known?.aliveSince ?? now : now, heardAt: now, claimsOffice: hb.master === true }
    if (firstOfPeriod || known?.priority !== hb.priority || known?.claimsOffice !== (hb.master === true)) {
      this.statusChanged()
      return 'status'
    }
    return 'new'
  }

  /** Check a heartbeat's shape and sender; true if it is a new, valid one (then recorded). */
  heard (data: unknown, from: string): data is Heartbeat {
    // Heartbeats are never relayed (see net/p2p.ts): the sender is the directly connected
    // peer, authenticated by the noise handshake, so the claimed ID must be that peer.
    const hb = data as Heartbeat
    if (typeof hb !== 'object' || hb === null || hb.id !== from || typeof hb.name !== 'string' || typeof hb.priority !== 'number' ||
        typeof hb.ts !== 'number' || typeof hb.vector !== 'object' || hb.vector === null || (hb.master !== undefined && typeof hb.master !== 'boolean') ||
        (hb.leaving !== undefined && hb.leaving !== true)) {
      this.o.log.warn({ from }, 'dropped a malformed heartbeat')
      return false
    }
    return this.record(hb) !== false
  }

  /**
   * A connection to a known peer opened (authenticated by the handshake): it is alive, before
   * its first heartbeat arrives. After a heal this lets a side's master step down before the
   * other side's events (pulled on connect) are applied, rather than decide on them as if
   * their nodes were still gone.
   */
  connected (peer: string): void {
    const p = this.view[peer]
    if (p === undefined) return
    const now = this.o.now()
    const wasAlive = isAlive(p, now, this.liveFor)
    p.lastSeen = now
    if (!wasAlive) { p.aliveSince = now; this.statusChanged() }
  }

  /** The connection to a peer closed: a faster hint than the timeout. */
  disconnected (peer: string): void {
    this.watchers.delete(peer)
    const p = this.view[peer]
    if (p !== undefined) this.markDown(peer, p)
    else this.statusChanged()
  }

  // ---- The watch ring (large clusters) ----

  /** A peer asks this node to beat to it (it watches this node). */
  watchedBy (peer: string): void {
    if (this.watchers.has(peer) || this.watchers.size < MAX_WATCHERS) this.watchers.add(peer)
  }

  /** A peer watches this node no longer. */
  unwatchedBy (peer: string): void { this.watchers.delete(peer) }

  /** The peers this node beats to: those that asked (a node held down or disconnected is dropped). */
  watchersOf (): string[] {
    return [...this.watchers]
  }

  /** The nodes this node watches now. */
  watched (): string[] { return [...this.watching.keys()] }

  /** The peers of the ring (watched and watching): the mesh keeps them. */
  ringPeers (): Set<string> { return new Set([...this.watching.keys(), ...this.watchers]) }

  /** Whether this node watches `peer`. */
  watches (peer: string): boolean { return this.watching.has(peer) }

  /** The ring: the nodes alive here, IDs in code-unit order. */
  private ring (): string[] {
    return [...this.alive()].sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  }

  /** This node's WATCHERS successors on the ring of nodes alive here (ids in code-unit order). */
  private successors (): string[] {
    const ids = this.ring()
    const at = ids.indexOf(this.o.self)
    const out: string[] = []
    for (let k = 1; k <= WATCHERS && k < ids.length; k++) out.push(ids[(at + k) % ids.length])
    return out
  }

  /**
   * Every heartbeat interval (large clusters): which nodes to watch (the ring after any change),
   * and which watched nodes to probe or hold down. An isolated node (it hears nothing) holds
   * no one down by its own watch: the silence is its own. `ringOnly`: only the ring's change (the
   * round run soon after the view changed, between the timed ones: no probe goes early).
   */
  watch (ringOnly = false): WatchRound {
    const round: WatchRound = { start: [], stop: [], probe: [], vouch: [], down: [] }
    if (!this.large) return round
    const now = this.o.now()
    if (this.ringStale && !this.isolated(now)) {
      this.ringStale = false
      const next = new Set(this.successors())
      for (const id of this.watching.keys()) if (!next.has(id)) { this.watching.delete(id); round.stop.push(id) }
      for (const id of next) if (!this.watching.has(id)) { this.watching.set(id, { since: now }); round.start.push(id) }
    }
    if (ringOnly) return round
    this.watchedAt = now
    if (this.isolated(now)) return round
    const wait = PROBE_ROUNDS * this.o.heartbeatIntervalMs
    for (const [id, w] of this.watching) {
      const heard = this.view[id]?.heardAt ?? -Infinity
      if (w.probedAt !== undefined && heard > w.probedAt) { delete w.probedAt; delete w.probeSent }
      if (w.probedAt === undefined) {
        if (now - Math.max(heard, w.since) > this.o.timeoutMs) { w.probedAt = w.probeSent = now; round.probe.push(id); round.vouch.push({ id, helpers: this.helpersFor(id) }) }
      } else if (now - w.probedAt < wait || this.lastHeard <= w.probedAt) {
        // Again, half an interval or more after the last probe: one lost probe or answer is no
        // death (and a round between the grid's, for another watched node, sends none). Nothing
        // at all heard since the probe: this node's own links may be what is cut (it will count
        // itself isolated at its timeout, nextWatchDue): no one is held down on that silence.
        if (now - (w.probeSent ?? w.probedAt) >= this.o.heartbeatIntervalMs / 2) {
          w.probeSent = now
          round.probe.push(id)
          round.vouch.push({ id, helpers: this.helpersFor(id) })
        }
      } else {
        this.watching.delete(id)
        const p = this.view[id]
        if (p !== undefined && isAlive(p, now, this.liveFor)) {
          this.o.log.info({ peer: id, silentMs: now - Math.max(heard, w.since) }, 'a watched node did not answer: holding it down')
          this.markDown(id, p)
          round.down.push(this.downOf(id))
        }
        this.ringStale = true
      }
    }
    return round
  }

  /** The other nodes that watch `id`: its WATCHERS predecessors on the ring of nodes alive here, but this node. */
  private helpersFor (id: string): string[] {
    const ids = this.ring()
    const at = ids.indexOf(id)
    const out: string[] = []
    for (let k = 1; at >= 0 && k <= WATCHERS && k < ids.length; k++) {
      const p = ids[(at - k + ids.length) % ids.length]
      if (p !== this.o.self) out.push(p)
    }
    return out
  }

  /**
   * A neighbour asks whether this node hears `id` (an indirect probe): its latest beat if it was
   * heard here within the timeout (a beat no newer than the asker's changes nothing there: a
   * dead node is not kept alive by vouching).
   */
  vouchFor (id: unknown): Beat | undefined {
    if (typeof id !== 'string' || id === this.o.self) return undefined
    const now = this.o.now()
    const p = this.view[id]
    const b = this.beats.get(id)
    if (b === undefined || p?.heardAt === undefined || now - p.heardAt > this.o.timeoutMs || !isAlive(p, now, this.liveFor)) return undefined
    return b
  }

  /**
   * A small cluster's peers silent for more than half the timeout, still alive here: ask other
   * peers whether they hear them (an indirect probe), so that one bad link (the connection
   * open, nothing passing) is no death. A peer held down by a closed connection is not asked about.
   */
  fading (): string[] {
    if (this.large) return []
    const now = this.o.now()
    const out: string[] = []
    for (const [id, p] of Object.entries(this.view)) if (isAlive(p, now, this.o.timeoutMs) && now - p.lastSeen > this.o.timeoutMs / 2) out.push(id)
    // Said once a silence (a peer asked about again and again stays one line).
    for (const id of out) if (!this.askedAbout.has(id)) this.o.log.info({ peer: id, silentMs: now - this.view[id].lastSeen }, 'asked about a silent peer: do others hear it?')
    this.askedAbout = new Set(out)
    return out
  }

  /** How long ago this node last heard `id`'s own heartbeat or beat (ms), if within the timeout and it is not held down: an answer to an indirect probe. */
  heardAgo (id: unknown): number | undefined {
    if (typeof id !== 'string' || id === this.o.self) return undefined
    const p = this.view[id]
    if (p?.heardAt === undefined || isDown(p)) return undefined
    const age = this.o.now() - p.heardAt
    return age <= this.o.timeoutMs ? age : undefined
  }

  /**
   * A peer heard `id` `ageMs` ago (a small cluster's indirect probe): alive as of then, if that
   * is later than this node last heard it. Never over a closed connection or a certain end (a
   * closed connection is a fact of this node's own link). Status changes as for a heartbeat.
   */
  vouched (id: unknown, ageMs: unknown, from: string): void {
    if (typeof id !== 'string' || typeof ageMs !== 'number' || !Number.isFinite(ageMs) || ageMs < 0) { this.malformed('an answer to an indirect probe', from); return }
    const p = this.view[id]
    if (p === undefined || id === this.o.self || isDown(p)) return
    const now = this.o.now()
    const at = now - ageMs
    if (at <= p.lastSeen) return
    const wasAlive = isAlive(p, now, this.liveFor)
    p.lastSeen = at
    if (!wasAlive && isAlive(p, now, this.liveFor)) { p.aliveSince = now; this.statusChanged() }
  }

  /** A node this node began to watch could not be dialled: its probe is as good as unanswered. */
  unreachable (peer: string): void {
    const w = this.watching.get(peer)
    if (w !== undefined && w.probedAt === undefined) w.probedAt = this.o.now()
  }

  /** Whether a node is held down here (by a notice, its silence, its close or its leaving): it was alive here once. */
  heldDown (id: string): boolean {
    const p = this.view[id]
    return p !== undefined && isDown(p)
  }

  /** Whether one node is alive in this view (self always is). */
  isAlive (id: string): boolean {
    if (id === this.o.self) return true
    const now = this.o.now()
    return !this.isolated(now) && isAlive(this.view[id], now, this.liveFor)
  }

  /**
   * A large cluster: the first instant the watch round has something to do for a node this node
   * watches (one unheard past the timeout, to probe; one probed whose answer's wait ends, to hold
   * down), or undefined (none watched). The rounds fall on the clock's grid, as the watched nodes'
   * beats do, so a beat arrives just after a round: without a round at that instant, a silent
   * node would be found only a round after its timeout, and held down a round after its wait.
   */
  nextWatchDue (): number | undefined {
    if (!this.large || this.isolated(this.o.now())) return undefined
    let first: number | undefined
    for (const [id, w] of this.watching) {
      const heard = this.view[id]?.heardAt ?? -Infinity
      let at = Math.max(heard, w.since) + this.o.timeoutMs + 1
      if (w.probedAt !== undefined && !(heard > w.probedAt)) {
        at = w.probedAt + PROBE_ROUNDS * this.o.heartbeatIntervalMs
        // (Nothing heard since the probe: not before this node would count itself isolated.)
        if (this.lastHeard <= w.probedAt) at = Math.max(at, this.lastHeard + this.timeout + 1)
      }
      if (first === undefined || at < first) first = at
    }
    return first
  }

  /**
   * A small cluster: when the first peer alive now would pass the timeout unheard (this node's
   * clock), or undefined (none; a large cluster, where down notices decide).
   */
  nextExpiry (): number | undefined {
    if (this.large) return undefined
    const now = this.o.now()
    let first: number | undefined
    for (const [id, p] of Object.entries(this.view)) {
      if (id === this.o.self || !isAlive(p, now, this.o.timeoutMs)) continue
      const at = p.lastSeen + this.o.timeoutMs
      if (first === undefined || at < first) first = at
    }
    return first
  }

  /**
   * Just started, and not to stand for master yet: within two heartbeat timeouts of its network's
   * start (networkStarted), until it hears a peer that holds the office, a node that knows other
   * nodes (`known`: those of its state, asked only then) and has not heard one of them yet, or
   * that knows none but has peers to join (`joining`) and has heard no one. A node that
   * restarts, or joins a running cluster, hears the master there within a heartbeat or two; had
   * it taken the office in the meantime (alone in its view), it would have decided on what it
   * knew then: run a schedule's instant the cluster had removed, place work that was already
   * placed or declared lost, record instants as missed while the cluster had a master. A master
   * heard ends the wait at once (a node of higher priority then takes over from it as from any
   * master, through the handover), so a known node gone for good holds a restart up only while
   * the cluster has no master. A known node heard since the start (in the view) holds nothing,
   * alive or not: its going is news this node heard, not a gap in what it knows. (Counting a
   * node heard and then gone held the next in line back after a SIGKILL of the master within
   * the window: a cluster just formed failed over in 200-370 ms instead of 40-80.)
   */
  settling (known: () => Iterable<string>, joining: boolean): boolean {
    const now = this.o.now()
    if (now - this.settleFrom >= 2 * this.o.timeoutMs) return false
    let heard = false
    for (const id in this.view) {
      if (id === this.o.self || !isAlive(this.view[id], now, this.liveFor)) continue
      if (this.view[id].claimsOffice === true) return false
      heard = true
    }
    let any = false
    for (const id of known()) {
      if (id === this.o.self) continue
      any = true
      if (this.view[id] === undefined) return true
    }
    return !any && joining && !heard
  }

  alive (): Set<string> {
    const now = this.o.now()
    if (this.isolated(now)) return new Set([this.o.self])
    return aliveSet(this.view, this.o.self, now, this.liveFor)
  }

  /** Known nodes not alive now, and how long each has been silent (ms; Infinity: gone for certain). */
  silence (known: readonly string[]): Map<string, number> {
    const now = this.o.now()
    const out = silence(this.view, known, this.o.self, now, this.liveFor, this.startedAt)
    if (!this.isolated(now)) return out
    // Isolated: the nodes alive before it are silent since this node last heard anything.
    for (const id of known) {
      const p = this.view[id]
      if (id !== this.o.self && p !== undefined && isAlive(p, now, this.liveFor)) out.set(id, Math.max(0, now - Math.max(this.lastHeard, this.startedAt)))
    }
    return out
  }

  /**
   * A peer whose connection closed refused a new one: nothing listens at its address, so its
   * agent is gone (not the network). Its attempts need not wait for lostAfter.
   */
  gone (peer: string): void {
    const p = this.view[peer]
    if (p === undefined || isAlive(p, this.o.now(), this.liveFor)) return
    if (p.goneAt !== undefined && p.goneAt >= p.lastSeen) return
    p.goneAt = this.o.now()
    this.o.log.info({ peer }, "a disconnected peer's address refuses connections: its agent is gone")
    this.statusChanged()
  }

  /**
   * What a new master waits for before it decides (the handover): alive peers not heard
   * since they became alive (their state is unknown: a node just restarted or healed does not
   * yet know what they decided), and alive peers whose last heartbeat still claims the office
   * (an outgoing master that has not yet heard of this one).
   */
  unsettled (): { unheard: string[], claiming: string[] } {
    const unheard: string[] = []
    const claiming: string[] = []
    for (const id of this.alive()) {
      if (id === this.o.self) continue
      const p = this.view[id]
      if (p.heardAt === undefined || p.heardAt < (p.aliveSince ?? 0)) unheard.push(id)
      else if (p.claimsOffice === true) claiming.push(id)
    }
    return { unheard, claiming }
  }

  /** When a node was last known alive here: now if alive (a large cluster's nodes are alive until a notice). */
  lastSeen (id: string): number | undefined {
    if (id === this.o.self || (this.large && this.isAlive(id))) return this.o.now()
    return this.view[id]?.lastSeen
  }

  priorityOf (id: string): number | undefined {
    return this.view[id]?.priority
  }

  /**
   * Hang up on peers that are connected but have not sent a heartbeat for a long time (in a
   * large cluster: the nodes this node watches, which beat to it; other neighbours need not).
   */
  hangUpSilent (links: MembershipLinks): void {
    const now = this.o.now()
    const limit = silentLimitMs(this.o.heartbeatIntervalMs)
    for (const peer of links.connectedPeers()) {
      if (this.large && !this.watching.has(peer)) continue
      const since = Math.max(links.connectedSince(peer) ?? now, this.view[peer]?.lastSeen ?? 0, this.watching.get(peer)?.since ?? 0)
      if (now - since < limit) continue
      this.o.log.warn({ peer, silentMs: now - since }, 'a connected peer sent no heartbeat for too long: hanging up to reconnect with fresh streams')
      void links.hangUp(peer)
    }
  }
}
