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

  constructor (private readonly o: MembershipOptions) {
    this.startedAt = o.now()
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
    if ((this.lastTs.get(hb.id) ?? -1) >= hb.ts) return false // an old one, relayed late
    this.lastTs.set(hb.id, hb.ts)
    const now = this.o.now()
    const known = this.view[hb.id]
    const wasAlive = isAlive(known, now, this.o.timeoutMs)
    const firstOfPeriod = !wasAlive || known?.heardAt === undefined || known.heardAt < (known.aliveSince ?? 0)
    this.view[hb.id] = { lastSeen: now, priority: hb.priority, aliveSince: wasAlive ? known?.aliveSince ?? now : now, heardAt: now, claimsOffice: hb.master === true }
    if (firstOfPeriod || known?.priority !== hb.priority || known?.claimsOffice !== (hb.master === true)) this.o.changed()
    return true
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
    const wasAlive = isAlive(p, now, this.o.timeoutMs)
    p.lastSeen = now
    if (!wasAlive) { p.aliveSince = now; this.o.changed() }
  }

  /** The connection to a peer closed: a faster hint than the timeout. */
  disconnected (peer: string): void {
    const p = this.view[peer]
    if (p !== undefined) p.downAt = this.o.now()
    this.o.changed()
  }

  alive (): Set<string> {
    return aliveSet(this.view, this.o.self, this.o.now(), this.o.timeoutMs)
  }

  /** Known nodes not alive now, and how long each has been silent (ms; Infinity: gone for certain). */
  silence (known: Iterable<string>): Map<string, number> {
    return silence(this.view, known, this.o.self, this.o.now(), this.o.timeoutMs, this.startedAt)
  }

  /**
   * A peer whose connection closed refused a new one: nothing listens at its address, so its
   * agent is gone (not the network). Its attempts need not wait for lostAfter.
   */
  gone (peer: string): void {
    const p = this.view[peer]
    if (p === undefined || isAlive(p, this.o.now(), this.o.timeoutMs)) return
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
      if (id === this.o.self || !isAlive(p, now, this.o.timeoutMs)) continue
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
