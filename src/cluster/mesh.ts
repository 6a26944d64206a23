// The node's place in the cluster: wires membership and replication to the libp2p transport
// (src/net), and runs their timers (heartbeats, anti-entropy). Loaded only by a node that
// joins a network, so a node without one never loads libp2p.
import { everyOnGrid } from '../util/grid-timer.js'
import type { GridTimer } from '../util/grid-timer.js'
import type { Logger } from 'pino'
import type { CisEvent } from '../events/types.js'
import { Net, EVENTS_TOPIC, HEARTBEAT_TOPIC, SYNC_PROTOCOL } from '../net/p2p.js'
import type { CarriedMessage, NetMetrics } from '../net/p2p.js'
import { CarriedBeats } from './carried-beats.js'
import { allRefused } from '../net/probe.js'
import { LivenessGossip, isMembershipMessage } from './liveness-gossip.js'
import { Membership, TARGET_PEERS } from './membership.js'
import type { Heartbeat } from './membership.js'
import { Replication } from './replication.js'

export interface MeshHost {
  id: string
  log: Logger
  privateKey: unknown
  now: () => number
  /** The version vector of events applied here. */
  vector: () => Record<string, number>
  heartbeat: () => Heartbeat
  /** A remote event arrived (not yet checked). */
  receive: (e: unknown, from: string) => void
  /** The events of one gossip message, delivered together. */
  receiveMany: (events: unknown[], from: string) => void
  /** Stored events of `origin` after `seq`. */
  eventsAfter: (origin: string, seq: number) => AsyncIterable<CisEvent>
  /** A skip (seqs a purge took out of the logs) and a proof of it from a peer (not yet checked). */
  skip: (skip: unknown, from: string) => void
  proof: (e: unknown, from: string) => void
  /** The purge events whose cuts cover a gap in our log of an origin; undefined if none does. */
  gapProof: (origin: string, from: number, to: number) => Promise<CisEvent[] | undefined>
  membershipChanged: () => void
  /** Called on every heartbeat round, on the heartbeat's own timer (one wake-up for both). */
  tick?: () => void
  rpc: (request: unknown, from: string) => Promise<unknown>
  /** Known addresses of known nodes, to reconnect after a cut. */
  knownPeers: () => Array<{ id: string, addresses: string[] }>
  /** How many nodes are known (every heartbeat: sizes the cluster without listing them). */
  knownCount: () => number
  /** Counts gossip and sync traffic (metrics, P-5). */
  metrics?: NetMetrics
}

export interface MeshOptions {
  psk: Uint8Array
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  syncIntervalMs: number
  /** Events a peer does not need at once wait up to this long to go with later ones (replication.ts; default 0: none). */
  batchWindowMs?: number
  /** Clusters of more nodes than this use the watch ring (default LARGE_CLUSTER). */
  watchRingAbove?: number
}

/** How soon after a connection closes the peer's addresses are probed. */
const PROBE_DELAY_MS = 100

export class Mesh {
  readonly membership: Membership
  readonly replication: Replication
  /** Heartbeats, or liveness gossip in a large cluster (liveness-gossip.ts): its messages go over a tell stream a neighbour (Net.tell); the rpc protocol takes them too (prune notices, which must arrive before the hang-up, and peers of an older version). */
  readonly gossip: LivenessGossip
  net!: Net
  private timers: GridTimer[] = []
  /** Heartbeats carried on event frames, and the beats the timer then need not send (small clusters). */
  private readonly carried: CarriedBeats
  /** The office this node's last heartbeat round claimed (a change goes to every peer). */
  private officeBeaten = false
  /** The clock of carried beats: monotonic (a wall clock stepped back would hold beats back). */
  private readonly monotonic: () => number = () => performance.now()
  /** The pass set for when a silent peer passes the timeout (watchExpiry). */
  private expiry: NodeJS.Timeout | undefined
  private stopped = false
  /** Peers being probed now (probeSilent). */
  private readonly probing = new Set<string>()

  constructor (private readonly host: MeshHost, private readonly o: MeshOptions) {
    this.carried = new CarriedBeats(o.heartbeatIntervalMs, o.heartbeatTimeoutMs)
    this.membership = new Membership({
      self: host.id,
      log: host.log,
      now: host.now,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      timeoutMs: o.heartbeatTimeoutMs,
      ...(o.watchRingAbove !== undefined ? { largeAbove: o.watchRingAbove } : {}),
      changed: host.membershipChanged
    })
    this.replication = new Replication({
      self: host.id,
      log: host.log,
      eventsTopic: EVENTS_TOPIC,
      bootstrap: o.bootstrap,
      vector: host.vector,
      receive: host.receive,
      receiveMany: host.receiveMany,
      eventsAfter: host.eventsAfter,
      skip: host.skip,
      proof: host.proof,
      gapProof: host.gapProof,
      knownPeers: host.knownPeers,
      targetPeers: () => this.gossip.large ? TARGET_PEERS : undefined,
      pullFrom: () => this.membership.watched(),
      hears: id => this.membership.isAlive(id),
      // (A small cluster only: a large one relays events through neighbours, whose every hop
      // would add the window. At most a quarter of the heartbeat interval: a heartbeat's vector
      // shows events still waiting for the peer, and two in a row behind make it pull.)
      batchMs: () => this.gossip.large ? 0 : Math.min(o.batchWindowMs ?? 0, o.heartbeatIntervalMs / 4)
    }, {
      publishRaw: async (topic, json, to, more) => await this.net.publishRaw(topic, json, to, topic === EVENTS_TOPIC && more !== true ? this.beatToCarry(to) : undefined),
      request: async (peer, req, onFrame, timeoutMs) => await this.net.request(peer, SYNC_PROTOCOL, req, onFrame, timeoutMs),
      connectedPeers: () => this.net.connectedPeers(),
      dial: async (peer, addrs) => { await this.dialKnown(peer, addrs) },
      dialAddr: async addr => await this.net.dialAddr(addr)
    })
    this.gossip = new LivenessGossip(this.membership, this.replication, {
      peers: () => this.net.connectedPeers(),
      send: (peer, msg) => { this.net.tell(peer, msg) },
      broadcast: hb => { this.broadcastBeat(hb) },
      hangUp: (peer, notice) => { void this.net.call(peer, notice, 2000).catch(() => {}).finally(() => { void this.net.hangUp(peer, true) }) },
      dial: async peer => { await this.dialKnown(peer) },
      after: (ms, fn) => { setTimeout(fn, ms).unref() },
      pick: n => Math.floor(Math.random() * n)
    })
  }

  async start (): Promise<void> {
    this.net = new Net({
      privateKey: this.host.privateKey,
      psk: this.o.psk,
      listen: this.o.listen,
      bootstrap: this.o.bootstrap,
      mdns: this.o.mdns,
      log: this.host.log.child({ component: 'net' }),
      metrics: this.host.metrics,
      handlers: {
        gossip: (topic, data, from) => this.onGossip(topic, data, from),
        connected: peer => {
          this.membership.connected(peer)
          this.gossip.connected(peer, this.host.heartbeat())
          this.replication.pull(peer)
        },
        disconnected: peer => {
          this.carried.forget(peer)
          if (!this.gossip.disconnected(peer)) return // hung up on to bound the mesh: it is alive
          // Network or death? Probe its addresses soon: if every one refuses, the agent is gone.
          // Once more after the heartbeat timeout: a heartbeat still handled after the close
          // makes the peer look alive at the first probe, and gone() only concludes about a
          // peer that is not alive.
          for (const delay of [PROBE_DELAY_MS, this.o.heartbeatTimeoutMs + PROBE_DELAY_MS]) {
            const t = setTimeout(() => { void this.probe(peer) }, delay)
            t.unref()
          }
        },
        sync: (req, _from) => this.replication.serve(req),
        tell: (msg, from) => { if (isMembershipMessage(msg)) this.gossip.message(msg, from, this.host.heartbeat) },
        rpc: async (req, from) => {
          if (!isMembershipMessage(req)) return await this.host.rpc(req, from)
          this.gossip.message(req, from, this.host.heartbeat)
          return {}
        }
      }
    })
    // Known to be large from the store: it must not dial every node it knows (membership.ts).
    this.gossip.size(this.host.knownCount())
    await this.net.start()
    for (const addr of this.o.bootstrap) void this.net.dialAddr(addr)
    this.every(this.o.heartbeatIntervalMs, () => {
      this.net.sweepConnections()
      this.gossip.beat(this.host.heartbeat(), this.host.knownCount())
      this.host.tick?.()
      this.watchExpiry()
    })
    this.every(this.o.syncIntervalMs, () => {
      this.gossip.prune()
      this.gossip.refresh(this.host.heartbeat())
      this.net.sweepGossip()
      this.membership.hangUpSilent(this.net)
      this.replication.antiEntropy()
      this.probeSilent()
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.replication.stop()
    this.gossip.stop()
    for (const t of this.timers) t.stop()
    if (this.expiry !== undefined) clearTimeout(this.expiry)
    await this.net?.stop()
  }

  addresses (): string[] {
    return this.net.addresses().map(a => a.includes('/p2p/') ? a : `${a}/p2p/${this.host.id}`)
  }

  /** Send a request to a peer's rpc handler (job output lives on the node that ran it). */
  async call (peer: string, request: unknown): Promise<unknown> {
    return await this.net.call(peer, request)
  }

  /** Test gate: drop and refuse these peers ([] heals); mute: keep the connections open. */
  async block (peers: string[], mute = false): Promise<void> {
    await this.net.block(peers, mute)
  }

  /** Dial a known peer (at the addresses given, or those known for it); one we cannot reach: is anything listening there at all? */
  private async dialKnown (peer: string, addresses = this.host.knownPeers().find(p => p.id === peer)?.addresses ?? []): Promise<void> {
    if (await this.net.dial(peer, addresses) === 'failed') await this.probe(peer, addresses)
  }

  /**
   * A peer's connection closed: is its process gone (its addresses refuse connections) or
   * only the network? A plain TCP probe, not a reconnect: reconnecting is anti-entropy's job,
   * on its own cadence.
   */
  private async probe (peer: string, addresses?: string[]): Promise<void> {
    if (this.stopped || this.net.isBlocked(peer) || this.isConnected(peer)) return
    // Its addresses as its node event says, and as libp2p last learned them: a restarted peer's
    // new port may be known to libp2p before its node event is here, and its old one refuses.
    const known = addresses ?? this.host.knownPeers().find(p => p.id === peer)?.addresses ?? []
    const addrs = [...new Set([...known, ...await this.net.peerAddresses(peer)])]
    // (Connected meanwhile: it is there, whatever its old addresses say.)
    if (await allRefused(addrs) && !this.isConnected(peer)) this.membership.gone(peer)
  }

  private isConnected (peer: string): boolean {
    return this.net.connectedPeers().includes(peer)
  }

  /**
   * Probe every known peer that is silent, not connected and not known to be gone. A peer that
   * looked alive at the probe after its connection closed (a heartbeat handled after the
   * close) is not concluded gone then, and its attempts would wait for lostAfter; a refused
   * probe here ends that. (A connected but silent peer is hung up on first: hangUpSilent; the
   * close probes it.) One probe per peer at a time; a stopped process's port still accepts
   * (not gone), a cut network times out.
   */
  private probeSilent (): void {
    const known = this.host.knownPeers()
    const connected = new Set(this.net.connectedPeers())
    for (const [peer, ms] of this.membership.silence(known.map(p => p.id))) {
      if (ms === Infinity || connected.has(peer) || this.probing.has(peer) || this.net.isBlocked(peer)) continue
      const addrs = known.find(p => p.id === peer)?.addresses ?? []
      this.probing.add(peer)
      void this.probe(peer, addrs).finally(() => this.probing.delete(peer))
    }
  }

  /** A periodic timer on the wall clock's grid (grid-timer.ts): this node's timers and its peers' beats share wake-ups. */
  private every (ms: number, fn: () => void): void {
    this.timers.push(everyOnGrid(ms, fn))
  }

  private onGossip (topic: string, data: unknown, from: string): void {
    if (topic === EVENTS_TOPIC) { this.replication.gossiped(data, from); return }
    if (topic === HEARTBEAT_TOPIC) {
      if (typeof data === 'object' && data !== null) this.carried.heard(from, data)
      this.gossip.heartbeat(data, from)
    }
  }

  /**
   * A small cluster's heartbeat round: the beat to every peer but those that had one carried on
   * an event frame within half an interval (carried-beats.ts).
   */
  private broadcastBeat (hb: Heartbeat): void {
    const now = this.monotonic()
    // A change of office goes to every peer at once, not half an interval later.
    const office = hb.master === true
    const all = office !== this.officeBeaten
    this.officeBeaten = office
    const to = this.net.connectedPeers().filter(p => all || this.carried.beatTo(p, now))
    for (const p of to) this.carried.sent(p, now)
    if (to.length > 0) void this.net.publishRaw(HEARTBEAT_TOPIC, JSON.stringify(hb), to)
  }

  /** The peers (of `to`, or all connected) that a frame of events sent now should carry this node's heartbeat to, with it; undefined: none. */
  private beatToCarry (to: readonly string[] | undefined): CarriedMessage | undefined {
    if (this.gossip.large || !this.carried.on) return undefined
    const now = this.monotonic()
    const due = (to ?? this.net.connectedPeers()).filter(p => this.carried.carryTo(p, now))
    if (due.length === 0) return undefined
    return { topic: HEARTBEAT_TOPIC, json: JSON.stringify(this.host.heartbeat()), to: new Set(due), queued: p => { this.carried.sent(p, now) } }
  }

  /**
   * A small cluster: the pass again at the instant the first peer alive now would pass the
   * timeout unheard, if that comes before the next round. Every node's rounds fall on the same
   * grid (grid-timer.ts), so a peer's last beat arrived just after a round's checks, and a
   * silent peer would be found only a round after its timeout.
   */
  private watchExpiry (): void {
    if (this.expiry !== undefined) { clearTimeout(this.expiry); this.expiry = undefined }
    const at = this.membership.nextExpiry()
    if (at === undefined || this.stopped) return
    const wait = at - this.host.now() + 1
    if (wait >= this.o.heartbeatIntervalMs) return // (the next round comes first)
    this.expiry = setTimeout(() => { this.expiry = undefined; this.host.tick?.() }, Math.max(0, wait))
    this.expiry.unref()
  }
}
