// The libp2p node: TCP + noise + yamux behind a private-network key, identify, ping,
// gossip of events and heartbeats over one long-lived stream a peer (/cis/gossip/1; gossipsub to
// and from peers of an older version), mDNS and a bootstrap list for discovery, and the
// /cis/sync/1, /cis/rpc/1 and /cis/tell/1 protocols. All libp2p code of cisystem lives in src/net/.
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { bootstrap } from '@libp2p/bootstrap'
import { preSharedKey } from '@libp2p/pnet'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import type { Connection, PeerId, Message, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { pipe } from 'it-pipe'
import type { Logger } from 'pino'
import { MAX_FRAME_BYTES, encodeFrame, lpEncode, lpEncodeBatches, readFrames, writeFrames } from './frames.js'
import { Outbox } from './outbox.js'
import { installYamuxWindowUpdates } from './yamux-window.js'

import { EVENTS_TOPIC, HEARTBEAT_TOPIC, SYNC_PROTOCOL } from './topics.js'
import type { CarriedMessage } from './topics.js'
export { EVENTS_TOPIC, HEARTBEAT_TOPIC, SYNC_PROTOCOL } from './topics.js'
export type { CarriedMessage } from './topics.js'
export const RPC_PROTOCOL = '/cis/rpc/1'
/** One-way messages to a neighbour over one long-lived stream (a large cluster's liveness gossip). */
export const TELL_PROTOCOL = '/cis/tell/1'
/** Messages queued for one peer's tell stream at most (more are dropped: they are best effort). */
const TELL_QUEUE = 256
/**
 * Gossip (events and heartbeats) to each connected peer over one long-lived stream (issue 12):
 * a message is its JSON text in a length-prefixed frame, `{"e":…}` (events) or `{"h":…}` (a
 * heartbeat), encoded once for every peer, where gossipsub wrapped it in its RPC protobuf for
 * each peer, hashed it for a message ID and kept it in its caches. The receiver handles it as
 * gossip of that topic. A peer of an older version (the protocol unsupported) gets them by
 * gossipsub, as before; its gossipsub messages are still handled.
 */
export const GOSSIP_PROTOCOL = '/cis/gossip/1'
/** The topics that go over GOSSIP_PROTOCOL, and their key in a frame. */
const STREAM_TOPICS = new Map([[EVENTS_TOPIC, 'e'], [HEARTBEAT_TOPIC, 'h']])
/**
 * Messages queued for one peer's gossip stream at most. Past it they are dropped for that
 * peer, as gossip may lose a message: a later event shows it the gap and it pulls what is
 * missing; a heartbeat comes again in one interval.
 */
const GOSSIP_QUEUE = 1024

/** yamux's keep-alive ping on each connection (its default: 30 s); see the muxer's options below. */
const YAMUX_KEEPALIVE_MS = 120_000

/** Gossipsub's heartbeat and score decay (its defaults: 1 s each); see the service's options below. */
const GOSSIPSUB_HEARTBEAT_MS = 10_000

export interface NetHandlers {
  /** A gossip message on a topic, from a peer (already signature-checked by gossipsub). */
  gossip: (topic: string, data: unknown, from: string) => void
  connected: (peer: string) => void
  disconnected: (peer: string) => void
  /** Serve a sync request: the frames to send back for the peer's frame. */
  sync: (request: unknown, from: string) => AsyncIterable<unknown>
  /** Answer an rpc request. */
  rpc: (request: unknown, from: string) => Promise<unknown>
  /** A one-way message from a peer's tell stream. */
  tell?: (message: unknown, from: string) => void
}

/** What the transport reports to the metrics (P-5): payload bytes of gossip messages and sync frames. */
export interface NetMetrics {
  gossip: (direction: 'sent' | 'received', topic: string, bytes: number) => void
  sync: (direction: 'sent' | 'received', bytes: number) => void
}

export interface NetOptions {
  privateKey: unknown
  psk: Uint8Array
  listen: string[]
  bootstrap: string[]
  mdns: boolean
  log: Logger
  handlers: NetHandlers
  metrics?: NetMetrics
  /** false: gossip only by gossipsub, neither sent nor served over GOSSIP_PROTOCOL (what a node of an older version does; for tests). */
  gossipStreams?: boolean
}

const STREAM_TIMEOUT_MS = 30_000

/** How a dial ended ('skipped': blocked, busy dialling it, or no usable address). */
export type DialOutcome = 'connected' | 'failed' | 'skipped'

/**
 * One kind of long-lived one-way stream to each peer (the tell stream, the gossip stream): the
 * queue of each peer whose stream is open (or opening), and the peers that do not speak the
 * protocol (an older version), until they disconnect.
 */
interface Channel<T> {
  protocol: string
  /** Messages queued for one peer at most (more are dropped: they are best effort). */
  queue: number
  /** The frames a queue's stream writes, in batches (what was queued at once). */
  frames: (box: Outbox<T>) => AsyncIterable<Uint8Array[]>
  boxes: Map<string, Outbox<T>>
  unsupported: Set<string>
}

function channel<T> (protocol: string, queue: number, frames: (box: Outbox<T>) => AsyncIterable<Uint8Array[]>): Channel<T> {
  return { protocol, queue, frames, boxes: new Map(), unsupported: new Set() }
}

export class Net {
  node!: Libp2p
  private readonly blocked = new Set<string>()
  private readonly dialing = new Set<string>()
  /** Tell streams (a peer that does not speak it is told over rpc). */
  private readonly tells = channel<unknown>(TELL_PROTOCOL, TELL_QUEUE, async function * (box) { for await (const b of box.batches()) yield b.map(encodeFrame) })
  /** Gossip streams, of frames encoded once for all peers (a peer that does not speak it gets gossip by gossipsub). */
  private readonly gossips = channel<Uint8Array>(GOSSIP_PROTOCOL, GOSSIP_QUEUE, box => box.batches())
  private readonly channels = [this.tells, this.gossips] as Array<Channel<unknown>>
  /** The connection (its ID) each open tell or gossip stream's box writes on. */
  private readonly carriedBy = new WeakMap<Outbox<any>, string>()
  private readonly encoder = new TextEncoder()
  private readonly decoder = new TextDecoder()
  /**
   * The peers the handlers were told are connected (and not since disconnected). libp2p tells
   * of a peer's going only once it lists no connection to it; it was seen to keep a closed one
   * listed after a SIGKILL under load, so its going is noticed here too (lost()).
   */
  private readonly live = new Set<string>()
  private stopping = false

  constructor (private readonly o: NetOptions) {}

  get peerId (): string { return this.node.peerId.toString() }

  async start (): Promise<void> {
    installYamuxWindowUpdates()
    const peerDiscovery = []
    // (Loaded only when used: a node without mDNS never pays its memory.)
    if (this.o.mdns) peerDiscovery.push((await import('@libp2p/mdns')).mdns({ interval: 2000 }))
    if (this.o.bootstrap.length > 0) peerDiscovery.push(bootstrap({ list: this.o.bootstrap, timeout: 100 }))
    const isBlocked = (peer: PeerId): boolean => this.blocked.has(peer.toString())
    this.node = await createLibp2p({
      privateKey: this.o.privateKey as never,
      addresses: { listen: this.o.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // yamux pings every connection every 30 s by default (nothing waits for the answer: it
      // only keeps the connection from looking idle to a NAT or firewall on the way, whose idle
      // timeouts run from about 350 s up): every 2 minutes here. At 30 s, 20 idle agents'
      // pings (~24 connections each) and their answers were about a fifth of an idle agent's
      // wake-ups (issue 12: idle CPU).
      streamMuxers: [yamux({ keepAliveInterval: YAMUX_KEEPALIVE_MS })],
      connectionProtector: preSharedKey({ psk: this.o.psk }),
      // libp2p refuses a host's 6th connection within a second (and more than 10 pending): a
      // cluster whose nodes share a host or a NAT (or many nodes restarting at once) then never
      // forms (issue 12: 20 agents on one machine fell apart at about 15). The swarm key already
      // keeps strangers out; the limits stay, higher.
      connectionManager: { inboundConnectionThreshold: 100, maxIncomingPendingConnections: 100 },
      // libp2p's connection monitor pings every connection every 10 s (a new stream each, and a
      // peer-store write): our heartbeats already tell a silent peer, and its connection is hung
      // up (membership.ts). Off, it no longer costs an idle node a third of its main thread's work.
      connectionMonitor: { enabled: false },
      connectionGater: {
        denyDialPeer: isBlocked,
        denyInboundEncryptedConnection: isBlocked,
        denyOutboundEncryptedConnection: isBlocked
      },
      peerDiscovery: peerDiscovery as never,
      services: {
        identify: identify(),
        pubsub: gossipsub({
          emitSelf: false,
          globalSignaturePolicy: 'StrictNoSign',
          allowPublishToZeroTopicPeers: true,
          floodPublish: true,
          // Its heartbeat keeps a mesh for relaying, which is not used here (every message is
          // ignored in its validator, and every node publishes to all its peers itself), and
          // its peer scores decay on their own timer: at gossipsub's 1 s each, two wake-ups a
          // second of an idle agent that served nothing (issue 12: idle CPU).
          heartbeatInterval: GOSSIPSUB_HEARTBEAT_MS,
          scoreParams: { decayInterval: GOSSIPSUB_HEARTBEAT_MS },
          idontwantMinDataSize: Number.MAX_SAFE_INTEGER,
          maxInboundDataLength: 8 * 1024 * 1024,
          allowedTopics: [EVENTS_TOPIC, HEARTBEAT_TOPIC]
        })
      },
      // Started once our protocols are handled: a peer that connects at once must not find
      // them unsupported (it would take this node for one of an older version).
      start: false
    }) as unknown as Libp2p
    const pubsub = this.pubsub()
    // Gossipsub carries gossip only to and from peers of an older version (GOSSIP_PROTOCOL
    // carries it between current ones). Messages carry no libp2p signature: events are signed
    // by their origin and heartbeats by their sender (cheaper than signing every message
    // twice). A message is handled in the topic validator and then ignored, so gossipsub does
    // not relay it: every node publishes to all its peers itself (flood publish), and
    // anti-entropy pulls cover any peer it is not connected to.
    const handle = (topic: string) => (peer: PeerId, msg: Message): 'ignore' => {
      const from = peer.toString()
      if (this.blocked.has(from)) return 'ignore'
      this.o.metrics?.gossip('received', topic, msg.data.length)
      let data: unknown
      try { data = JSON.parse(this.decoder.decode(msg.data)) } catch {
        this.o.log.warn({ from, topic }, 'dropped a malformed gossip message')
        return 'ignore'
      }
      try { this.o.handlers.gossip(topic, data, from) } catch (err) {
        this.o.log.warn({ from, err: (err as Error).message }, 'gossip handler failed')
      }
      return 'ignore'
    }
    pubsub.topicValidators.set(EVENTS_TOPIC, handle(EVENTS_TOPIC))
    pubsub.topicValidators.set(HEARTBEAT_TOPIC, handle(HEARTBEAT_TOPIC))
    this.node.addEventListener('peer:connect', evt => { this.found(evt.detail.toString()) })
    // A new connection to a peer whose going was noticed here while libp2p still listed a
    // closed connection to it: libp2p does not tell of it (the peer is not new to it). (libp2p's
    // own listeners run before the node's: the connection is listed by now, and a peer new to
    // libp2p was reported by peer:connect already.)
    this.node.addEventListener('connection:open', evt => {
      if (evt.detail.status === 'open') this.found(evt.detail.remotePeer.toString())
    })
    this.node.addEventListener('peer:disconnect', evt => { this.lost(evt.detail.toString()) })
    // A peer may have two connections (both sides dialled at once). If the one that carries
    // gossipsub's outbound stream closes while the other stays, gossipsub keeps writing into
    // the dead stream (it drops a peer's streams only when the peer disconnects entirely):
    // our messages to that peer would vanish. Replace such a stream at once.
    this.node.addEventListener('connection:close', evt => {
      const peer = evt.detail.remotePeer.toString()
      // A stream that went with its connection: its box goes now, not at its next write (which
      // would lose that message), also when the peer stays connected through another.
      for (const c of this.channels) this.dropBox(c, peer, evt.detail.id)
      if (this.byGossipsub(peer)) setTimeout(() => { this.repairGossip(peer) }, 50).unref()
      // Its last open connection: gone now, also when libp2p (which has unlisted this one
      // already) still lists others, closed or closing, and so does not say the peer went.
      if (!this.node.getConnections(evt.detail.remotePeer).some(c => c.status === 'open')) this.lost(peer)
    })
    this.node.addEventListener('peer:discovery', evt => { void this.dial(evt.detail.id.toString(), evt.detail.multiaddrs.map(m => m.toString())) })
    await this.node.handle(SYNC_PROTOCOL, ({ stream, connection }) => { void this.serve(stream, connection.remotePeer.toString(), 'sync') }, { maxInboundStreams: 16 })
    await this.node.handle(RPC_PROTOCOL, ({ stream, connection }) => { void this.serve(stream, connection.remotePeer.toString(), 'rpc') }, { maxInboundStreams: 64 })
    await this.node.handle(TELL_PROTOCOL, ({ stream, connection }) => {
      void this.listen(stream, connection.remotePeer.toString(), undefined, (msg, from) => this.o.handlers.tell?.(msg, from))
    }, { maxInboundStreams: 4 })
    if (this.o.gossipStreams !== false) {
      await this.node.handle(GOSSIP_PROTOCOL, ({ stream, connection }) => {
        let size = 0 // (the frame's, for the metrics)
        const counted = (bytes: number): void => { size = bytes }
        void this.listen(stream, connection.remotePeer.toString(), counted, (msg, from) => {
          const f = msg as { e?: unknown, h?: unknown } | null
          const topic = f?.e !== undefined ? EVENTS_TOPIC : f?.h !== undefined ? HEARTBEAT_TOPIC : undefined
          if (topic === undefined) return // (a topic of a newer version, or nothing)
          this.o.metrics?.gossip('received', topic, size)
          // A heartbeat carried on a frame of events (cluster/carried-beats.ts): after the
          // events, which its vector counts (read first, it could show this node behind by
          // them), and also if handling them failed (it was the peer's beat all the same).
          try {
            this.o.handlers.gossip(topic, topic === EVENTS_TOPIC ? f?.e : f?.h, from)
          } finally {
            if (topic === EVENTS_TOPIC && f?.h !== undefined) this.o.handlers.gossip(HEARTBEAT_TOPIC, f.h, from)
          }
        })
      }, { maxInboundStreams: 4 })
    }
    try {
      await this.node.start()
    } catch (err) {
      try { await this.node.stop() } catch {}
      const inUse = /EADDRINUSE/.exec((err as Error).message) !== null
      throw new Error(inUse
        ? `cannot listen on ${this.o.listen.join(', ')}: the address is in use (is another agent running?); choose another with --listen MULTIADDR (e.g. /ip4/0.0.0.0/tcp/7711)`
        : `cannot start the network on ${this.o.listen.join(', ')}: ${(err as Error).message.split('\n')[0]}`, { cause: err })
    }
    pubsub.subscribe(EVENTS_TOPIC)
    pubsub.subscribe(HEARTBEAT_TOPIC)
  }

  async stop (): Promise<void> {
    this.stopping = true // (the connections closing now are this node's going, not the peers')
    for (const c of this.channels) for (const box of c.boxes.values()) box.end()
    await this.node?.stop()
  }

  private pubsub (): any {
    return (this.node.services as Record<string, unknown>).pubsub
  }

  addresses (): string[] {
    return this.node.getMultiaddrs().map(m => m.toString())
  }

  /**
   * Peers with at least one open connection. (libp2p may keep a peer whose every connection is
   * closed among its peers without a peer:disconnect, seen after a SIGKILL under load: such a
   * peer is not connected, or it would never be probed nor dialled again.)
   */
  connectedPeers (): string[] {
    const out = new Set<string>()
    for (const c of this.node.getConnections()) if (c.status === 'open') out.add(c.remotePeer.toString())
    return [...out]
  }

  async publish (topic: string, value: unknown): Promise<void> {
    await this.publishRaw(topic, JSON.stringify(value))
  }

  /**
   * Publish a message that is already JSON text (events and heartbeats: over each peer's gossip
   * stream, sendGossip); `to`: only to these peers (of the gossip streams' topics).
   */
  async publishRaw (topic: string, json: string, to?: readonly string[], carry?: CarriedMessage): Promise<void> {
    try {
      const key = this.o.gossipStreams !== false ? STREAM_TOPICS.get(topic) : undefined
      if (key !== undefined) { await this.sendGossip(topic, key, json, to, carry); return }
      const data = this.encoder.encode(json)
      await this.pubsub().publish(topic, data)
      this.o.metrics?.gossip('sent', topic, data.length)
    } catch (err) {
      this.o.log.debug({ topic, err: (err as Error).message }, 'publish failed')
    }
  }

  /**
   * A gossip message (JSON text) to every connected peer (or those of `to` that are): onto its
   * gossip stream (opened at the first message, again after it ends), or, if any peer does not
   * speak that protocol, also by gossipsub (which reaches every peer: the others drop the copy
   * they already have).
   */
  private async sendGossip (topic: string, key: string, json: string, to?: readonly string[], carry?: CarriedMessage): Promise<void> {
    const frame = this.encoder.encode(`{"${key}":${json}}`)
    if (frame.length > MAX_FRAME_BYTES) {
      this.o.log.warn({ topic, bytes: frame.length, limit: MAX_FRAME_BYTES }, 'a gossip message over the frame limit was not sent')
      return
    }
    // The frame with the carried message, for the peers that get it (made once, if any does).
    let carrying: Uint8Array | undefined
    let older = false
    const connected = this.connectedPeers()
    for (const peer of to === undefined ? connected : to.filter(p => connected.includes(p))) {
      if (this.blocked.has(peer)) continue
      if (this.gossips.unsupported.has(peer)) { older = true; continue }
      const carryKey = carry !== undefined ? STREAM_TOPICS.get(carry.topic) : undefined
      if (carry !== undefined && carryKey !== undefined && carry.to.has(peer)) {
        carrying ??= this.encoder.encode(`{"${key}":${json},"${carryKey}":${carry.json}}`)
        if (carrying.length > MAX_FRAME_BYTES) this.outbox(peer, this.gossips).push(frame)
        else if (this.outbox(peer, this.gossips).push(carrying)) carry.queued(peer)
      } else this.outbox(peer, this.gossips).push(frame)
    }
    this.o.metrics?.gossip('sent', topic, frame.length)
    if (older) await this.pubsub().publish(topic, this.encoder.encode(json))
  }

  /** Dial a peer (bounded: one dial per peer at a time, never a blocked one). */
  async dial (peer: string, addrs: string[]): Promise<DialOutcome> {
    if (peer === this.peerId || this.blocked.has(peer) || this.dialing.has(peer)) return 'skipped'
    let id
    try { id = peerIdFromString(peer) } catch {
      // A node ID that is no peer ID (a store restored from elsewhere, a hand-made event):
      // nothing to dial, and no reason to stop.
      this.o.log.debug({ peer: peer.slice(0, 80) }, 'not a peer ID: not dialled')
      return 'skipped'
    }
    const listed = this.node.getConnections(id)
    if (listed.some(c => c.status === 'open')) return 'connected'
    this.dialing.add(peer)
    try {
      const usable = addrs.filter(a => !a.includes('/p2p-circuit')).map(a => multiaddr(a.includes('/p2p/') ? a : `${a}/p2p/${peer}`))
      if (usable.length === 0) return 'skipped'
      // (force: libp2p would take a connection it still lists, closed, for one: newStream.)
      await this.node.dial(usable, { signal: AbortSignal.timeout(5000), ...(listed.length > 0 ? { force: true } : {}) } as never)
      return 'connected'
    } catch (err) {
      this.o.log.debug({ peer, err: (err as Error).message }, 'dial failed')
      return 'failed'
    } finally {
      this.dialing.delete(peer)
    }
  }

  async dialAddr (addr: string): Promise<void> {
    try {
      await this.node.dial(multiaddr(addr), { signal: AbortSignal.timeout(5000) })
    } catch (err) {
      this.o.log.debug({ addr, err: (err as Error).message }, 'dial failed')
    }
  }

  /** When the newest open connection to a peer opened (ms), if there is one. */
  connectedSince (peer: string): number | undefined {
    const opened = this.node.getConnections(peerIdFromString(peer)).filter(c => c.status === 'open').map(c => c.timeline.open)
    return opened.length === 0 ? undefined : Math.max(...opened)
  }

  /**
   * If gossipsub's outbound stream to `peer` is dead while the peer is still connected (the
   * connection that carried it closed, another stays open), drop it and open a new one on an
   * open connection. True if it did. (Uses gossipsub's stream table: there is no public call.)
   */
  repairGossip (peer: string): boolean {
    const ps = this.pubsub()
    const out = ps?.streamsOutbound?.get(peer) as { rawStream?: Stream, close?: () => void } | undefined
    const raw = out?.rawStream
    if (out === undefined || raw === undefined) return false
    const alive = raw.status === 'open' && (raw.writeStatus === 'ready' || raw.writeStatus === 'writing')
    if (alive) return false
    const conn = this.node.getConnections(peerIdFromString(peer)).find(c => c.status === 'open')
    if (conn === undefined || ps.outboundInflightQueue === undefined) return false
    this.o.log.warn({ peer, stream: `${raw.status}/${raw.writeStatus}` }, 'gossip stream to a connected peer died with its connection: opening a new one')
    try { out.close?.() } catch { /* already closed */ }
    ps.streamsOutbound.delete(peer)
    ps.outboundInflightQueue.push({ peerId: conn.remotePeer, connection: conn })
    return true
  }

  /** A peer is connected: the handlers hear it once (peer:connect, or a connection after lost()). */
  private found (peer: string): void {
    if (this.live.has(peer) || this.stopping) return
    this.live.add(peer)
    this.o.handlers.connected(peer)
  }

  /** A peer has no open connection left: the handlers hear it once (peer:disconnect, or noticed here first). */
  private lost (peer: string): void {
    // Its streams went with the connection: a message queued to one now would be lost when
    // the stream's end is noticed (at its next write), so the next connection opens new ones.
    for (const c of this.channels) {
      this.dropBox(c, peer)
      c.unsupported.delete(peer) // (it may come back as a newer version)
    }
    if (!this.live.delete(peer) || this.stopping) return
    this.o.handlers.disconnected(peer)
  }

  /**
   * Every heartbeat interval: a peer told connected that has no open connection left is gone,
   * also when libp2p, keeping a closed connection to it listed, never says so (its close
   * events stuck after a SIGKILL under load). Cheap: one look at the list of connections.
   */
  sweepConnections (): void {
    if (this.live.size === 0) return
    const open = new Set(this.connectedPeers())
    for (const peer of this.live) if (!open.has(peer)) this.lost(peer)
  }

  /** Whether gossip to this peer goes by gossipsub: it is of an older version, or this node plays one. */
  private byGossipsub (peer: string): boolean {
    return this.o.gossipStreams === false || this.gossips.unsupported.has(peer)
  }

  /**
   * For every connected peer that gossipsub serves (byGossipsub): a dead outbound gossipsub
   * stream is replaced, a missing one (its creation failed on a connection that closed
   * meanwhile) is created; cheap, run on the anti-entropy cadence.
   */
  sweepGossip (): void {
    const ps = this.pubsub()
    if (ps?.streamsOutbound === undefined || ps.outboundInflightQueue === undefined) return
    const now = Date.now()
    for (const peer of this.connectedPeers()) {
      if (!this.byGossipsub(peer)) continue
      if (this.repairGossip(peer) || ps.streamsOutbound.has(peer) || ps.peers?.has(peer) !== true) continue
      const conn = this.node.getConnections(peerIdFromString(peer)).find(c => c.status === 'open' && now - c.timeline.open > 1000)
      if (conn === undefined) continue
      this.o.log.warn({ peer }, 'no gossip stream to a connected peer: opening one')
      ps.outboundInflightQueue.push({ peerId: conn.remotePeer, connection: conn })
    }
  }

  /** Close every connection to a peer (it may dial again, or be dialled); `pruned`: to keep a large cluster's mesh bounded. */
  async hangUp (peer: string, pruned = false): Promise<void> {
    // What gossipsub holds for that peer, for the log: a silent connected peer means one of
    // these is missing or dead.
    const ps = this.pubsub()
    if (pruned) this.o.log.debug({ peer }, 'hanging up to keep the mesh bounded')
    else this.o.log.warn({ peer, connections: this.node.getConnections(peerIdFromString(peer)).map(c => `${c.direction}:${c.status}`), gossipStream: this.gossips.boxes.has(peer) ? 'open' : this.gossips.unsupported.has(peer) ? 'unsupported' : 'none', gossipsub: { peer: ps?.peers?.has(peer), outbound: ps?.streamsOutbound?.has(peer), inbound: ps?.streamsInbound?.has(peer), heartbeatTopic: ps?.topics?.get(HEARTBEAT_TOPIC)?.has(peer) } }, 'hanging up on a silent peer')
    try { await this.node.hangUp(peerIdFromString(peer)) } catch (err) {
      this.o.log.debug({ peer, err: (err as Error).message }, 'hang up failed')
    }
  }

  /** Test gate: drop and refuse these peers (mute: drop what passes, but keep the connections open, as a bad route does). */
  async block (peers: string[], mute = false): Promise<void> {
    this.blocked.clear()
    for (const p of peers) this.blocked.add(p)
    if (mute) return
    await Promise.all(peers.map(async p => {
      try { await this.node.hangUp(peerIdFromString(p)) } catch { /* not connected */ }
    }))
  }

  blockedPeers (): string[] { return [...this.blocked] }

  /** Test gate: is this peer blocked? */
  isBlocked (peer: string): boolean { return this.blocked.has(peer) }

  /** The addresses libp2p last learned for a peer (identify: current even when the peer's node event is not here yet). */
  async peerAddresses (peer: string): Promise<string[]> {
    try {
      const p = await this.node.peerStore.get(peerIdFromString(peer))
      return p.addresses.map(a => a.multiaddr.toString())
    } catch { return [] } // unknown, or not a peer ID
  }

  /**
   * A new stream to a peer: on its newest open connection, or on a new one if it has none.
   * (libp2p's dialProtocol takes the first connection it lists to the peer, whatever its
   * status: one it kept listed after it closed, as after a SIGKILL under load, failed every
   * stream this node opened to that peer, its gossip and tell streams and its sync pulls,
   * while the peer's streams to this node came on the good connection: the peer heard this
   * node, this node never reached it.)
   */
  private async newStream (peer: string, protocol: string, signal: AbortSignal): Promise<{ stream: Stream, connection: Connection }> {
    const id = peerIdFromString(peer)
    let conn: Connection | undefined
    for (const c of this.node.getConnections(id)) if (c.status === 'open' && c.limits == null && (conn === undefined || c.timeline.open > conn.timeline.open)) conn = c
    // (force: a listed connection that is not open is not taken for one.)
    conn ??= await this.node.dial(id, { signal, force: true } as never)
    return { stream: await conn.newStream(protocol, { signal }), connection: conn }
  }

  /** Send one request frame; collect the response frames (bounded by `onFrame`). */
  async request (peer: string, protocol: string, request: unknown, onFrame: (frame: unknown) => void | Promise<void>, timeoutMs = STREAM_TIMEOUT_MS): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs)
    const { stream } = await this.newStream(peer, protocol, signal)
    // The whole exchange is bounded, not only the dial: a peer that stops answering mid-stream
    // (killed, cut off) must not hold this request, and every later one to it, forever.
    const onTimeout = (): void => { stream.abort(new Error(`no answer from ${peer} within ${timeoutMs} ms`)) }
    if (signal.aborted) onTimeout()
    else signal.addEventListener('abort', onTimeout, { once: true })
    const kind = protocol === SYNC_PROTOCOL ? 'sync' : 'rpc'
    try {
      await pipe(
        [request],
        (src: Iterable<unknown>) => writeFrames(src, this.counter(kind, 'sent')),
        (src: AsyncIterable<Uint8Array>) => lpEncode(src),
        stream,
        async (source: AsyncIterable<any>) => {
          for await (const frame of readFrames(source, this.counter(kind, 'received'))) await onFrame(frame)
        }
      )
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      signal.removeEventListener('abort', onTimeout)
    }
  }

  async call (peer: string, request: unknown, timeoutMs = 10_000): Promise<unknown> {
    let answer: unknown
    await this.request(peer, RPC_PROTOCOL, request, f => { answer = f }, timeoutMs)
    return answer
  }

  /**
   * A one-way message to a peer, best effort: over one long-lived stream per peer (opened at the
   * first message, again after it fails), so a message costs a frame, not a stream and its
   * protocol negotiation. To a peer of an older version, an rpc call.
   */
  tell (peer: string, message: unknown): void {
    if (this.blocked.has(peer)) return
    if (this.tells.unsupported.has(peer)) { this.call(peer, message, 2000).catch(() => {}); return }
    this.outbox(peer, this.tells).push(message)
  }

  /** End a peer's queue of a channel (only if its stream is on connection `on`, when given): the next message opens a new stream. */
  private dropBox (c: Channel<unknown>, peer: string, on?: string): void {
    const box = c.boxes.get(peer)
    if (box === undefined || (on !== undefined && this.carriedBy.get(box) !== on)) return
    c.boxes.delete(peer)
    box.end()
  }

  /** A peer's queue of a channel: the one of its open stream, or a new one (and its stream opening). */
  private outbox<T> (peer: string, c: Channel<T>): Outbox<T> {
    let box = c.boxes.get(peer)
    if (box === undefined) {
      box = new Outbox<T>(c.queue)
      c.boxes.set(peer, box)
      void this.openStream(peer, c, box)
    }
    return box
  }

  /**
   * A long-lived one-way stream to a peer: the channel's frames of `box` until the box or the
   * stream ends; then the box leaves the channel, and the next message opens a new one. A peer
   * that does not speak the protocol becomes one of the channel's unsupported.
   */
  private async openStream<T> (peer: string, c: Channel<T>, box: Outbox<T>): Promise<void> {
    const { protocol, boxes, unsupported } = c
    try {
      const { stream, connection } = await this.newStream(peer, protocol, AbortSignal.timeout(10_000))
      this.carriedBy.set(box, connection.id)
      try {
        await stream.sink(lpEncodeBatches(c.frames(box)))
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    } catch (err) {
      // (Not if the peer disconnected meanwhile: the failure was its old connection's.)
      if ((err as Error).name === 'UnsupportedProtocolError' && boxes.get(peer) === box) unsupported.add(peer)
      this.o.log.debug({ peer, protocol, err: (err as Error).message }, 'stream to a peer ended')
    } finally {
      if (boxes.get(peer) === box) boxes.delete(peer)
      box.end()
    }
  }

  /** A peer's long-lived one-way stream: every frame to `handle`, until it ends; a bad frame ends it. */
  private async listen (stream: Stream, from: string, counted: ((bytes: number) => void) | undefined, handle: (msg: unknown, from: string) => void): Promise<void> {
    if (this.blocked.has(from)) { stream.abort(new Error('blocked')); return }
    try {
      await stream.closeWrite()
      for await (const msg of readFrames(stream.source, counted)) {
        if (this.blocked.has(from)) { stream.abort(new Error('blocked')); return }
        try { handle(msg, from) } catch (err) {
          this.o.log.warn({ from, protocol: stream.protocol, err: (err as Error).message }, 'a handler failed on a peer\'s message')
        }
      }
    } catch (err) {
      this.o.log.debug({ from, protocol: stream.protocol, err: (err as Error).message }, 'a stream from a peer ended')
      stream.abort(err as Error)
    }
  }

  /** Counts the frames of sync streams (rpc streams are not counted). */
  private counter (kind: 'sync' | 'rpc', direction: 'sent' | 'received'): ((bytes: number) => void) | undefined {
    const m = this.o.metrics
    return m === undefined || kind !== 'sync' ? undefined : bytes => m.sync(direction, bytes)
  }

  private async serve (stream: Stream, from: string, kind: 'sync' | 'rpc'): Promise<void> {
    if (this.blocked.has(from)) { stream.abort(new Error('blocked')); return }
    const h = this.o.handlers
    const self = this
    const received = this.counter(kind, 'received')
    try {
      await pipe(
        stream,
        async function * (source: AsyncIterable<any>) {
          for await (const req of readFrames(source, received)) {
            if (kind === 'rpc') yield await h.rpc(req, from)
            else yield * h.sync(req, from)
            return // one request per stream
          }
        },
        (src: AsyncIterable<unknown>) => writeFrames(src, this.counter(kind, 'sent')),
        (src: AsyncIterable<Uint8Array>) => lpEncode(src),
        stream
      )
    } catch (err) {
      self.o.log.warn({ from, protocol: kind, err: (err as Error).message }, 'closed a stream after a bad frame')
      stream.abort(err as Error)
    }
  }
}
