// Membership: who is in the cluster and alive, in this node's view. Heartbeats from directly
// connected peers and connection-close hints feed a MembershipView; the liveness rule itself
// is the pure one in election/membership.ts. Peers that stay connected but silent are hung up on.
import type { Logger } from 'pino'
import { aliveSet, isAlive, silence } from '../election/membership.js'
import type { MembershipView } from '../election/membership.js'

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
}

/**
 * A large cluster's liveness gossip (issue 12): instead of a heartbeat to every peer, each node
 * beats to a few random neighbours, and every beat it learned since its last batch to a
 * neighbour goes along (its ts grows with every beat: the freshest wins). A closed connection
 * becomes a down notice that floods at once; a beat newer than the notice revives the node (a
 * node that hears a notice about itself beats at once, to refute it).
 */
export interface Beat { id: string, name: string, priority: number, ts: number, master?: boolean }
/** A node seen down (its connection to the notice's writer closed) at `ts` (the writer's clock). */
export interface Down { id: string, ts: number }

/** Clusters of more nodes than this use the liveness gossip; up to it, a heartbeat goes to every peer. */
export const LARGE_CLUSTER = 16
/** Neighbours each node sends its batch of beats to, every heartbeat interval (large clusters). */
export const BEAT_FANOUT = 3
/** Connections each node dials up to in a large cluster (with those dialled to it, about twice as many; one with more than three times as many hangs up on extras down to twice). */
export const TARGET_PEERS = 8
/** The most beats one batch may carry. */
const MAX_BEATS = 20_000

/** Gossip rounds for a beat to reach `n` nodes with BEAT_FANOUT, plus one. */
export const gossipRounds = (n: number): number => Math.ceil(Math.log(Math.max(2, n)) / Math.log(BEAT_FANOUT)) + 1

/** A heartbeat's (or beat's) beat: what liveness gossip carries of it. */
export function beatOf (hb: { id: string, name: string, priority: number, ts: number, master?: boolean }): Beat {
  return { id: hb.id, name: hb.name, priority: hb.priority, ts: hb.ts, ...(hb.master === true ? { master: true } : {}) }
}

const isBeat = (b: unknown): b is Beat => {
  const x = b as Beat
  return typeof x === 'object' && x !== null && typeof x.id === 'string' && x.id.length <= 128 && typeof x.name === 'string' && x.name.length <= 256 &&
    typeof x.priority === 'number' && typeof x.ts === 'number' && Number.isFinite(x.ts) && (x.master === undefined || typeof x.master === 'boolean')
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
  /** Someone joined, left, or changed priority: the master may have changed. */
  changed: () => void
}

/**
 * A peer connected for this long without one heartbeat reaching us (at least 10 s, or 50
 * heartbeat intervals) is hung up on, and dialled again: its gossip stream to us is dead
 * (gossipsub does not recreate a failed stream while the connection lives).
 */
const silentLimitMs = (heartbeatIntervalMs: number): number => Math.max(10_000, 50 * heartbeatIntervalMs)

export class Membership {
  readonly view: MembershipView = {}
  private readonly lastTs = new Map<string, number>()
  private readonly startedAt: number
  /** The liveness timeout in force: longer in a large cluster, by the gossip rounds a beat takes. */
  private timeoutMs: number
  /** Large clusters: the freshest beat of each node, when it changed (a version), what each neighbour was sent up to. */
  private readonly beats = new Map<string, Beat>()
  private readonly changedAt = new Map<string, number>()
  private version = 0
  private readonly sentTo = new Map<string, number>()
  /** The latest down notice about each node (its writer's clock). */
  private readonly downTs = new Map<string, number>()

  constructor (private readonly o: MembershipOptions) {
    this.startedAt = o.now()
    this.timeoutMs = o.timeoutMs
  }

  /**
   * The cluster's size: above LARGE_CLUSTER the liveness gossip is in force, and the timeout
   * grows by the rounds a beat takes to reach every node. True if large.
   */
  sized (n: number): boolean {
    const large = n > LARGE_CLUSTER
    this.timeoutMs = large ? this.o.timeoutMs + gossipRounds(n) * this.o.heartbeatIntervalMs : this.o.timeoutMs
    return large
  }

  /** The timeout in force (ms). */
  get timeout (): number { return this.timeoutMs }

  /** The beats to send a neighbour: this node's own, then every beat learned since the last batch to it. */
  beatsFor (peer: string, own: Beat): Beat[] {
    const since = this.sentTo.get(peer) ?? 0
    const out: Beat[] = [own]
    if (since < this.version) {
      for (const [id, v] of this.changedAt) if (v > since && id !== peer) out.push(this.beats.get(id) as Beat)
    }
    this.sentTo.set(peer, this.version)
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
      if (this.record(b) === 'status') changed.push(b)
    }
    return changed
  }

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
    if (p !== undefined && isAlive(p, this.o.now(), this.timeoutMs)) {
      p.downAt = this.o.now()
      this.o.changed()
    }
    return true
  }

  /** The notice to spread when the connection to a neighbour closed. */
  downOf (peer: string): Down {
    const ts = this.o.now()
    this.downTs.set(peer, Math.max(ts, this.downTs.get(peer) ?? -Infinity))
    return { id: peer, ts }
  }

  /**
   * Record a node's beat (or heartbeat): 'status' if its status here changed (it came, came
   * back, its priority or office claim changed), 'new' if only fresher, false if not newer.
   * A beat not newer than a down notice about the node does not revive it.
   */
  private record (hb: { id: string, name: string, priority: number, ts: number, master?: boolean }): 'status' | 'new' | false {
    if ((this.lastTs.get(hb.id) ?? -1) >= hb.ts) return false // an old one, relayed late
    this.lastTs.set(hb.id, hb.ts)
    this.beats.set(hb.id, beatOf(hb))
    this.changedAt.set(hb.id, ++this.version)
    if ((this.downTs.get(hb.id) ?? -Infinity) >= hb.ts) return 'new'
    const now = this.o.now()
    const known = this.view[hb.id]
    const wasAlive = isAlive(known, now, this.timeoutMs)
    const firstOfPeriod = !wasAlive || known?.heardAt === undefined || known.heardAt < (known.aliveSince ?? 0)
    this.view[hb.id] = { lastSeen: now, priority: hb.priority, aliveSince: wasAlive ? known?.aliveSince ?? now : now, heardAt: now, claimsOffice: hb.master === true }
    if (firstOfPeriod || known?.priority !== hb.priority || known?.claimsOffice !== (hb.master === true)) {
      this.o.changed()
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
        typeof hb.ts !== 'number' || typeof hb.vector !== 'object' || hb.vector === null || (hb.master !== undefined && typeof hb.master !== 'boolean')) {
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
    const wasAlive = isAlive(p, now, this.timeoutMs)
    p.lastSeen = now
    if (!wasAlive) { p.aliveSince = now; this.o.changed() }
  }

  /** The connection to a peer closed: a faster hint than the timeout. */
  disconnected (peer: string): void {
    const p = this.view[peer]
    if (p !== undefined) p.downAt = this.o.now()
    this.o.changed()
  }

  /** Whether one node is alive in this view (self always is). */
  isAlive (id: string): boolean {
    return id === this.o.self || isAlive(this.view[id], this.o.now(), this.timeoutMs)
  }

  alive (): Set<string> {
    return aliveSet(this.view, this.o.self, this.o.now(), this.timeoutMs)
  }

  /** Known nodes not alive now, and how long each has been silent (ms; Infinity: gone for certain). */
  silence (known: Iterable<string>): Map<string, number> {
    return silence(this.view, known, this.o.self, this.o.now(), this.timeoutMs, this.startedAt)
  }

  /**
   * A peer whose connection closed refused a new one: nothing listens at its address, so its
   * agent is gone (not the network). Its attempts need not wait for lostAfter.
   */
  gone (peer: string): void {
    const p = this.view[peer]
    if (p === undefined || isAlive(p, this.o.now(), this.timeoutMs)) return
    if (p.goneAt !== undefined && p.goneAt >= p.lastSeen) return
    p.goneAt = this.o.now()
    this.o.log.info({ peer }, "a disconnected peer's address refuses connections: its agent is gone")
    this.o.changed()
  }

  /**
   * What a new master waits for before it decides (the handover): alive peers not heard
   * since they became alive (their state is unknown: a node just restarted or healed does not
   * yet know what they decided), and alive peers whose last heartbeat still claims the office
   * (an outgoing master that has not yet heard of this one).
   */
  unsettled (): { unheard: string[], claiming: string[] } {
    const now = this.o.now()
    const unheard: string[] = []
    const claiming: string[] = []
    for (const [id, p] of Object.entries(this.view)) {
      if (id === this.o.self || !isAlive(p, now, this.timeoutMs)) continue
      if (p.heardAt === undefined || p.heardAt < (p.aliveSince ?? 0)) unheard.push(id)
      else if (p.claimsOffice === true) claiming.push(id)
    }
    return { unheard, claiming }
  }

  lastSeen (id: string): number | undefined {
    return id === this.o.self ? this.o.now() : this.view[id]?.lastSeen
  }

  priorityOf (id: string): number | undefined {
    return this.view[id]?.priority
  }

  /** Hang up on peers that are connected but have not sent a heartbeat for a long time. */
  hangUpSilent (links: MembershipLinks): void {
    const now = this.o.now()
    const limit = silentLimitMs(this.o.heartbeatIntervalMs)
    for (const peer of links.connectedPeers()) {
      const since = Math.max(links.connectedSince(peer) ?? now, this.view[peer]?.lastSeen ?? 0)
      if (now - since < limit) continue
      this.o.log.warn({ peer, silentMs: now - since }, 'a connected peer sent no heartbeat for too long: hanging up to reconnect with fresh streams')
      void links.hangUp(peer)
    }
  }
}
