// One node of the simulator: the agent's own mesh (cluster/mesh-core.ts: membership,
// replication with its batching, liveness gossip, heartbeats carried on event frames, rounds on
// the clock's grid), intake, reducer, election and master role (with the real scheduler), on
// the simulated network and the virtual clock instead of libp2p and real timers. What it
// leaves out: the store (its
// log is an array in memory, durable at once), signatures (the intake is told every event
// verifies), snapshots and the archive, the API, the fork server (a job "runs" for a virtual
// time and succeeds), probes of a closed peer's address (so a killed node's attempts are lost
// after lostAfter, not at once).
import { pino } from 'pino'
import type { LivenessGossip, MembershipMessage } from '../cluster/liveness-gossip.js'
import type { Membership, Heartbeat } from '../cluster/membership.js'
import type { Replication } from '../cluster/replication.js'
import { MeshCore } from '../cluster/mesh-core.js'
import { urgentPeers } from '../cluster/urgency.js'
import { EVENTS_TOPIC, HEARTBEAT_TOPIC } from '../net/topics.js'
import { electMaster } from '../election/master.js'
import { receive as hlcReceive, tick } from '../events/hlc.js'
import type { Hlc } from '../events/hlc.js'
import type { CisEvent, EventBodies, EventType, SubmitBody } from '../events/types.js'
import type { OwnAccept } from '../node/event-log.js'
import { acceptOf } from '../events/types.js'
import { Intake } from '../node/intake.js'
import { MasterRole } from '../node/master-role.js'
import { apply, carryAssigns, skipTo } from '../state/reducer.js'
import type { PlaceWithAccept } from '../state/reducer.js'
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
  /** A watched node beats to its watchers every this many heartbeat intervals (default: the agent's, BEAT_EVERY). */
  beatEvery?: number
  /** Replication's batch window (the agent's batchWindow; 0: none). */
  batchWindowMs: number
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

/** The simulated network's topic for a frame of events carrying a heartbeat (one message). */
const CARRIED = 'events+heartbeat'

export class SimNode implements Endpoint {
  readonly id: string
  state: ClusterState = emptyState()
  /** Its log: every origin's events by seq - 1 (what it serves to peers, and keeps over a restart). */
  readonly log: Map<string, CisEvent[]>
  readonly membership: Membership
  readonly replication: Replication
  /** Heartbeats, or liveness gossip in a large cluster: the agent's own wiring (liveness-gossip.ts). */
  readonly gossip: LivenessGossip
  /** The agent's mesh (mesh-core.ts), on the simulated network. */
  private readonly mesh: MeshCore
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
  /** The size of a beat in a message, about (bytes: the traffic counters). */
  private readonly beatBytes: number

  constructor (private readonly o: SimNodeOptions) {
    this.id = o.id
    this.log = o.log ?? new Map()
    const now = (): number => EPOCH + o.clock.now
    const self = o.id
    const log = this.log
    const net = o.net
    this.mesh = new MeshCore({
      id: self,
      log: silent,
      now,
      vector: () => this.state.applied,
      heartbeat: () => this.heartbeatNow(),
      receive: (e, from) => this.intake.receive(e, from),
      receiveMany: (events, from) => this.intake.receiveMany(events, from),
      eventsAfter: async function * (origin, seq) { for (const e of (log.get(origin) ?? []).slice(seq)) if (e !== undefined) yield e },
      skip: (k, from) => this.intake.skip(k, from),
      proof: (e, from) => this.intake.proof(e, from),
      gapProof: async () => undefined,
      membershipChanged: () => this.passSoon(),
      tick: () => this.passSoon(),
      knownPeers: () => Object.keys(this.state.nodes).map(id => ({ id, addresses: [] })),
      knownCount: () => { let n = 0; for (const _ in this.state.nodes) n++; return n }
    }, {
      connectedPeers: () => net.peers(self),
      connectedSince: peer => { const at = net.connectedSince(self, peer); return at === undefined ? undefined : EPOCH + at },
      publishRaw: async (topic, json, to, carry) => {
        for (const p of to ?? net.peers(self)) {
          // A heartbeat carried on a frame of events: one message (net/p2p.ts's frame with both keys).
          if (carry !== undefined && carry.to.has(p)) {
            if (net.send(self, p, CARRIED, { json, carried: carry.json }, json.length + carry.json.length)) carry.queued(p)
          } else {
            net.send(self, p, topic, json, json.length)
          }
        }
      },
      tell: (peer, msg) => { net.send(self, peer, 'membership', msg, this.bytesOf(msg)) },
      noticeAndHangUp: (peer, notice) => { net.send(self, peer, 'membership', notice, this.bytesOf(notice)); o.clock.after(5, () => net.hangUp(self, peer)) },
      hangUp: async peer => { net.hangUp(self, peer) },
      request: async (peer, req, onFrame, timeoutMs) => await net.request(self, peer, req, onFrame, timeoutMs),
      dial: async peer => { net.dial(self, peer) },
      dialAddr: async () => {}
    }, {
      // On the grid of the node's clock, at `phase` (virtual time; EPOCH is on every period's grid), as grid-timer.ts.
      every: (ms, fn, phase) => { const t = o.clock.every(ms, fn, ((phase - o.clock.now) % ms + ms) % ms || ms); return { stop: () => { t.cancel() } } },
      after: (ms, fn) => o.clock.after(ms, fn),
      monotonic: () => o.clock.now,
      pick: n => o.rng.int(n)
    }, {
      bootstrap: [],
      heartbeatIntervalMs: o.timing.heartbeatIntervalMs,
      heartbeatTimeoutMs: o.timing.heartbeatTimeoutMs,
      syncIntervalMs: o.timing.syncIntervalMs,
      batchWindowMs: o.timing.batchWindowMs,
      ...(o.timing.beatEvery !== undefined ? { beatEvery: o.timing.beatEvery } : {})
    })
    this.membership = this.mesh.membership
    this.replication = this.mesh.replication
    this.gossip = this.mesh.gossip
    this.beatBytes = JSON.stringify({ id: self, name: self, priority: o.priority, ts: EPOCH, master: true }).length + 1
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
      catchUp: () => this.replication.pullBehind(this.membership.alive()),
      unsettled: () => this.membership.unsettled(),
      append: async (t, b, place, own) => this.append(t, b, place, own)
    })
  }

  /** Start (or restart): replay the log, announce itself, dial the given peers, start the timers. */
  start (peers: string[]): void {
    this.running = true
    this.o.net.join(this.id, this)
    for (const list of this.log.values()) for (const e of list) if (e !== undefined) apply(this.state, e)
    this.seq = this.state.applied[this.id] ?? 0
    this.hlc = { ...this.state.clock }
    this.mesh.sizeFromLog()
    this.append('node', { name: this.id, priority: this.o.priority, profiles: [], resources: this.o.slots > 0 ? { slot: Array.from({ length: this.o.slots }, (_, i) => `s${i}`) } : {}, api: '', addresses: [], version: 'sim' })
    // As the executor bridge does after a crash (D-3): what ran here is lost, what was assigned runs now.
    for (const [jobId, byN] of Object.entries(this.state.attempts)) {
      for (const a of Object.values(byN)) {
        if ((a.ranOn ?? a.node) === this.id && a.state === 'running') this.append('finished', { jobId, attempt: a.n, state: 'lost', exitCode: null, signal: null, reason: 'the agent restarted while it ran' })
        else if (a.node === this.id && a.state === 'assigned') this.run(jobId, a.n)
      }
    }
    for (const p of peers) this.o.net.dial(this.id, p)
    this.mesh.start()
  }

  /** SIGKILL: everything in memory goes; the log stays (it is durable). */
  kill (): void {
    this.running = false
    for (const t of this.timers) t.cancel()
    this.timers.length = 0
    this.mesh.stop()
    this.intake.stop()
    this.role.revoke()
    this.o.net.kill(this.id)
  }

  master (): string | null {
    return electMaster([...this.membership.alive()].map(id => ({ id, priority: id === this.id ? this.o.priority : this.membership.priorityOf(id) ?? this.state.nodes[id]?.priority ?? 0 })))
  }

  /** Write one event of its own log: applied at once, sent with the others of this turn (a submit on the master carrying its accept, as event-log.ts writes it). */
  append<T extends EventType> (type: T, body: EventBodies[T], place?: PlaceWithAccept, own?: OwnAccept): CisEvent<T> {
    if (type === 'submit' && own !== undefined) {
      const accept = own.decide(this.state, body as SubmitBody)
      if (accept !== undefined) { body = { ...body, accept } as EventBodies[T]; place = own.place }
    }
    this.hlc = tick(this.hlc, EPOCH + Math.floor(this.o.clock.now))
    const e = { origin: this.id, seq: ++this.seq, ts: this.hlc.ts, lc: this.hlc.lc, type, body, sig: 'sim' } as CisEvent<T>
    this.store(e)
    this.applyEvents([e], place)
    this.forward(e)
    return e
  }

  /** Send with the other events of this turn (one gossip message). */
  private forward (e: CisEvent): void {
    if (this.outbox.push(e) === 1) {
      queueMicrotask(() => {
        const batch = this.outbox
        this.outbox = []
        if (this.running) this.replication.publishEvents(batch, urgentPeers(batch, this.master() ?? undefined))
      })
    }
  }

  /** About how many bytes a membership message takes (the traffic counters; not serialized to count). */
  private bytesOf (msg: MembershipMessage): number {
    return 16 + (Array.isArray(msg.beats) ? msg.beats.length * this.beatBytes : 0) + (msg.sum !== undefined ? 12 : 0) + (msg.down !== undefined ? 60 : 0) + (msg.prune === true ? 8 : 0) + (msg.watch === true || msg.unwatch === true ? 12 : 0)
  }

  private store (e: CisEvent): void {
    let list = this.log.get(e.origin)
    if (list === undefined) this.log.set(e.origin, list = [])
    list[e.seq - 1] = e
  }

  private applyEvents (events: CisEvent[], place?: PlaceWithAccept): void {
    if (!this.running) return
    const now = EPOCH + Math.floor(this.o.clock.now)
    for (const e of events) {
      if (e.origin !== this.id) {
        this.hlc = hlcReceive(this.hlc, e, now)
        this.store(e)
      }
      apply(this.state, e)
      if (place !== undefined && (e.type === 'accept' || e.type === 'submit')) carryAssigns(this.state, e as CisEvent<'accept'> | CisEvent<'submit'>, place)
      this.o.applied?.(this, e)
      if (e.type === 'assign' && (e as CisEvent<'assign'>).body.node === this.id) this.run((e as CisEvent<'assign'>).body.jobId, (e as CisEvent<'assign'>).body.attempt)
      for (const a of acceptOf(e)?.body.assign ?? []) if (a.node === this.id) this.run(a.jobId, a.attempt)
    }
    this.gossip.relay(events.filter(e => e.origin !== this.id))
    this.passSoon()
  }

  /** An attempt assigned here: it starts at once and succeeds after jobMs. */
  private run (jobId: string, attempt: number): void {
    const t = this.o.clock.after(0, () => { if (this.running) this.append('started', { jobId, attempt, pid: 1 }) })
    const f = this.o.clock.after(this.o.timing.jobMs, () => { if (this.running) this.append('finished', { jobId, attempt, state: 'succeeded', exitCode: 0, signal: null }) })
    this.timers.push(t, f)
  }

  /** As the agent's (node.ts): it reads beats carried on frames of events. */
  private heartbeatNow (): Heartbeat {
    return { id: this.id, name: this.id, priority: this.o.priority, vector: { ...this.state.applied }, ts: EPOCH + this.o.clock.now, master: this.role.established, carried: true }
  }

  private passSoon (): void {
    if (this.passQueued || !this.running) return
    this.passQueued = true
    this.o.clock.after(0, () => {
      this.passQueued = false
      if (!this.running) return
      this.following = this.master()
      this.role.follow(this.following, id => id)
      this.mesh.office(this.role.established)
      this.role.pass()
    })
  }

  // ---- Endpoint (the network calls these) ----

  message (from: string, topic: string, data: unknown): void {
    if (!this.running) return
    if (topic === 'membership') {
      this.mesh.told(data, from)
    } else if (topic === CARRIED) {
      // As net/p2p.ts reads such a frame: the events, then the heartbeat (which counts them).
      const f = data as { json: string, carried: string }
      try {
        this.mesh.gossiped(EVENTS_TOPIC, JSON.parse(f.json), from)
      } finally {
        this.mesh.gossiped(HEARTBEAT_TOPIC, JSON.parse(f.carried), from)
      }
    } else {
      this.mesh.gossiped(topic, JSON.parse(data as string), from)
    }
  }

  connected (peer: string): void {
    if (!this.running) return
    this.mesh.connected(peer)
  }

  disconnected (peer: string): void {
    if (!this.running) return
    this.mesh.disconnected(peer)
  }

  serve (req: unknown): AsyncIterable<unknown> { return this.replication.serve(req) }
}
