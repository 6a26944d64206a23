// The node's part in the cluster: heartbeats, the membership view, event replication
// (gossip fast path + anti-entropy pulls), rpc, and the test gate. Uses src/net for libp2p.
import type { Logger } from 'pino'
import type { MembershipView } from '../election/membership.js'
import type { CisEvent } from '../events/types.js'
import { Net, EVENTS_TOPIC, HEARTBEAT_TOPIC, SYNC_PROTOCOL } from '../net/p2p.js'

export interface Heartbeat {
  id: string
  name: string
  priority: number
  /** The sender's version vector: a peer that is behind pulls from it. */
  vector: Record<string, number>
  /** Sender's clock (ms): makes every heartbeat distinct. */
  ts: number
}



export interface MeshHost {
  id: string
  log: Logger
  privateKey: unknown
  /** The version vector of events applied here. */
  vector: () => Record<string, number>
  heartbeat: () => Heartbeat
  /** A remote event arrived (not yet checked). */
  receive: (e: unknown, from: string) => void
  /** Stored events of `origin` after `seq`. */
  eventsAfter: (origin: string, seq: number) => AsyncIterable<CisEvent>
  membershipChanged: () => void
  rpc: (request: unknown, from: string) => Promise<unknown>
  /** Known addresses of known nodes, to reconnect after a cut. */
  knownPeers: () => Array<{ id: string, addresses: string[] }>
}

export interface MeshOptions {
  psk: Uint8Array
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  heartbeatIntervalMs: number
  syncIntervalMs: number
}

const MAX_SYNC_EVENTS = 50_000
/** A gossip message carries at most this much (events of one write batch); more is split. */
const MAX_GOSSIP_BYTES = 1024 * 1024
/** At most this many events are taken from one gossip message. */
const MAX_GOSSIP_BATCH = 10_000
/** A pull that takes longer is abandoned (and tried again), so one stuck peer cannot stall us. */
const SYNC_TIMEOUT_MS = 5000
/**
 * A peer connected for this long without one heartbeat reaching us (at least 10 s, or 50
 * heartbeat intervals) is hung up on, and dialled again: its gossip stream to us is dead
 * (gossipsub does not recreate a failed stream while the connection lives).
 */
const silentLimitMs = (heartbeatIntervalMs: number): number => Math.max(10_000, 50 * heartbeatIntervalMs)

export class Mesh {
  readonly view: MembershipView = {}
  net!: Net
  private timers: NodeJS.Timeout[] = []
  private readonly pulling = new Set<string>()
  private readonly pullAgain = new Set<string>()
  private stopped = false

  constructor (private readonly host: MeshHost, private readonly o: MeshOptions) {}

  async start (): Promise<void> {
    this.net = new Net({
      privateKey: this.host.privateKey,
      psk: this.o.psk,
      listen: this.o.listen,
      bootstrap: this.o.bootstrap,
      mdns: this.o.mdns,
      log: this.host.log.child({ component: 'net' }),
      handlers: {
        gossip: (topic, data, from) => this.onGossip(topic, data, from),
        connected: peer => { this.pull(peer) },
        disconnected: peer => {
          const p = this.view[peer]
          if (p !== undefined) p.downAt = Date.now()
          this.host.membershipChanged()
        },
        sync: (req, from) => this.serveSync(req, from),
        rpc: async (req, from) => await this.host.rpc(req, from)
      }
    })
    await this.net.start()
    for (const addr of this.o.bootstrap) void this.net.dialAddr(addr)
    this.every(this.o.heartbeatIntervalMs, () => { void this.net.publish(HEARTBEAT_TOPIC, this.host.heartbeat()) })
    this.every(this.o.syncIntervalMs, () => this.antiEntropy())
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    await this.net?.stop()
  }

  addresses (): string[] {
    return this.net.addresses().map(a => a.includes('/p2p/') ? a : `${a}/p2p/${this.host.id}`)
  }

  /**
   * Publish this node's new events: one gossip message per write batch (split so that no
   * message exceeds MAX_GOSSIP_BYTES unless one event alone does), so a busy node sends a few
   * large messages instead of many small ones.
   */
  publishEvents (events: CisEvent[]): void {
    let parts: string[] = []
    let size = 1 // the JSON text of the batch: '[' + parts joined by ',' + ']'
    const send = (): void => {
      if (parts.length > 0) void this.net.publishRaw(EVENTS_TOPIC, parts.length === 1 ? parts[0] : `[${parts.join(',')}]`)
      parts = []
      size = 1
    }
    for (const e of events) {
      const json = JSON.stringify(e)
      if (parts.length > 0 && size + json.length + 1 > MAX_GOSSIP_BYTES) send()
      parts.push(json)
      size += json.length + 1
    }
    send()
  }

  private every (ms: number, fn: () => void): void {
    const t = setInterval(fn, ms)
    t.unref()
    this.timers.push(t)
  }

  private readonly lastHeartbeat = new Map<string, number>()

  private onGossip (topic: string, data: unknown, from: string): void {
    if (topic === EVENTS_TOPIC) {
      // One event, or a batch of them (in the origin's seq order).
      if (Array.isArray(data)) for (const e of data.slice(0, MAX_GOSSIP_BATCH)) this.host.receive(e, from)
      else this.host.receive(data, from)
      return
    }
    if (topic !== HEARTBEAT_TOPIC) return
    // Heartbeats are never relayed (see net/p2p.ts): the sender is the directly connected
    // peer, authenticated by the noise handshake, so the claimed ID must be that peer.
    const hb = data as Heartbeat
    if (typeof hb !== 'object' || hb === null || hb.id !== from || typeof hb.name !== 'string' || typeof hb.priority !== 'number' ||
        typeof hb.ts !== 'number' || typeof hb.vector !== 'object' || hb.vector === null) {
      this.host.log.warn({ from }, 'dropped a malformed heartbeat')
      return
    }
    if ((this.lastHeartbeat.get(hb.id) ?? -1) >= hb.ts) return // an old one, relayed late
    this.lastHeartbeat.set(hb.id, hb.ts)
    const sender = hb.id
    const known = this.view[sender]
    const wasAlive = known !== undefined && (known.downAt === undefined || known.downAt < known.lastSeen)
    this.view[sender] = { lastSeen: Date.now(), priority: hb.priority }
    if (!wasAlive || known?.priority !== hb.priority) this.host.membershipChanged()
    // Behind in two heartbeats in a row: an event did not reach us by gossip; fetch it.
    const previous = this.vectors.get(sender)
    this.vectors.set(sender, hb.vector)
    if (previous !== undefined && this.isBehind(hb.vector) && this.isBehind(previous)) this.pull(from)
  }

  private readonly vectors = new Map<string, Record<string, number>>()

  private isBehind (theirs: Record<string, unknown>): boolean {
    const mine = this.host.vector()
    for (const [origin, seq] of Object.entries(theirs)) {
      if (origin !== this.host.id && typeof seq === 'number' && seq > (mine[origin] ?? 0)) return true
    }
    return false
  }

  /** True if an alive peer's last heartbeat showed events we have not applied yet. */
  behind (alive: Set<string>): boolean {
    for (const [peer, v] of this.vectors) if (alive.has(peer) && this.isBehind(v)) return true
    return false
  }

  /** Hang up on peers that are connected but have not sent a heartbeat for a long time. */
  private hangUpSilent (): void {
    const now = Date.now()
    const limit = silentLimitMs(this.o.heartbeatIntervalMs)
    for (const peer of this.net.connectedPeers()) {
      const since = Math.max(this.net.connectedSince(peer) ?? now, this.view[peer]?.lastSeen ?? 0)
      if (now - since < limit) continue
      this.host.log.warn({ peer, silentMs: now - since }, 'a connected peer sent no heartbeat for too long: hanging up to reconnect with fresh streams')
      void this.net.hangUp(peer)
    }
  }

  /** Ask a peer for every event we lack (anti-entropy). One pull per peer at a time. */
  pull (peer: string): void {
    if (this.stopped) return
    if (this.pulling.has(peer)) { this.pullAgain.add(peer); return }
    this.pulling.add(peer)
    let received = 0
    this.net.request(peer, SYNC_PROTOCOL, { vector: this.host.vector() }, frame => {
      const f = frame as { event?: unknown, done?: boolean }
      if (f.event !== undefined && ++received <= MAX_SYNC_EVENTS) this.host.receive(f.event, peer)
    }, SYNC_TIMEOUT_MS).catch(err => {
      this.host.log.debug({ peer, err: (err as Error).message }, 'sync pull failed')
    }).finally(() => {
      this.pulling.delete(peer)
      if (this.pullAgain.delete(peer)) this.pull(peer)
    })
  }

  private async * serveSync (req: unknown, _from: string): AsyncIterable<unknown> {
    const theirs = (req as { vector?: unknown })?.vector
    if (typeof theirs !== 'object' || theirs === null || Array.isArray(theirs)) throw new Error('sync request without a version vector')
    const mine = this.host.vector()
    let sent = 0
    for (const [origin, seq] of Object.entries(mine)) {
      const have = (theirs as Record<string, unknown>)[origin]
      const after = typeof have === 'number' && Number.isSafeInteger(have) && have > 0 ? have : 0
      if (seq <= after) continue
      for await (const e of this.host.eventsAfter(origin, after)) {
        yield { event: e }
        if (++sent >= MAX_SYNC_EVENTS) return
      }
    }
    yield { done: true, vector: mine }
  }

  /** Periodic: reconnect to known nodes we lost, and pull from one connected peer. */
  private antiEntropy (): void {
    this.hangUpSilent()
    const connected = new Set(this.net.connectedPeers())
    for (const p of this.host.knownPeers()) {
      if (p.id !== this.host.id && !connected.has(p.id)) void this.net.dial(p.id, p.addresses)
    }
    for (const addr of this.o.bootstrap) {
      const id = addr.split('/p2p/')[1]
      if (id !== undefined && !connected.has(id)) void this.net.dialAddr(addr)
    }
    const peers = [...connected]
    if (peers.length > 0) this.pull(peers[Math.floor(Math.random() * peers.length)])
  }
}
