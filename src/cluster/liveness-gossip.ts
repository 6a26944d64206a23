// How a node tells its neighbours who is alive, one wiring for every transport: the agent's
// libp2p mesh (mesh.ts) and the simulator's network (src/sim) both drive this class, so the
// simulator's figures are those of the agent's code. Up to LARGE_CLUSTER nodes a full mesh:
// the heartbeat goes to every peer. Above, the watch ring (membership.ts): this node's beat to
// the few nodes that watch it each interval, watch requests and probes to the nodes it
// watches, down notices and status changes flooded; a bounded mesh (pruned far above
// TARGET_PEERS, never the ring's links); peers' new events relayed to the neighbours, since
// they do not all hear the origin.
import type { CisEvent } from '../events/types.js'
import { MAX_BEATS, TARGET_PEERS, beatOf } from './membership.js'
import type { Beat, Down, Heartbeat, Membership } from './membership.js'
import type { Replication } from './replication.js'
import { vectorSum } from './replication.js'

/**
 * A membership message between neighbours (all but the indirect probe: of a large cluster): beats (a watched node's to its
 * watchers, all a node knows to a new neighbour, status changes flooded), the sender's sum of
 * its version vector, down notices (`downs`: those flooded together; `down`: one, as sent before),
 * a hang-up to bound the mesh, a watch request (beat to me;
 * answered at once) or its end, a request for the notices a node back from isolation missed
 * (`sync`: answered with `downs`), an indirect probe (`vouchFor`: do you hear this node? answered
 * in a large cluster with its beat, in a small one with `vouch`: {id, ageMs}, if so).
 */
export interface MembershipMessage { cis: 'membership', beats?: unknown, sum?: unknown, down?: unknown, downs?: unknown, prune?: true, watch?: true, unwatch?: true, sync?: true, vouchFor?: unknown, vouch?: unknown }
export const isMembershipMessage = (x: unknown): x is MembershipMessage => (x as MembershipMessage)?.cis === 'membership'

/** What a membership message is, for counting (metrics): its first part of these, in this order. */
export const MEMBERSHIP_KINDS = ['watch', 'unwatch', 'prune', 'sync', 'vouchFor', 'vouch', 'downs', 'down', 'beats'] as const
export const membershipKind = (msg: MembershipMessage): string => MEMBERSHIP_KINDS.find(k => msg[k] !== undefined) ?? 'other'

/** This node's beat alone, with the sum of its version vector (to its watchers, in answer to a watch request, the backstop). */
const beatMessage = (hb: Heartbeat): MembershipMessage => ({ cis: 'membership', beats: [beatOf(hb)], sum: vectorSum(hb.vector) })

/** What the transport gives the gossip. */
export interface GossipLinks {
  /** Peers connected now. */
  peers: () => string[]
  /** Best effort, one message to one neighbour. */
  send: (peer: string, msg: MembershipMessage) => void
  /** A heartbeat to every peer (a small cluster). */
  broadcast: (hb: Heartbeat) => void
  /** Tell a neighbour `notice`, then hang up on it (to bound the mesh). */
  hangUp: (peer: string, notice: MembershipMessage) => void
  /** Connect to a known node (resolves when connected or failed). */
  dial: (peer: string) => Promise<void> | void
  /** Run fn after ms (a timer of the transport's clock). */
  after: (ms: number, fn: () => void) => void
  /** A random whole number in [0, n). */
  pick: (n: number) => number
}

/** How long a large cluster's node gathers peers' events before it relays them (one message). */
export const RELAY_MS = 5

/**
 * What a node floods goes out at once when nothing went out within FLOOD_MS; what comes within
 * FLOOD_MS of a flood message waits for the end of it and goes in one message a neighbour. One
 * node's death costs no delay; a partition of half of a large cluster (a notice about each far
 * node, forwarded by every node) costs a few messages a neighbour, not one a notice.
 */
export const FLOOD_MS = 5
/** A small cluster's node asks this many other peers about a peer it no longer hears. */
export const HELPERS = 2
/** Beats or notices in one flood message at most (more go in more messages). */
export const FLOOD_CHUNK = 1000

/** Beats and notices waiting to be flooded, and the neighbour they came from (it is not sent them back). */
interface FloodItem { beats?: Beat[], downs?: Down[], except?: string }

export class LivenessGossip {
  /** Over LARGE_CLUSTER nodes: liveness gossip, a bounded mesh, events relayed. */
  large = false
  /** Peers hung up on (by us or them) to keep the mesh bounded: their close is no death. */
  private readonly pruned = new Set<string>()
  private relayed: CisEvent[] = []
  private stopped = false
  private flood: FloodItem[] = []
  /** queued: a flood message goes out next tick; cooling: one went out within FLOOD_MS. */
  private flooding: 'idle' | 'queued' | 'cooling' = 'idle'

  constructor (
    private readonly membership: Membership,
    private readonly replication: Replication,
    private readonly links: GossipLinks
  ) {}

  stop (): void { this.stopped = true }

  /** Size the cluster (known nodes): large or not. */
  size (known: number): boolean {
    this.large = this.membership.sized(known)
    return this.large
  }

  /**
   * Every round (mesh-core.ts): the heartbeat to every peer (a small cluster, every interval), or
   * its own watch round (a large one, every Membership.beatEvery intervals; its beat to the nodes
   * that watch it follows in the same round: beatWatchers).
   */
  beat (hb: Heartbeat, known: number): void {
    if (!this.size(known)) { this.links.broadcast(hb); this.askAboutFading(); return }
    const own = beatOf(hb)
    // Just grown large (here or at an earlier size()): the neighbours get what a new connection gets.
    if (this.membership.grewLarge()) for (const p of this.links.peers()) this.links.send(p, { cis: 'membership', beats: this.membership.beatsFor(p, own), sum: vectorSum(hb.vector) })
    this.watchRound(own)
  }

  /**
   * A large cluster: this node's beat to the nodes that watch it, in each round (every
   * Membership.beatEvery heartbeat intervals), on the clock's grid (mesh-core.ts): every node's beats go out at the
   * same instants, so a watcher hears those of the nodes it watches in one wake-up, not in one
   * each (a new watcher had a beat at once, in answer to its request).
   */
  beatWatchers (hb: Heartbeat): void {
    if (!this.large) return
    const msg = beatMessage(hb)
    for (const p of this.membership.watchersOf()) this.links.send(p, msg)
  }

  /**
   * A small cluster: for each peer silent past half the timeout, ask two other peers whether
   * they hear it. A dead peer is silent to them too (their answer changes nothing); a peer only
   * this node cannot hear stays alive here.
   */
  private askAboutFading (): void {
    const fading = this.membership.fading()
    if (fading.length === 0) return
    const peers = this.links.peers()
    for (const id of fading) {
      for (const h of this.sample(peers.filter(p => p !== id && this.membership.isAlive(p)), HELPERS)) this.links.send(h, { cis: 'membership', vouchFor: id })
    }
  }

  /**
   * This node took or left the office: every neighbour hears it now, not at the next round (a
   * large cluster's neighbours flood the change on, as any change of office).
   */
  officeChanged (hb: Heartbeat): void {
    if (!this.large) { this.links.broadcast(hb); return }
    const msg = beatMessage(hb)
    for (const p of this.links.peers()) this.links.send(p, msg)
  }

  /**
   * A large cluster's watch round between the timed ones (the rounds fall on the clock's grid, at
   * the same instant at every node): `ringOnly` after its view changed (a node came, went or
   * changed office), the ring's change now (watch requests, dials, unwatch), not a whole interval
   * a hop later (mesh-core.ts rewatchSoon); whole when a watched node's timeout or probe's wait
   * ends (Membership.nextWatchDue).
   */
  watchNow (hb: Heartbeat, ringOnly: boolean): void {
    if (this.large && !this.stopped) this.watchRound(beatOf(hb), ringOnly)
  }

  /** Ask the nodes this node begins to watch (or probes) to beat to it; tell those it stopped watching; flood what it holds down. */
  private watchRound (own: Beat, ringOnly = false): void {
    const round = this.membership.watch(ringOnly)
    const peers = new Set(this.links.peers())
    // A watch request carries the watcher's beat: the watched node may not know it yet.
    const request: MembershipMessage = { cis: 'membership', beats: [own], watch: true }
    for (const id of [...round.start, ...round.probe]) {
      if (peers.has(id)) this.links.send(id, request)
      else void this.dialToWatch(id, request)
    }
    for (const v of round.vouch) for (const h of v.helpers) if (peers.has(h)) this.links.send(h, { cis: 'membership', vouchFor: v.id })
    for (const id of round.stop) if (peers.has(id)) this.links.send(id, { cis: 'membership', unwatch: true })
    if (round.down.length > 0) this.toAll({ downs: round.down })
  }

  /** Connect to a node to watch it; one that cannot be reached has as good as not answered its probe. */
  private async dialToWatch (id: string, request: MembershipMessage): Promise<void> {
    try { await this.links.dial(id) } catch {}
    if (this.stopped || !this.membership.watches(id)) return
    if (this.links.peers().includes(id)) this.links.send(id, request)
    else this.membership.unreachable(id)
  }

  /**
   * Every sync interval (a large cluster): this node's beat to one random neighbour, the
   * backstop for a node that some peers never heard of (a message lost on a connection's first
   * moments): a node new to the neighbour is news there, and floods.
   */
  refresh (hb: Heartbeat): void {
    if (!this.large) return
    for (const p of this.sample(this.links.peers(), 1)) this.links.send(p, beatMessage(hb))
  }

  /** A peer's heartbeat (small cluster). */
  heartbeat (data: unknown, from: string): void {
    if (this.membership.heard(data, from)) this.replication.peerVector(from, data.vector)
  }

  /** A neighbour's beats, down notices, hang-up, watch request (large clusters) or indirect probe and its answer; `own` is this node's heartbeat now. */
  message (msg: MembershipMessage, from: string, own: () => Heartbeat): void {
    // Back from isolation (a stalled process, a cut link): ask for the notices that passed it by.
    if (this.membership.heardFrom() && this.large) this.links.send(from, { cis: 'membership', sync: true })
    if (msg.beats !== undefined) {
      const changed = this.membership.mergeBeats(msg.beats, from)
      if (typeof msg.sum === 'number') this.replication.peerSum(from, msg.sum)
      // A node came, came back or changed office: everyone should know now, not in a few rounds.
      if (changed.length > 0) this.toAll({ beats: changed, except: from })
    }
    const downs = msg.downs !== undefined ? msg.downs : msg.down !== undefined ? [msg.down] : []
    if (!Array.isArray(downs) || downs.length > MAX_BEATS) this.membership.malformed('a batch of down notices', from)
    else if (downs.length > 0) {
      const news: Down[] = []
      let refute = false
      for (const d of downs) {
        const r = this.membership.downNotice(d, from)
        if (r === true) news.push({ id: (d as Down).id, ts: (d as Down).ts }) // (only what a notice is goes on)
        else if (r === 'self') refute = true
      }
      if (news.length > 0) this.toAll({ downs: news, except: from })
      if (refute) this.toAll({ beats: [beatOf(own())] })
    }
    if (msg.sync === true && this.large) {
      const downs = this.membership.downsHere()
      for (let i = 0; i < downs.length; i += FLOOD_CHUNK) this.links.send(from, { cis: 'membership', downs: downs.slice(i, i + FLOOD_CHUNK) })
    }
    if (msg.vouchFor !== undefined) {
      if (this.large) {
        const b = this.membership.vouchFor(msg.vouchFor)
        if (b !== undefined) this.links.send(from, { cis: 'membership', beats: [b] })
      } else {
        const ageMs = this.membership.heardAgo(msg.vouchFor)
        if (ageMs !== undefined) this.links.send(from, { cis: 'membership', vouch: { id: msg.vouchFor, ageMs } })
      }
    }
    if (msg.vouch !== undefined && !this.large) {
      const v = msg.vouch as { id?: unknown, ageMs?: unknown } | null
      this.membership.vouched(v?.id, v?.ageMs, from)
    }
    if (msg.prune === true) this.pruned.add(from)
    if (msg.unwatch === true) this.membership.unwatchedBy(from)
    if (msg.watch === true) {
      this.membership.watchedBy(from)
      this.links.send(from, beatMessage(own()))
    }
  }

  /**
   * A new connection (a large cluster): the peer gets this node's fresh beat and the beats of
   * every node alive here, so a node that was cut off, restarted or joined hears the cluster in
   * one message, and is alive again on the other side at once (its beat is newer than any
   * notice about it, and floods as news); and a watch request if this node watches the peer.
   */
  connected (peer: string, own: Heartbeat): void {
    if (!this.large) return
    this.links.send(peer, { cis: 'membership', beats: this.membership.beatsFor(peer, beatOf(own)), sum: vectorSum(own.vector), ...(this.membership.watches(peer) ? { watch: true } : {}) })
  }

  /**
   * A connection closed: false if it was a hang-up to bound the mesh (the peer is alive). A
   * large cluster's node left with fewer than TARGET_PEERS neighbours dials more at once: the
   * neighbours that pruned it may all have done so in the same round, and a node without
   * neighbours hears no beat (it would hold every node down, and be held down, until the next
   * anti-entropy round redialled).
   */
  disconnected (peer: string): boolean {
    const pruned = this.pruned.delete(peer)
    if (!pruned) {
      this.membership.disconnected(peer)
      if (this.large) this.toAll({ downs: [this.membership.downOf(peer)] })
    }
    if (this.large && !this.stopped && this.links.peers().length < TARGET_PEERS) this.replication.topUp()
    return !pruned
  }

  /** A large cluster keeps its mesh bounded: far above the target, hang up on random extra peers (telling them first), never on the ring's. */
  prune (): void {
    if (!this.large) return
    const peers = this.links.peers()
    if (peers.length <= 3 * TARGET_PEERS) return
    const ring = this.membership.ringPeers()
    const extra = peers.filter(p => !ring.has(p))
    for (const p of this.sample(extra, Math.min(extra.length, peers.length - 2 * TARGET_PEERS))) {
      this.pruned.add(p)
      this.links.hangUp(p, { cis: 'membership', prune: true })
    }
  }

  /**
   * Peers' new events, in a large cluster: on to the neighbours (the mesh is not full), those
   * that come within RELAY_MS in one message.
   */
  relay (events: CisEvent[]): void {
    if (!this.large || events.length === 0) return
    if (this.relayed.length === 0) {
      this.links.after(RELAY_MS, () => {
        const batch = this.relayed
        this.relayed = []
        if (!this.stopped) this.replication.publishEvents(batch)
      })
    }
    this.relayed.push(...events)
  }

  /** Flood beats or notices to every neighbour (but the one they came from): at once, or with what else comes within FLOOD_MS (FLOOD_MS). */
  private toAll (item: FloodItem): void {
    this.flood.push(item)
    if (this.flooding !== 'idle') return
    this.flooding = 'queued'
    this.links.after(0, () => { this.flush() })
  }

  private flush (): void {
    const items = this.flood
    this.flood = []
    if (this.stopped || items.length === 0) { this.flooding = 'idle'; return }
    for (const p of this.links.peers()) {
      // The newest beat and notice about each node, of those that did not come from p.
      const beats = new Map<string, Beat>()
      const downs = new Map<string, Down>()
      for (const it of items) {
        if (it.except === p) continue
        for (const b of it.beats ?? []) if ((beats.get(b.id)?.ts ?? -Infinity) < b.ts) beats.set(b.id, b)
        for (const d of it.downs ?? []) if ((downs.get(d.id)?.ts ?? -Infinity) < d.ts) downs.set(d.id, d)
      }
      const b = [...beats.values()]
      const d = [...downs.values()]
      for (let i = 0; i < Math.max(b.length, d.length); i += FLOOD_CHUNK) {
        const msg: MembershipMessage = { cis: 'membership' }
        if (i < b.length) msg.beats = b.slice(i, i + FLOOD_CHUNK)
        if (i < d.length) msg.downs = d.slice(i, i + FLOOD_CHUNK)
        this.links.send(p, msg)
      }
    }
    this.flooding = 'cooling'
    this.links.after(FLOOD_MS, () => { this.flush() })
  }

  /** k of `from` at random (all if fewer). */
  private sample (from: string[], k: number): string[] {
    const pool = [...from]
    const out: string[] = []
    while (out.length < k && pool.length > 0) out.push(pool.splice(this.links.pick(pool.length), 1)[0])
    return out
  }
}
