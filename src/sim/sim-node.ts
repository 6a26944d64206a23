// One node of the simulator: the real membership, replication (gossip + anti-entropy), intake,
// reducer, election and master role (with the real scheduler), wired to the simulated network
// and the virtual clock instead of libp2p and real timers. What it leaves out: the store (its
// log is an array in memory, durable at once), signatures (the intake is told every event
// verifies), snapshots and the archive, the API, the fork server (a job "runs" for a virtual
// time and succeeds), probes of a closed peer's address (so a killed node's attempts are lost
// after lostAfter, not at once).
import { pino } from 'pino'
import { BEAT_FANOUT, Membership, TARGET_PEERS } from '../cluster/membership.js'
import type { Beat, Heartbeat } from '../cluster/membership.js'
import { Replication, vectorSum } from '../cluster/replication.js'
import { electMaster } from '../election/master.js'
import { receive as hlcReceive, tick } from '../events/hlc.js'
import type { Hlc } from '../events/hlc.js'
import type { CisEvent, EventBodies, EventType } from '../events/types.js'
import { Intake } from '../node/intake.js'
import { MasterRole } from '../node/master-role.js'
import { apply, skipTo } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { emptyState } from '../state/types.js'
import { shortCode } from '../util/ids.js'
import type { AgentConfig } from '../config/config.js'
import type { VirtualClock } from './clock.js'
import type { Endpoint, SimNetwork } from './network.js'
import type { Random } from './random.js'

/** Virtual time 0 is this wall-clock time (events carry real-looking times). */
export const EPOCH = 1_767_225_600_000 // 2026-01-01T00:00:00Z

export interface SimTiming {
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  syncIntervalMs: number
  /** How long a job runs. */
  jobMs: number
}

export interface SimNodeOptions {
  id: string
  priority: number
  /** Slots this node offers (resource `slot`); 0: it runs nothing. */
  slots: number
  clock: VirtualClock
  net: SimNetwork
  rng: Random
  timing: SimTiming
  scheduler: AgentConfig['scheduler']
  /** What its log held before a restart (durable). */
  log?: Map<string, CisEvent[]>
  /** Every event applied here, as it is applied (the scenario's probes). */
  applied?: (node: SimNode, e: CisEvent) => void
}

const silent = pino({ level: 'silent' })

/** How long a large cluster's node gathers peers' events before it relays them (one message). */
const RELAY_MS = 5

export class SimNode implements Endpoint {
  readonly id: string
  state: ClusterState = emptyState()
  /** Its log: every origin's events by seq - 1 (what it serves to peers, and keeps over a restart). */
  readonly log: Map<string, CisEvent[]>
  readonly membership: Membership
  readonly replication: Replication
  private readonly intake: Intake
  readonly role: MasterRole
  private seq = 0
  private hlc: Hlc = { ts: 0, lc: 0 }
  private outbox: CisEvent[] = []
  private passQueued = false
  private readonly timers: Array<{ cancel: () => void }> = []
  running = false
  /** The master this node followed at its last pass. */
  following: string | null = null
  /** The cluster is large: liveness gossip, a bounded mesh, events relayed (membership.ts). */
  large = false
  /** Peers this node or the peer hung up on to keep the mesh bounded: their close is no death. */
  private readonly pruned = new Set<string>()

  constructor (private readonly o: SimNodeOptions) {
    this.id = o.id
    this.log = o.log ?? new Map()
    const now = (): number => EPOCH + o.clock.now
    this.membership = new Membership({ self: o.id, log: silent, now, heartbeatIntervalMs: o.timing.heartbeatIntervalMs, timeoutMs: o.timing.heartbeatTimeoutMs, changed: () => this.passSoon() })
    const self = o.id
    const log = this.log
    this.replication = new Replication({
      self,
      log: silent,
      eventsTopic: 'events',
      bootstrap: [],
      vector: () => this.state.applied,
      receive: (e, from) => this.intake.receive(e, from),
      eventsAfter: async function * (origin, seq) { for (const e of (log.get(origin) ?? []).slice(seq)) if (e !== undefined) yield e },
      skip: (k, from) => this.intake.skip(k, from),
      proof: (e, from) => this.intake.proof(e, from),
      gapProof: async () => undefined,
      knownPeers: () => Object.keys(this.state.nodes).map(id => ({ id, addresses: [] })),
      pick: n => o.rng.int(n),
      targetPeers: () => this.large ? TARGET_PEERS : undefined
    }, {
      publishRaw: async (topic, json) => { for (const p of o.net.peers(self)) o.net.send(self, p, topic, json, json.length) },
      request: async (peer, req, onFrame, timeoutMs) => await o.net.request(self, peer, req, onFrame, timeoutMs),
      connectedPeers: () => o.net.peers(self),
      dial: async peer => { o.net.dial(self, peer) },
      dialAddr: async () => {}
    })
    this.intake = new Intake({
      self,
      log: silent,
      applied: () => this.state.applied,
      stored: async (origin, s) => log.get(origin)?.[s - 1],
      deliver: events => this.applyEvents(events),
      pull: from => this.replication.pull(from),
      cuts: () => this.state.cuts,
      skip: (origin, to) => skipTo(this.state, origin, to),
      verify: () => true
    })
    this.role = new MasterRole({
      self,
      code: shortCode(self),
      log: silent,
      now: () => EPOCH + Math.floor(o.clock.now),
      scheduler: o.scheduler,
      state: () => this.state,
      alive: () => this.membership.alive(),
      silent: () => this.membership.silence(Object.keys(this.state.nodes)),
      behind: () => this.replication.behind(this.membership.alive()),
      unsettled: () => this.membership.unsettled(),
      append: async (t, b) => this.append(t, b)
    })
  }

  /** Start (or restart): replay the log, announce itself, dial the given peers, start the timers. */
  start (peers: string[]): void {
    this.running = true
    this.o.net.join(this.id, this)
    for (const list of this.log.values()) for (const e of list) if (e !== undefined) apply(this.state, e)
    this.seq = this.state.applied[this.id] ?? 0
    this.hlc = { ...this.state.clock }
    // Known to be large from its log: it must not dial every node it knows (membership.ts).
    this.large = this.membership.sized(Object.keys(this.state.nodes).length)
    this.append('node', { name: this.id, priority: this.o.priority, profiles: [], resources: this.o.slots > 0 ? { slot: Array.from({ length: this.o.slots }, (_, i) => `s${i}`) } : {}, api: '', addresses: [], version: 'sim' })
    // As the executor bridge does after a crash (D-3): what ran here is lost, what was assigned runs now.
    for (const [jobId, byN] of Object.entries(this.state.attempts)) {
      for (const a of Object.values(byN)) {
        if ((a.ranOn ?? a.node) === this.id && a.state === 'running') this.append('finished', { jobId, attempt: a.n, state: 'lost', exitCode: null, signal: null, reason: 'the agent restarted while it ran' })
        else if (a.node === this.id && a.state === 'assigned') this.run({ body: { jobId, attempt: a.n } } as CisEvent<'assign'>)
      }
    }
    for (const p of peers) this.o.net.dial(this.id, p)
    const t = this.o.timing
    // Timers start at a random phase, as real agents started at different times do.
    this.timers.push(this.o.clock.every(t.heartbeatIntervalMs, () => this.heartbeat(), this.o.rng.next() * t.heartbeatIntervalMs))
    this.timers.push(this.o.clock.every(t.syncIntervalMs, () => { this.prune(); this.replication.antiEntropy() }, this.o.rng.next() * t.syncIntervalMs))
    this.timers.push(this.o.clock.every(t.heartbeatIntervalMs, () => this.passSoon(), this.o.rng.next() * t.heartbeatIntervalMs))
  }

  /** SIGKILL: everything in memory goes; the log stays (it is durable). */
  kill (): void {
    this.running = false
    for (const t of this.timers) t.cancel()
    this.timers.length = 0
    this.replication.stop()
    this.intake.stop()
    this.role.revoke()
    this.o.net.kill(this.id)
  }

  master (): string | null {
    return electMaster([...this.membership.alive()].map(id => ({ id, priority: id === this.id ? this.o.priority : this.membership.priorityOf(id) ?? this.state.nodes[id]?.priority ?? 0 })))
  }

  /** Write one event of its own log: applied at once, sent with the others of this turn. */
  append<T extends EventType> (type: T, body: EventBodies[T]): CisEvent<T> {
    this.hlc = tick(this.hlc, EPOCH + Math.floor(this.o.clock.now))
    const e = { origin: this.id, seq: ++this.seq, ts: this.hlc.ts, lc: this.hlc.lc, type, body, sig: 'sim' } as CisEvent<T>
    this.store(e)
    this.applyEvents([e])
    this.forward(e)
    return e
  }

  private relayed: CisEvent[] = []

  /** Relay a peer's event to the neighbours, with those that come within RELAY_MS (one message). */
  private relay (e: CisEvent): void {
    if (this.relayed.push(e) === 1) {
      this.o.clock.after(RELAY_MS, () => {
        const batch = this.relayed
        this.relayed = []
        if (this.running) this.replication.publishEvents(batch)
      })
    }
  }

  /** Send with the other events of this turn (one gossip message). */
  private forward (e: CisEvent): void {
    if (this.outbox.push(e) === 1) {
      queueMicrotask(() => {
        const batch = this.outbox
        this.outbox = []
        if (this.running) this.replication.publishEvents(batch)
      })
    }
  }

  /** Send to every neighbour (but `except`). */
  private toAll (topic: string, data: unknown, bytes: number, except?: string): void {
    for (const p of this.o.net.peers(this.id)) if (p !== except) this.o.net.send(this.id, p, topic, data, bytes)
  }

  private beat (): Beat {
    return { id: this.id, name: this.id, priority: this.o.priority, ts: EPOCH + this.o.clock.now, ...(this.role.established ? { master: true } : {}) }
  }

  /** A large cluster keeps its mesh bounded: far above the target, hang up on random extra peers (telling them first). */
  private prune (): void {
    if (!this.large) return
    const peers = this.o.net.peers(this.id)
    if (peers.length <= 3 * TARGET_PEERS) return
    for (const p of this.o.rng.sample(peers, peers.length - 2 * TARGET_PEERS)) {
      this.pruned.add(p)
      this.o.net.send(this.id, p, 'prune', null, 8)
      this.o.clock.after(5, () => this.o.net.hangUp(this.id, p))
    }
  }

  private store (e: CisEvent): void {
    let list = this.log.get(e.origin)
    if (list === undefined) this.log.set(e.origin, list = [])
    list[e.seq - 1] = e
  }

  private applyEvents (events: CisEvent[]): void {
    if (!this.running) return
    const now = EPOCH + Math.floor(this.o.clock.now)
    for (const e of events) {
      if (e.origin !== this.id) {
        this.hlc = hlcReceive(this.hlc, e, now)
        this.store(e)
        // A large cluster's events go on from neighbour to neighbour (the mesh is not full),
        // those of a few ms together.
        if (this.large) this.relay(e)
      }
      apply(this.state, e)
      this.o.applied?.(this, e)
      if (e.type === 'assign' && (e as CisEvent<'assign'>).body.node === this.id) this.run(e as CisEvent<'assign'>)
    }
    this.passSoon()
  }

  /** An attempt assigned here: it starts at once and succeeds after jobMs. */
  private run (e: CisEvent<'assign'>): void {
    const { jobId, attempt } = e.body
    const t = this.o.clock.after(0, () => { if (this.running) this.append('started', { jobId, attempt, pid: 1 }) })
    const f = this.o.clock.after(this.o.timing.jobMs, () => { if (this.running) this.append('finished', { jobId, attempt, state: 'succeeded', exitCode: 0, signal: null }) })
    this.timers.push(t, f)
  }

  private heartbeat (): void {
    this.large = this.membership.sized(Object.keys(this.state.nodes).length)
    if (this.large) {
      // Beats to a few random neighbours, with every beat learned since the last batch to each.
      const own = this.beat()
      const size = JSON.stringify(own).length + 1
      const sum = vectorSum(this.state.applied)
      for (const p of this.o.rng.sample(this.o.net.peers(this.id), BEAT_FANOUT)) {
        const beats = this.membership.beatsFor(p, own)
        this.o.net.send(this.id, p, 'beats', { beats, sum }, 16 + beats.length * size)
      }
      return
    }
    const hb: Heartbeat = { id: this.id, name: this.id, priority: this.o.priority, vector: { ...this.state.applied }, ts: EPOCH + this.o.clock.now, master: this.role.established }
    const bytes = JSON.stringify(hb).length
    for (const p of this.o.net.peers(this.id)) this.o.net.send(this.id, p, 'hb', hb, bytes)
  }

  private passSoon (): void {
    if (this.passQueued || !this.running) return
    this.passQueued = true
    this.o.clock.after(0, () => {
      this.passQueued = false
      if (!this.running) return
      this.following = this.master()
      this.role.follow(this.following, id => id)
      this.role.pass()
    })
  }

  // ---- Endpoint (the network calls these) ----

  message (from: string, topic: string, data: unknown): void {
    if (!this.running) return
    if (topic === 'hb') {
      if (this.membership.heard(data, from)) this.replication.peerVector(from, (data as Heartbeat).vector)
    } else if (topic === 'beats') {
      const m = data as { beats?: unknown, sum?: unknown }
      const changed = this.membership.mergeBeats(m.beats, from)
      if (typeof m.sum === 'number') this.replication.peerSum(from, m.sum)
      // A node came, came back or changed office: everyone should know now, not in a few rounds.
      if (changed.length > 0) this.toAll('beats', { beats: changed }, 16 + changed.length * 80, from)
    } else if (topic === 'down') {
      const r = this.membership.downNotice(data, from)
      if (r === true) this.toAll('down', data, 60, from)
      else if (r === 'self') this.toAll('beats', { beats: [this.beat()] }, 100)
    } else if (topic === 'prune') {
      this.pruned.add(from)
    } else if (topic === 'events') {
      this.replication.gossiped(JSON.parse(data as string), from)
    }
  }

  connected (peer: string): void {
    if (!this.running) return
    this.membership.connected(peer)
    this.replication.pull(peer)
  }

  disconnected (peer: string): void {
    if (!this.running) return
    if (this.pruned.delete(peer)) return // a hang-up to bound the mesh: the peer is alive
    this.membership.disconnected(peer)
    if (this.large) this.toAll('down', this.membership.downOf(peer), 60)
  }

  serve (req: unknown): AsyncIterable<unknown> { return this.replication.serve(req) }
}
