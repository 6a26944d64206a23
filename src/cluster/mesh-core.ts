// The node's place in the cluster, whatever carries its messages: membership, replication and
// liveness gossip wired together, with their rounds (heartbeats, anti-entropy) on the wall
// clock's grid and heartbeats carried on event frames in a small cluster. Two transports drive
// it: libp2p (mesh.ts, an agent) and the simulator's network (sim/sim-node.ts), so what the
// simulator measures is this code, not a model of it. Time, timers and randomness come in with
// the links (MeshClock): real ones for an agent, the virtual clock and a seeded source in the
// simulator.
import type { Logger } from 'pino'
import type { CisEvent } from '../events/types.js'
import { CarriedBeats } from './carried-beats.js'
import { LivenessGossip, isMembershipMessage } from './liveness-gossip.js'
import type { MembershipMessage } from './liveness-gossip.js'
import { Membership, TARGET_PEERS } from './membership.js'
import type { Heartbeat } from './membership.js'
import { Replication } from './replication.js'
import { EVENTS_TOPIC, HEARTBEAT_TOPIC } from '../net/topics.js'
import type { CarriedMessage } from '../net/topics.js'

/** How long a large cluster's node gathers changes of its view before it changes whom it watches (rewatchSoon). */
export const REWATCH_MS = 10

/** What the node gives the mesh: its identity, its log and state, and where received events go. */
export interface MeshCoreHost {
  id: string
  log: Logger
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
  /**
   * Take the events that arrived before now and wait for the end of the turn (the agent's
   * intake, `coalesce`): called before a peer's heartbeat or beats are read, whose version
   * vector (or its sum) counts them, so that they do not make this node look behind.
   */
  drain?: () => void
  /** Known addresses of known nodes, to reconnect after a cut. */
  knownPeers: () => Array<{ id: string, addresses: string[] }>
  /** How many nodes are known (every heartbeat: sizes the cluster without listing them). */
  knownCount: () => number
}

/** What carries the mesh's messages: libp2p (net/p2p.ts) or the simulator's network. */
export interface MeshLinks {
  connectedPeers: () => string[]
  connectedSince: (peer: string) => number | undefined
  /** A gossip message (JSON) to `to` (default: every connected peer), with `carry` on the frames to the peers it names. */
  publishRaw: (topic: string, json: string, to?: readonly string[], carry?: CarriedMessage) => Promise<void>
  /** A membership message to a neighbour. */
  tell: (peer: string, msg: MembershipMessage) => void
  /** A prune notice, then the connection closed (it must arrive before the hang-up). */
  noticeAndHangUp: (peer: string, notice: MembershipMessage) => void
  /** Close the connections to a peer (a silent one: it reconnects with fresh streams). */
  hangUp: (peer: string) => Promise<void>
  /** A sync request: the peer's frames to `onFrame`, in order. */
  request: (peer: string, req: unknown, onFrame: (frame: unknown) => void, timeoutMs: number) => Promise<void>
  /** Dial a known peer (at these addresses, or those known for it). */
  dial: (peer: string, addrs?: string[]) => Promise<void>
  dialAddr: (addr: string) => Promise<void>
}

/** Time, timers and randomness. */
export interface MeshClock {
  /** Run `fn` at every multiple of `ms`, plus `phase`, on the node's clock (grid-timer.ts), until stopped. */
  every: (ms: number, fn: () => void, phase: number) => { stop: () => void }
  after: (ms: number, fn: () => void) => { cancel: () => void }
  /** A monotonic clock (ms), for carried beats (a wall clock stepped back would hold them back). */
  monotonic: () => number
  /** One of n (peers to pull from, to gossip to). */
  pick: (n: number) => number
}

export interface MeshCoreOptions {
  bootstrap: string[]
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  syncIntervalMs: number
  /** Events a peer does not need at once wait up to this long to go with later ones (replication.ts; default 0: none). */
  batchWindowMs?: number
  /** Clusters of more nodes than this use the watch ring (default LARGE_CLUSTER). */
  watchRingAbove?: number
  /** A watched node beats to its watchers every this many heartbeat intervals (default BEAT_EVERY; the simulator's option). */
  beatEvery?: number
  /** Called first in each heartbeat round and last in each sync round (the transport's own upkeep). */
  heartbeatRound?: () => void
  syncRound?: () => void
}

export class MeshCore {
  readonly membership: Membership
  readonly replication: Replication
  /** Heartbeats, or liveness gossip in a large cluster (liveness-gossip.ts). */
  readonly gossip: LivenessGossip
  /** Heartbeats carried on event frames, and the beats the timer then need not send (small clusters). */
  private readonly carried: CarriedBeats
  /** The pass set for when a silent peer passes the timeout (watchExpiry). */
  private expiry: { cancel: () => void } | undefined
  private readonly timers: Array<{ stop: () => void }> = []
  private stopped = false

  constructor (private readonly host: MeshCoreHost, private readonly links: MeshLinks, private readonly clock: MeshClock, private readonly o: MeshCoreOptions) {
    this.carried = new CarriedBeats(o.heartbeatIntervalMs, o.heartbeatTimeoutMs)
    // (A heartbeat interval until the rounds are armed: watchExpiry may run before, at a small cluster's pass.)
    this.roundMs = o.heartbeatIntervalMs
    this.membership = new Membership({
      self: host.id,
      log: host.log,
      now: host.now,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      timeoutMs: o.heartbeatTimeoutMs,
      ...(o.watchRingAbove !== undefined ? { largeAbove: o.watchRingAbove } : {}),
      ...(o.beatEvery !== undefined ? { beatEvery: o.beatEvery } : {}),
      changed: () => { host.membershipChanged(); this.rewatchSoon() }
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
      pick: clock.pick,
      targetPeers: () => this.gossip.large ? TARGET_PEERS : undefined,
      pullFrom: () => this.membership.watched(),
      hears: id => this.membership.isAlive(id),
      // (A small cluster only: a large one relays events through neighbours, whose every hop
      // would add the window. At most a quarter of the heartbeat interval: a heartbeat's vector
      // shows events still waiting for the peer, and two in a row behind make it pull.)
      batchMs: () => this.gossip.large ? 0 : Math.min(o.batchWindowMs ?? 0, o.heartbeatIntervalMs / 4),
      now: host.now,
      after: (ms, fn) => { clock.after(ms, fn) },
      // (A heartbeat interval: the first dial to reach the node makes it heard everywhere within
      // a few ms, and a cluster forming waits no longer than that; over the whole sync interval,
      // a 100-node cluster with 3 ± 2 ms links formed in 3.4 s instead of 1.25 in the simulator.)
      dialSpreadMs: o.heartbeatIntervalMs,
      heldDown: id => this.membership.heldDown(id)
    }, {
      publishRaw: async (topic, json, to, more) => await links.publishRaw(topic, json, to, topic === EVENTS_TOPIC && more !== true ? this.beatToCarry(to) : undefined),
      request: links.request,
      connectedPeers: links.connectedPeers,
      dial: async (peer, addrs) => { await links.dial(peer, addrs) },
      dialAddr: links.dialAddr
    })
    this.gossip = new LivenessGossip(this.membership, this.replication, {
      peers: links.connectedPeers,
      send: (peer, msg) => { links.tell(peer, msg) },
      broadcast: hb => { this.broadcastBeat(hb) },
      hangUp: (peer, notice) => { links.noticeAndHangUp(peer, notice) },
      dial: async peer => { await links.dial(peer) },
      after: (ms, fn) => { clock.after(ms, fn) },
      pick: clock.pick
    })
  }

  /**
   * Before the transport starts: a cluster known to be large from the log must not dial every
   * node it knows (membership.ts).
   */
  sizeFromLog (): void {
    this.gossip.size(this.host.knownCount())
  }

  /** Start the rounds (the transport is up). */
  start (): void {
    this.membership.networkStarted()
    this.armRounds()
  }

  /**
   * The rounds' timers, on the clock's grid: every node's rounds at the same instant, so a node's
   * beats to its peers (or watchers) go out, and theirs come in, in one wake-up; a large cluster's
   * round, with its beats to its watchers (beatWatchers), every `beatEvery` intervals (roundMs).
   * What a large cluster's node learns between rounds that changes whom it watches goes
   * on at once (rewatchSoon): with every round at one instant and that change waiting for the next
   * round, each hop waited a whole interval, and in the simulator (100 nodes, seeds 1-3) a healed
   * partition was agreed on in 540 virtual ms instead of 40-65, a cluster formed in 2,050 instead
   * of 1,250-1,450, and a silent cut ended with a node dialling all 99 others (Dec 5; the rounds
   * were then put at each node's own phase, which cost 20 idle agents on one machine a tenth more
   * CPU: docs/benchmarks.md). Armed again when the cluster crosses the line (checked each round).
   */
  private armRounds (): void {
    for (const t of this.timers) t.stop()
    this.timers.length = 0
    const large = this.gossip.large
    this.armedLarge = large
    this.roundMs = (large ? this.membership.beatEvery : 1) * this.o.heartbeatIntervalMs
    this.timers.push(this.clock.every(this.roundMs, () => {
      this.o.heartbeatRound?.()
      // One heartbeat for the round: the watch round decides nothing that it carries at once (a
      // node it finds dead changes the office at the next pass), so the beat to the watchers
      // that follows it is the same one. That beat is a large cluster's as the round was armed
      // (after the watch round, as its own timer had it at the same instant): not in the round
      // that finds the cluster grown large, whose beat went to every peer (the simulator's
      // formation differs if it goes to the new watchers too; the round is armed again next).
      const hb = this.host.heartbeat()
      this.gossip.beat(hb, this.host.knownCount())
      if (large) this.gossip.beatWatchers(hb)
      this.host.tick?.()
      this.watchExpiry()
      if (this.gossip.large !== this.armedLarge && !this.stopped) this.armRounds()
    }, 0))
    this.timers.push(this.clock.every(this.o.syncIntervalMs, () => {
      this.gossip.prune()
      this.gossip.refresh(this.host.heartbeat())
      this.membership.hangUpSilent(this.links)
      this.replication.antiEntropy()
      this.o.syncRound?.()
    }, this.syncPhase(large)))
  }

  /**
   * The sync round's phase: a large cluster's node at its own slot of the heartbeat rounds
   * (phaseOf, to a whole interval: no wake-up of its own), so that some node's anti-entropy
   * (which dials the nodes it lost) comes within an interval of a healed partition, not every
   * node's at one instant up to a sync interval later; a small cluster's on the grid.
   */
  private syncPhase (large: boolean): number {
    if (!large) return 0
    const p = phaseOf(this.host.id, this.o.syncIntervalMs)
    // (At the heartbeat interval's granularity, not the round's: a large cluster's rounds come every
    // second interval, and with the slots on those, half as many, a healed partition's first dial
    // across (Replication.dialUnheard, from the sync round) waited up to twice as long: 100
    // simulated nodes agreed in 160-185 ms in four seeds of seven, against 30-90.)
    return p - (p % this.o.heartbeatIntervalMs)
  }

  /**
   * Whether this node holds the office (the role follows the election; called on every pass):
   * when that changed, its peers hear it now. A new master decides only once no peer's last
   * heartbeat still claims the office (master-role.ts caughtUp); a claim's end told at the next
   * round held a failover up to an interval (3 agents, the master killed just after a node
   * joined: a job submitted at once started 150-180 ms after the kill in a third of the runs,
   * against 50-70).
   */
  office (held: boolean): void {
    if (held === this.officeTold) return
    // (A small cluster's change goes out through the heartbeat round's send, which sees it as
    // a change and so beats to every peer: officeTold is set after it.)
    if (!this.stopped) this.gossip.officeChanged(this.host.heartbeat())
    this.officeTold = held
  }

  /**
   * This node is stopping (its host's heartbeat now says `leaving`): told to every neighbour
   * now, as a change of office is, so that none places work on it while it ends its jobs.
   */
  leaving (): void {
    if (!this.stopped) this.gossip.officeChanged(this.host.heartbeat())
  }

  /** This node's leaving was told to every peer (broadcastBeat). */
  private leavingTold = false

  /** The office this node last told its peers it held or left (office(), or a small cluster's heartbeat round that saw the change first). */
  private officeTold = false

  /** Whether the rounds' timers were armed for a large cluster. */
  private armedLarge = false

  /**
   * The period of the rounds: a heartbeat interval, and in a large cluster the beat's own period
   * (Membership.beatEvery intervals). A large cluster's round between two beats only looked for
   * what watchExpiry times to the instant anyway (a watched node's timeout, a probe's wait), and
   * let the master pass (its own timer wakes it for a schedule's instant, and a change of
   * membership at once); each woke an idle agent on its own, a quarter of its wake-ups (20
   * agents on one machine: 10 a second each, 7 since; with 2 watchers a node, membership.ts,
   * their CPU a fifth to a quarter less, docs/benchmarks.md Dec 6 22:15).
   */
  private roundMs: number

  /** The ring's change after the view changed, pending (rewatchSoon). */
  private rewatch: { cancel: () => void } | undefined

  /**
   * A large cluster's view changed: whom this node watches follows within REWATCH_MS (the changes
   * of those few ms together), not at the next round.
   */
  private rewatchSoon (): void {
    if (!this.gossip.large || this.rewatch !== undefined || this.stopped) return
    this.rewatch = this.clock.after(REWATCH_MS, () => {
      this.rewatch = undefined
      if (!this.stopped) this.gossip.watchNow(this.host.heartbeat(), true)
    })
  }

  stop (): void {
    this.stopped = true
    this.rewatch?.cancel()
    this.rewatch = undefined
    this.replication.stop()
    this.gossip.stop()
    for (const t of this.timers) t.stop()
    this.timers.length = 0
    this.expiry?.cancel()
    this.expiry = undefined
  }

  /** A connection to a peer opened. */
  connected (peer: string): void {
    this.membership.connected(peer)
    this.gossip.connected(peer, this.host.heartbeat())
    this.replication.pullNew(peer)
  }

  /** A peer's connections closed: false if this node hung up on it to bound the mesh (it is alive). */
  disconnected (peer: string): boolean {
    this.carried.forget(peer)
    return this.gossip.disconnected(peer)
  }

  /** A gossip message: events, or a heartbeat (on its own or carried on a frame of events). */
  gossiped (topic: string, data: unknown, from: string): void {
    if (topic === EVENTS_TOPIC) { this.replication.gossiped(data, from); return }
    if (topic === HEARTBEAT_TOPIC) {
      this.host.drain?.()
      if (typeof data === 'object' && data !== null) this.carried.heard(from, data)
      this.gossip.heartbeat(data, from)
    }
  }

  /** A membership message from a neighbour: false if it is not one. */
  told (msg: unknown, from: string): boolean {
    if (!isMembershipMessage(msg)) return false
    this.host.drain?.()
    this.gossip.message(msg, from, this.host.heartbeat)
    return true
  }

  /**
   * A small cluster's heartbeat round: the beat to every peer but those that had one carried on
   * an event frame within half an interval (carried-beats.ts).
   */
  private broadcastBeat (hb: Heartbeat): void {
    const now = this.clock.monotonic()
    // A change of office goes to every peer at once, not half an interval later.
    // (Told already by office(), the change needs no second beat to every peer; a round that
    // sees it first tells it, and office() then has nothing to tell.)
    const office = hb.master === true
    // (So does this node's leaving: leaving() is the one call that tells it.)
    const all = office !== this.officeTold || (hb.leaving === true && !this.leavingTold)
    this.officeTold = office
    if (hb.leaving === true) this.leavingTold = true
    const to = this.links.connectedPeers().filter(p => all || this.carried.beatTo(p, now))
    for (const p of to) this.carried.sent(p, now)
    if (to.length > 0) void this.links.publishRaw(HEARTBEAT_TOPIC, JSON.stringify(hb), to)
  }

  /** The peers (of `to`, or all connected) that a frame of events sent now should carry this node's heartbeat to, with it; undefined: none. */
  private beatToCarry (to: readonly string[] | undefined): CarriedMessage | undefined {
    if (this.gossip.large || !this.carried.on) return undefined
    const now = this.clock.monotonic()
    const due = (to ?? this.links.connectedPeers()).filter(p => this.carried.carryTo(p, now))
    if (due.length === 0) return undefined
    return { topic: HEARTBEAT_TOPIC, json: JSON.stringify(this.host.heartbeat()), to: new Set(due), queued: p => { this.carried.sent(p, now) } }
  }

  /**
   * Every node's rounds fall on the same grid (grid-timer.ts), so a peer's last beat arrived just
   * after a round's checks, and a silent peer would be found only a round after its timeout. A
   * small cluster: the pass again at the instant the first peer alive now would pass the timeout
   * unheard, if that comes before the next round; a large one: the watch round at the instant it
   * has something to do (Membership.nextWatchDue). Nothing is set while every peer beats on time:
   * no wake-up of its own.
   */
  private watchExpiry (): void {
    this.expiry?.cancel()
    this.expiry = undefined
    if (this.stopped) return
    const large = this.gossip.large
    const at = large ? this.membership.nextWatchDue() : this.membership.nextExpiry()
    if (at === undefined) return
    // (A large cluster: what was due by the instant the last watch round looked, it did.)
    if (large && at <= this.membership.watchedAt) return
    const wait = at - this.host.now() + (large ? 0 : 1)
    if (wait >= this.roundMs) return // (the next round comes first)
    this.expiry = this.clock.after(Math.max(0, wait), () => {
      this.expiry = undefined
      if (!large) { this.host.tick?.(); return }
      this.gossip.watchNow(this.host.heartbeat(), false)
      this.watchExpiry()
    })
  }
}

/**
 * A node's own phase within a period of `ms` (whole ms, from a hash of its ID: FNV-1a), the same
 * at every start. Of two periods where one divides the other, the phases agree modulo the
 * shorter: a node's anti-entropy round falls on one of its heartbeat rounds.
 */
export function phaseOf (id: string, ms: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0
  return h % Math.max(1, Math.floor(ms))
}
