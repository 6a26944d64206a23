// The node's place in the cluster over libp2p (src/net): the mesh's wiring and rounds
// (mesh-core.ts, which the simulator runs too) on the libp2p transport, plus what only a real
// network has: probes of a closed peer's addresses, the transport's upkeep, requests to a
// peer's rpc handler. Loaded only by a node that joins a network, so a node without one never
// loads libp2p.
import { everyOnGrid } from '../util/grid-timer.js'
import { Net, SYNC_PROTOCOL } from '../net/p2p.js'
import type { NetMetrics } from '../net/p2p.js'
import { allRefused } from '../net/probe.js'
import { membershipKind } from './liveness-gossip.js'
import type { LivenessGossip, MembershipMessage } from './liveness-gossip.js'
import type { Membership } from './membership.js'
import type { Replication } from './replication.js'
import { MeshCore } from './mesh-core.js'
import type { MeshCoreHost } from './mesh-core.js'

/** What the mesh counts: the transport's traffic, and membership messages by kind (membershipKind). */
export interface MeshMetrics extends NetMetrics {
  membership: (direction: 'sent' | 'received', kind: string) => void
}

export interface MeshHost extends MeshCoreHost {
  privateKey: unknown
  rpc: (request: unknown, from: string) => Promise<unknown>
  /** Counts gossip, sync and membership traffic (metrics, P-5). */
  metrics?: MeshMetrics
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
  private readonly core: MeshCore
  private stopped = false
  /** Peers being probed now (probeSilent). */
  private readonly probing = new Set<string>()

  constructor (private readonly host: MeshHost, private readonly o: MeshOptions) {
    this.core = new MeshCore(host, {
      connectedPeers: () => this.net.connectedPeers(),
      connectedSince: peer => this.net.connectedSince(peer),
      publishRaw: async (topic, json, to, carry) => await this.net.publishRaw(topic, json, to, carry),
      tell: (peer, msg) => { this.net.tell(peer, msg); this.counted('sent', msg) },
      noticeAndHangUp: (peer, notice) => {
        this.counted('sent', notice)
        void this.net.call(peer, notice, 2000).catch(() => {}).finally(() => { void this.net.hangUp(peer, true) })
      },
      hangUp: async peer => { await this.net.hangUp(peer) },
      request: async (peer, req, onFrame, timeoutMs) => await this.net.request(peer, SYNC_PROTOCOL, req, onFrame, timeoutMs),
      dial: async (peer, addrs) => { await this.dialKnown(peer, addrs) },
      dialAddr: async addr => await this.net.dialAddr(addr)
    }, {
      every: (ms, fn, phase) => everyOnGrid(ms, fn, Date.now, phase),
      after: (ms, fn) => { const t = setTimeout(fn, ms); t.unref(); return { cancel: () => { clearTimeout(t) } } },
      monotonic: () => performance.now(),
      pick: n => Math.floor(Math.random() * n)
    }, {
      ...o,
      heartbeatRound: () => { this.net.sweepConnections() },
      syncRound: () => { this.net.sweepGossip(); this.probeSilent() }
    })
    this.membership = this.core.membership
    this.replication = this.core.replication
    this.gossip = this.core.gossip
  }

  /** A membership message to or from a neighbour, by tell stream or rpc: counted by its kind (P-5). */
  private counted (direction: 'sent' | 'received', msg: MembershipMessage): void {
    this.host.metrics?.membership(direction, membershipKind(msg))
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
        gossip: (topic, data, from) => { this.core.gossiped(topic, data, from) },
        connected: peer => { this.core.connected(peer) },
        disconnected: peer => {
          if (!this.core.disconnected(peer)) return // hung up on to bound the mesh: it is alive
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
        tell: (msg, from) => { if (this.core.told(msg, from)) this.counted('received', msg as MembershipMessage) },
        rpc: async (req, from) => {
          if (!this.core.told(req, from)) return await this.host.rpc(req, from)
          // (A membership message by rpc: a prune notice before a hang-up, or a peer of an older version.)
          this.counted('received', req as MembershipMessage)
          return {}
        }
      }
    })
    this.core.sizeFromLog()
    await this.net.start()
    for (const addr of this.o.bootstrap) void this.net.dialAddr(addr)
    this.core.start()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.core.stop()
    await this.net?.stop()
  }

  addresses (): string[] {
    return this.net.addresses().map(a => a.includes('/p2p/') ? a : `${a}/p2p/${this.host.id}`)
  }

  /** This node is stopping: every neighbour hears it now (its heartbeat says `leaving`), and holds it down (MeshCore.leaving). */
  leaving (): void {
    this.core.leaving()
  }

  /** Whether this node holds the office: a change is told to its peers now (MeshCore.office). */
  office (held: boolean): void {
    this.core.office(held)
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
}
