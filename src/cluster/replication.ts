// Replication: every event reaches every node. Fast path: this node's new events go out by
// gossip, one message per write batch. Slow path, complete: anti-entropy pulls over
// /cis/sync/1 (exchange version vectors, stream what is missing) on connect, periodically,
// on a gap, and when a peer's heartbeats show it has events we lack.
import type { Logger } from 'pino'
import type { CisEvent } from '../events/types.js'

/** What replication needs of the transport. */
export interface ReplicationLinks {
  /**
   * A message to every connected peer, or to those of `to`; `more`: another part of the same
   * batch follows (a heartbeat carried on it would count events the peer has not got yet).
   */
  publishRaw: (topic: string, json: string, to?: readonly string[], more?: boolean) => Promise<void>
  request: (peer: string, request: unknown, onFrame: (frame: unknown) => void, timeoutMs: number) => Promise<void>
  connectedPeers: () => string[]
  dial: (peer: string, addresses: string[]) => Promise<unknown>
  dialAddr: (addr: string) => Promise<void>
}

export interface ReplicationOptions {
  self: string
  log: Logger
  eventsTopic: string
  bootstrap: string[]
  /** The version vector of events applied here. */
  vector: () => Record<string, number>
  /** A remote event arrived (not yet checked). */
  receive: (e: unknown, from: string) => void
  /** The events of one gossip message (default: receive, one by one). */
  receiveMany?: (events: unknown[], from: string) => void
  /** Stored events of `origin` after `seq`. */
  eventsAfter: (origin: string, seq: number) => AsyncIterable<CisEvent>
  /** A skip (seqs purges took out of the logs, state/cuts.ts) from a peer, not yet checked. */
  skip: (skip: unknown, from: string) => void
  /** A purge event a peer sent to prove its skips, not yet checked. */
  proof: (e: unknown, from: string) => void
  /** The purge events whose cuts cover seqs from..to of `origin` (a gap in our log); undefined if none does. */
  gapProof: (origin: string, from: number, to: number) => Promise<CisEvent[] | undefined>
  /** Known addresses of known nodes, to reconnect after a cut. */
  knownPeers: () => Array<{ id: string, addresses: string[] }>
  /** Picks one of n peers for a periodic pull (injected for determinism in tests). */
  pick?: (n: number) => number
  /** Large clusters: the connections to keep (dial known nodes only up to it); absent: dial every known node. */
  targetPeers?: () => number | undefined
  /** A large cluster: the peers whose sums come every heartbeat interval (those this node watches); the periodic pull goes to one of them. */
  pullFrom?: () => string[]
  /**
   * Large clusters: whether this node hears a known node (alive in its view). Each round one
   * known node it does not hear is dialled even at the target: after a partition heals, each
   * side holds the other down and has its connections within itself, and nothing else would
   * make them dial across.
   */
  hears?: (id: string) => boolean
  /** The window (ms) within which events a peer does not need at once wait to go together (publishEvents); 0 or absent: none. */
  batchMs?: () => number
  /** The clock (ms) and a timer, for the batching (default: Date.now and setTimeout). */
  now?: () => number
  after?: (ms: number, fn: () => void) => void
  /** A large cluster's dial of a node it does not hear, and holds down, waits a random part of this (ms; default 0: at once): dialUnheard. */
  dialSpreadMs?: number
  /** Whether a node is held down here (it was alive once): dialUnheard. */
  heldDown?: (id: string) => boolean
}

const MAX_SYNC_EVENTS = 50_000

/** The sum of a version vector's seqs: how many events it counts. */
export function vectorSum (v: Readonly<Record<string, number>>): number {
  let n = 0
  for (const seq of Object.values(v)) n += seq
  return n
}
/** A gossip message carries at most this much (events of one write batch); more is split. */
export const MAX_GOSSIP_BYTES = 1024 * 1024
/** At most this many events are taken from one gossip message. */
const MAX_GOSSIP_BATCH = 10_000
/** At most this many events wait for one peer (more: what waits goes at once), well under MAX_GOSSIP_BATCH. */
const MAX_HELD = 2000
/**
 * Every this many anti-entropy rounds, a pull from a random peer whatever it showed: the
 * backstop for events gossip lost that no vector or sum gives away (two peers each missing
 * as many events as the other has extra: equal sums).
 */
export const BACKSTOP_ROUNDS = 5
/** A pull that takes longer is abandoned (and tried again), so one stuck peer cannot stall us. */
const SYNC_TIMEOUT_MS = 5000

export class Replication {
  private readonly pulling = new Set<string>()
  private readonly pullAgain = new Set<string>()
  /** Each peer's version vector from its last heartbeat, and from the one before. */
  private readonly vectors = new Map<string, Record<string, number>>()
  private readonly previousVectors = new Map<string, Record<string, number>>()
  private stopped = false
  /** Events held for each peer (JSON text, in order), and when a message of events last went to each. */
  private readonly held = new Map<string, string[]>()
  private readonly lastSent = new Map<string, number>()
  private heldQueued = false
  /** Resolved when a first pull from a peer completed: this node has caught up with someone. */
  private readonly firstSync: Promise<void>
  private synced!: () => void

  constructor (private readonly o: ReplicationOptions, private readonly links: ReplicationLinks) {
    this.firstSync = new Promise(resolve => { this.synced = resolve })
  }

  /** Wait (at most `timeoutMs`) until a pull from some peer has completed; true if one did. */
  async caughtUp (timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<boolean>(resolve => { timer = setTimeout(() => resolve(false), timeoutMs); timer.unref() })
    try { return await Promise.race([this.firstSync.then(() => true), late]) } finally { clearTimeout(timer) }
  }

  stop (): void { this.stopped = true; this.held.clear() }

  /**
   * Publish this node's new events: one gossip message per write batch (split so that no
   * message exceeds MAX_GOSSIP_BYTES unless one event alone does), so a busy node sends a few
   * large messages instead of many small ones.
   *
   * Batched by peer (o.batchMs() > 0, a small cluster): `urgent` names the peers that need these
   * events at once (the master, a node assigned a job, the node waiting for an accept: see
   * urgency.ts); 'all' (the default) is every peer. A peer not named gets them at once too if
   * nothing went to it within batchMs; otherwise they wait for the rest of that window and go
   * with what follows in one message, so a bystander of a busy cluster hears of many jobs in one
   * message instead of one or two messages a job (on this VM a message costs about a
   * millisecond of CPU whatever it carries: README, "Why a job costs an agent milliseconds").
   * Whatever waits for a peer goes before anything else sent to it, so each peer still gets
   * each origin's events in seq order.
   */
  publishEvents (events: CisEvent[], urgent: ReadonlySet<string> | 'all' = 'all'): void {
    const jsons = events.map(e => JSON.stringify(e))
    const window = this.o.batchMs?.() ?? 0
    const all = window > 0 ? this.links.connectedPeers() : []
    if (all.length === 0) { this.flushHeld(); this.send(jsons); return }
    const now = this.o.now?.() ?? Date.now()
    const atOnce: string[] = []
    for (const peer of all) {
      const held = this.held.get(peer)
      const quiet = now - (this.lastSent.get(peer) ?? -Infinity) >= window
      if (urgent === 'all' || urgent.has(peer) || (held === undefined && quiet)) {
        this.lastSent.set(peer, now)
        if (held === undefined) { atOnce.push(peer); continue }
        this.held.delete(peer)
        this.send([...held, ...jsons], [peer])
      } else if (held !== undefined && held.length + jsons.length <= MAX_HELD) {
        for (const j of jsons) held.push(j)
      } else {
        if (held !== undefined) { this.held.delete(peer); this.send(held, [peer]) }
        this.held.set(peer, jsons.slice())
        this.heldSoon(window)
      }
    }
    if (atOnce.length > 0) this.send(jsons, atOnce.length === all.length ? undefined : atOnce)
    // (Peers gone since their last message: forgotten.)
    if (this.lastSent.size > all.length) for (const peer of this.lastSent.keys()) if (!all.includes(peer)) this.lastSent.delete(peer)
  }

  /** The held events go out within `ms` (one timer for every peer's). */
  private heldSoon (ms: number): void {
    if (this.heldQueued) return
    this.heldQueued = true
    const fire = (): void => { this.heldQueued = false; this.flushHeld() }
    if (this.o.after !== undefined) this.o.after(ms, fire)
    else setTimeout(fire, ms).unref()
  }

  /** Send every peer what is held for it. */
  private flushHeld (): void {
    if (this.held.size === 0 || this.stopped) { this.held.clear(); return }
    const now = this.o.now?.() ?? Date.now()
    const connected = new Set(this.links.connectedPeers())
    for (const [peer, held] of this.held) {
      // (A peer gone meanwhile: anti-entropy gives it the events when it is back.)
      if (!connected.has(peer)) continue
      this.lastSent.set(peer, now)
      this.send(held, [peer])
    }
    this.held.clear()
  }

  /** Events (JSON text) in messages of at most MAX_GOSSIP_BYTES (unless one event alone is more), to every peer or to `to`. */
  private send (jsons: string[], to?: readonly string[]): void {
    let parts: string[] = []
    let size = 1 // the JSON text of the batch: '[' + parts joined by ',' + ']'
    const flush = (more: boolean): void => {
      if (parts.length > 0) void this.links.publishRaw(this.o.eventsTopic, parts.length === 1 ? parts[0] : `[${parts.join(',')}]`, to, more)
      parts = []
      size = 1
    }
    for (const json of jsons) {
      if (parts.length > 0 && size + json.length + 1 > MAX_GOSSIP_BYTES) flush(true)
      parts.push(json)
      size += json.length + 1
    }
    flush(false)
  }

  /** A gossip message of events: one event, or a batch of them (in the origin's seq order). */
  gossiped (data: unknown, from: string): void {
    // (A lone event goes the way of a batch too: the intake may take the messages of a turn together.)
    if (!Array.isArray(data)) { if (this.o.receiveMany !== undefined) this.o.receiveMany([data], from); else this.o.receive(data, from) } else if (this.o.receiveMany !== undefined) this.o.receiveMany(data.slice(0, MAX_GOSSIP_BATCH), from)
    else for (const e of data.slice(0, MAX_GOSSIP_BATCH)) this.o.receive(e, from)
  }

  /** The events a neighbour has applied, as a sum of its vector (large clusters, where beats carry no vector). */
  private readonly sums = new Map<string, number>()

  /**
   * A neighbour's batch of beats told the sum of its vector: more than ours in two batches in a
   * row means it has events we lack (an equal sum with other events is found by the periodic pull).
   */
  peerSum (peer: string, sum: number): void {
    const previous = this.sums.get(peer)
    this.sums.set(peer, sum)
    const mine = vectorSum(this.o.vector())
    if (previous !== undefined && sum > mine && previous > mine) this.pull(peer)
  }

  /** A peer's heartbeat showed its vector: behind in two heartbeats in a row means an event did not reach us by gossip. */
  peerVector (peer: string, vector: Record<string, number>): void {
    const previous = this.vectors.get(peer)
    this.vectors.set(peer, vector)
    if (previous !== undefined) this.previousVectors.set(peer, previous)
    if (previous !== undefined && this.isBehind(vector) && this.isBehind(previous)) this.pull(peer)
  }

  private isBehind (theirs: Record<string, unknown>): boolean {
    const mine = this.o.vector()
    for (const [origin, seq] of Object.entries(theirs)) {
      if (origin !== this.o.self && typeof seq === 'number' && seq > (mine[origin] ?? 0)) return true
    }
    return false
  }

  /** True if an alive peer's last heartbeat showed events we have not applied yet. */
  behind (alive: ReadonlySet<string>): boolean {
    return !this.ahead(alive).next().done
  }

  /** Pull from every alive peer whose last heartbeat showed events we have not applied (behind). */
  pullBehind (alive: ReadonlySet<string>): void {
    for (const peer of this.ahead(alive)) this.pull(peer)
  }

  /** The alive peers whose last heartbeat (its vector, or of a large cluster its sum) shows events we have not applied. */
  private * ahead (alive: ReadonlySet<string>): Generator<string> {
    for (const [peer, v] of this.vectors) if (alive.has(peer) && this.isBehind(v)) yield peer
    if (this.sums.size > 0) {
      const mine = vectorSum(this.o.vector())
      for (const [peer, sum] of this.sums) if (alive.has(peer) && sum > mine) yield peer
    }
  }

  /** New peers whose pull waits for the pulls in flight (pullNew). */
  private readonly waiting = new Set<string>()

  /**
   * A new connection: pull from the peer at once, unless pulls are in flight. Then it waits for
   * them to end and goes only if the peer may still have events we lack (its heartbeat, sent as
   * the connection opened, says: mayHaveMore). After a partition heals, every node connects to
   * the other side's nodes in one round (the rounds fall on one grid), and a pull from each
   * brought the same events from each of them: twice the messages of the run before the grid, in
   * the simulator. (Gossip, the heartbeats' vectors and the periodic pull still catch what is left.)
   * A small cluster only: a large one's neighbours tell only sums, and waiting there slowed a
   * 100-node cluster's forming in the simulator (4,050 virtual ms against 2,050).
   */
  pullNew (peer: string): void {
    if (this.pulling.size === 0 || this.o.targetPeers?.() !== undefined) { this.pull(peer); return }
    this.waiting.add(peer)
  }

  /** The pulls in flight ended: the waiting new peers that may still have more are pulled from. */
  private pullWaiting (): void {
    if (this.pulling.size > 0 || this.waiting.size === 0 || this.stopped) return
    const peers = [...this.waiting]
    this.waiting.clear()
    const connected = new Set(this.links.connectedPeers())
    for (const peer of peers) if (connected.has(peer) && this.mayHaveMore(peer)) this.pull(peer)
  }

  /** Ask a peer for every event we lack (anti-entropy). One pull per peer at a time. */
  pull (peer: string): void {
    if (this.stopped) return
    if (this.pulling.has(peer)) { this.pullAgain.add(peer); return }
    this.pulling.add(peer)
    let received = 0
    this.links.request(peer, { vector: this.o.vector() }, frame => {
      const f = frame as { event?: unknown, skip?: unknown, proof?: unknown, done?: boolean }
      if (f.event !== undefined && ++received <= MAX_SYNC_EVENTS) this.o.receive(f.event, peer)
      if (f.proof !== undefined && ++received <= MAX_SYNC_EVENTS) this.o.proof(f.proof, peer)
      if (f.skip !== undefined && ++received <= MAX_SYNC_EVENTS) this.o.skip(f.skip, peer)
      if (f.done === true) this.synced()
    }, SYNC_TIMEOUT_MS).catch(err => {
      this.o.log.debug({ peer, err: (err as Error).message }, 'sync pull failed')
    }).finally(() => {
      this.pulling.delete(peer)
      if (this.pullAgain.delete(peer)) this.pull(peer)
      else this.pullWaiting()
    })
  }

  /**
   * Serve a peer's pull: every stored event it lacks, then our vector. A gap in our log (events
   * a purge took out) goes as a skip, after the purge events that prove it (each sent once).
   */
  async * serve (req: unknown): AsyncIterable<unknown> {
    const theirs = (req as { vector?: unknown })?.vector
    if (typeof theirs !== 'object' || theirs === null || Array.isArray(theirs)) throw new Error('sync request without a version vector')
    const mine = this.o.vector()
    let sent = 0
    const proved = new Set<string>()
    const gap = async (origin: string, from: number, to: number): Promise<unknown[] | undefined> => {
      const proofs = await this.o.gapProof(origin, from, to)
      if (proofs === undefined) return undefined
      const frames: unknown[] = []
      for (const p of proofs) {
        const key = `${p.origin}:${p.seq}`
        if (!proved.has(key)) { proved.add(key); frames.push({ proof: p }) }
      }
      frames.push({ skip: { origin, from, to } })
      return frames
    }
    origins: for (const [origin, seq] of Object.entries(mine)) {
      const have = (theirs as Record<string, unknown>)[origin]
      const after = typeof have === 'number' && Number.isSafeInteger(have) && have > 0 ? have : 0
      if (seq <= after) continue
      let next = after + 1
      for await (const e of this.o.eventsAfter(origin, after)) {
        if (e.seq > next) {
          const frames = await gap(origin, next, e.seq - 1)
          if (frames === undefined) continue origins // (a gap no purge explains: stop this origin)
          for (const f of frames) yield f
          sent += frames.length
        }
        yield { event: e }
        next = e.seq + 1
        if (++sent >= MAX_SYNC_EVENTS) return
      }
      // Applied here but not stored: written soon, or taken out by a purge at the end of the log.
      if (next <= seq) {
        const frames = await gap(origin, next, seq)
        if (frames !== undefined) for (const f of frames) yield f
      }
    }
    yield { done: true, vector: mine }
  }

  /** Periodic: reconnect to known nodes we lost, and pull from one connected peer. */
  antiEntropy (): void {
    let listed: Array<{ id: string, addresses: string[] }> | undefined
    const known = (): Array<{ id: string, addresses: string[] }> => (listed ??= this.o.knownPeers())
    const connected = this.topUp(known)
    const hears = this.o.hears
    if (this.o.targetPeers?.() !== undefined && hears !== undefined) {
      const unheard = known().filter(p => p.id !== this.o.self && !connected.has(p.id) && !hears(p.id))
      if (unheard.length > 0) this.dialUnheard(unheard[this.pick(unheard.length)])
    }
    for (const addr of this.o.bootstrap) {
      const id = addr.split('/p2p/')[1]
      if (id !== undefined && !connected.has(id)) void this.links.dialAddr(addr)
    }
    const fresh = this.o.pullFrom?.().filter(p => connected.has(p)) ?? []
    const peers = fresh.length > 0 ? fresh : [...connected]
    if (peers.length === 0) return
    const peer = peers[this.pick(peers.length)]
    // The periodic pull is the backstop for what the heartbeats cannot show; most rounds it
    // goes only to a peer whose last word shows it may have more (issue 12: idle, the pulls
    // were a tenth of an agent's CPU, each a stream opened and closed for nothing).
    if (++this.rounds % BACKSTOP_ROUNDS === 0 || this.mayHaveMore(peer)) this.pull(peer)
  }

  private rounds = 0

  /**
   * A large cluster: dial a known node this node neither hears nor is connected to (a healed
   * partition's far side, a node back from a silent cut), if it holds it down (it was alive
   * here once) at a random moment of the next `dialSpreadMs` (the mesh: a heartbeat interval). Every node's anti-entropy rounds fall on a few instants of the grid, and
   * every node that holds the same node down picks it: dialled at once, a node back from a
   * silent cut at 1,000 simulated nodes had 119 connections a moment later (the simulator, Dec 6),
   * where the first dial to reach it would do (its beat then floods, and the others hear it).
   */
  private dialUnheard (p: { id: string, addresses: string[] }): void {
    const spread = this.o.dialSpreadMs ?? 0
    const after = this.o.after
    // (A node never heard here, as in a cluster forming: at once. Spread, a 100-node cluster
    // formed in 3.45 s instead of 1.45 in the simulator, seed 3.)
    if (spread <= 0 || after === undefined || this.o.heldDown?.(p.id) !== true) { void this.links.dial(p.id, p.addresses); return }
    after(this.pick(spread), () => {
      if (this.stopped || this.o.hears?.(p.id) === true || this.links.connectedPeers().includes(p.id)) return
      void this.links.dial(p.id, p.addresses)
    })
  }

  /**
   * Whether a peer may have events we lack, as its heartbeat (a small cluster: its whole
   * vector) or beat batch (a large one: its sum) told: a sum other than ours, or nothing heard.
   * Of a small cluster, the heartbeat before its last: what it had one interval ago and we still
   * lack (its last one shows too the events of the last moments, on their way to us or waiting
   * in a peer's batch window).
   */
  private mayHaveMore (peer: string): boolean {
    if (this.o.targetPeers?.() === undefined) {
      const v = this.previousVectors.get(peer) ?? this.vectors.get(peer)
      return v === undefined || this.isBehind(v)
    }
    const sum = this.sums.get(peer)
    return sum === undefined || sum !== vectorSum(this.o.vector())
  }

  /**
   * Dial known nodes we are not connected to: every one (a small cluster), or a few random
   * ones up to the target (a large cluster's bounded mesh). Returns the peers connected now.
   * (`known` lists the known nodes: antiEntropy lists them once for both of its uses.)
   */
  topUp (known = (): Array<{ id: string, addresses: string[] }> => this.o.knownPeers()): Set<string> {
    const connected = new Set(this.links.connectedPeers())
    const target = this.o.targetPeers?.()
    if (target !== undefined && connected.size >= target) return connected
    const unconnected = known().filter(p => p.id !== this.o.self && !connected.has(p.id))
    if (target === undefined) {
      for (const p of unconnected) void this.links.dial(p.id, p.addresses)
    } else {
      for (let k = connected.size; k < target && unconnected.length > 0; k++) {
        const p = unconnected.splice(this.pick(unconnected.length), 1)[0]
        void this.links.dial(p.id, p.addresses)
      }
    }
    return connected
  }

  private pick (n: number): number {
    return this.o.pick?.(n) ?? Math.floor(Math.random() * n)
  }
}
