// The node: wires the pure core (reducer, scheduler, election) to the shell (event store,
// executor, API). Every state change goes through `append`: signed, applied, persisted.
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import type { AgentConfig } from '../config/config.js'
import { electMaster, nextTerm } from '../election/master.js'
import { aliveSet, lostSet } from '../election/membership.js'
import { asEvent } from '../events/check.js'
import type { CisEvent, EventBodies, EventType, NodeBody, UnsignedEvent } from '../events/types.js'
import { eventKey } from '../events/types.js'
import { receive as hlcReceive, tick } from '../events/hlc.js'
import { Executor, killLeftover } from '../exec/executor.js'
import { Spawner } from '../exec/spawner.js'
import { attemptPaths } from '../exec/files.js'
import type { NodeIdentity } from '../identity/keys.js'
import { loadOrCreateIdentity, signEvent, verifyEvent } from '../identity/keys.js'
import { loadOrCreateSwarmKey } from '../net/swarm-key.js'
import { Mesh } from '../cluster/mesh.js'
import type { Heartbeat } from '../cluster/mesh.js'
import type { EventStore } from '../store/event-store.js'
import { SNAPSHOT_VERSION } from '../store/event-store.js'
import { LevelEventStore } from '../store/level-store.js'
import { schedule } from '../scheduler/schedule.js'
import type { Decision } from '../scheduler/schedule.js'
import type { JoblistSpec } from '../spec/types.js'
import { apply } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { emptyState, FINAL_JOBLIST_STATES } from '../state/types.js'
import { readLogChunk } from '../exec/job-output.js'
import { shortCode } from '../util/ids.js'
import { NodeRecords } from './records.js'

export const VERSION = '0.1.0'

/** How long a master waits to catch up with its peers before it decides anyway. */
const BEHIND_LIMIT_MS = 2000

/** Events after which the master may have something new to decide. */
const SCHEDULING_EVENTS: ReadonlySet<string> = new Set(['node', 'submit', 'stop', 'accept', 'finished', 'lose', 'master'])

interface Pending { event: CisEvent, resolve: () => void, reject: (e: Error) => void }


export interface NodeOptions {
  config: AgentConfig
  log: Logger
  store?: EventStore
  now?: () => number
  /**
   * Called when the node cannot go on safely (its store cannot be written, e.g. a full disk).
   * The agent then exits, so a restart rebuilds the state from what is on disk.
   */
  onFatal?: (err: Error) => void
}

export class CisNode {
  readonly config: AgentConfig
  readonly dataDir: string
  readonly log: Logger
  identity!: NodeIdentity
  state: ClusterState = emptyState()
  apiUrl = ''
  private store!: EventStore
  private spawner: Spawner | undefined
  private executor!: Executor
  private records!: NodeRecords
  private readonly now: () => number
  private readonly onFatal: ((err: Error) => void) | undefined
  private seq = 0
  private clock = { ts: 0, lc: 0 }
  private pending: Pending[] = []
  private flushing: Promise<void> | null = null
  private sinceSnapshot = 0
  private scheduleQueued = false
  private readonly acceptWaiters = new Map<string, Array<(id: string) => void>>()
  private running = false
  private code = ''
  mesh: Mesh | undefined
  private readonly startedAt = Date.now()
  /** Remote events that arrived ahead of a gap, per origin, waiting for the missing ones. */
  private readonly ahead = new Map<string, Map<number, CisEvent>>()
  private tickTimer: NodeJS.Timeout | undefined
  private lastMaster: string | null = null
  private behindSince: number | undefined
  /** Set once announced and recovered: only then may this node schedule. */
  private ready = false

  constructor (opts: NodeOptions) {
    this.config = opts.config
    this.dataDir = resolve(opts.config.data)
    this.log = opts.log
    this.now = opts.now ?? Date.now
    this.onFatal = opts.onFatal
    if (opts.store !== undefined) this.store = opts.store
  }

  get id (): string { return this.identity.id }

  async start (): Promise<void> {
    await mkdir(this.dataDir, { recursive: true })
    this.identity = await loadOrCreateIdentity(this.dataDir)
    this.code = shortCode(this.id)
    this.store ??= new LevelEventStore(resolve(this.dataDir, 'store'))
    await this.store.open()
    try {
      await this.load()
    } catch (err) {
      await this.store.close()
      throw new Error(`cannot read the store in ${this.dataDir}: ${(err as Error).message}. Restore a backup, or start with an empty --data directory (peers send the cluster's events back).`)
    }
    this.records = new NodeRecords(this.dataDir, this.log)
    await this.records.start(this.state)
    if (this.config.exec.forkServer) {
      this.spawner = new Spawner(this.log.child({ component: 'spawner' }))
      this.spawner.start()
    }
    this.executor = new Executor({
      ...(this.spawner !== undefined ? { spawner: this.spawner } : {}),
      self: this.id,
      nodeName: this.config.name,
      apiUrl: () => this.apiUrl,
      dataDir: this.dataDir,
      graceMs: this.config.exec.killGraceMs,
      log: this.log.child({ component: 'exec' }),
      started: async body => await this.append('started', body),
      finished: async body => await this.append('finished', body)
    })
    this.running = true
    // Before any peer can assign work here: end what a crash left running (D-3).
    await this.recover()
    await this.startMesh()
    this.log.info({ id: this.id, name: this.config.name, events: this.seq, joblists: Object.keys(this.state.joblists).length }, 'node started')
  }

  private async startMesh (): Promise<void> {
    const keyFile = this.config.swarmKey ?? resolve(this.dataDir, 'swarm.key')
    const { key, created } = await loadOrCreateSwarmKey(keyFile, this.config.swarmKey === undefined)
    if (created) this.log.warn({ swarmKey: keyFile }, `created a new private network key at ${keyFile}: copy it to the other machines and start their agents with --swarm-key FILE (only nodes with this key can join)`)
    this.mesh = new Mesh({
      id: this.id,
      log: this.log,
      privateKey: this.identity.key,
      vector: () => this.state.applied,
      heartbeat: () => this.heartbeat(),
      receive: (e, from) => this.receive(e, from),
      eventsAfter: (origin, seq) => this.store.readOrigin(origin, seq),
      membershipChanged: () => this.scheduleSoon(),
      rpc: async req => await this.answerRpc(req),
      knownPeers: () => Object.values(this.state.nodes).map(n => ({ id: n.id, addresses: n.addresses }))
    }, {
      psk: key,
      listen: this.config.listen,
      bootstrap: this.config.peers,
      mdns: this.config.mdns,
      heartbeatIntervalMs: this.config.heartbeat.intervalMs,
      syncIntervalMs: this.config.syncIntervalMs
    })
    await this.mesh.start()
    // The master re-checks on every heartbeat: a node silent past the timeout is lost.
    this.tickTimer = setInterval(() => this.scheduleSoon(), this.config.heartbeat.intervalMs)
    this.tickTimer.unref()
  }

  heartbeat (): Heartbeat {
    return { id: this.id, name: this.config.name, priority: this.config.priority, vector: this.state.applied, ts: Date.now() }
  }

  /** Called once the API listens: announce this node and recover its work (D-3). */
  async announce (apiUrl: string): Promise<void> {
    this.apiUrl = apiUrl
    const info: NodeBody = {
      name: this.config.name,
      priority: this.config.priority,
      profiles: this.config.profiles,
      resources: this.config.resources,
      api: apiUrl,
      addresses: this.mesh?.addresses() ?? [],
      version: VERSION
    }
    const known = this.state.nodes[this.id]
    if (known === undefined || JSON.stringify({ ...known, id: undefined, updatedAt: undefined }) !== JSON.stringify({ ...info, id: undefined, updatedAt: undefined })) {
      await this.append('node', info)
    }
    await this.launchAssigned()
    this.records.startNodesLog(this.config.nodesLogIntervalMs, () => this.onlineNodes())
    this.ready = true
    this.scheduleSoon()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer)
    this.records.stopNodesLog()
    await this.executor.stopAll()
    this.spawner?.stop()
    await this.mesh?.stop()
    await this.flush()
    await this.store.write([], { state: this.state, version: SNAPSHOT_VERSION })
    await this.records.stop()
    await this.store.close()
  }

  // ---- membership and election (one node: itself; the mesh adds peers) ----

  alive (): Set<string> {
    if (this.mesh === undefined) return new Set([this.id])
    return aliveSet(this.mesh.view, this.id, Date.now(), this.config.heartbeat.timeoutMs)
  }

  lastSeen (id: string): number | undefined {
    return id === this.id ? Date.now() : this.mesh?.view[id]?.lastSeen
  }

  onlineNodes (): string[] {
    return [...this.alive()].map(id => this.state.nodes[id]?.name ?? id)
  }

  master (): string | null {
    return electMaster([...this.alive()].map(id => ({
      id,
      priority: id === this.id ? this.config.priority : this.mesh?.view[id]?.priority ?? this.state.nodes[id]?.priority ?? 0
    })))
  }

  isMaster (): boolean { return this.master() === this.id }

  queueOptions (): { policy: 'fifo' | 'priority', agingPerMinute: number } {
    return { policy: this.config.scheduler.policy, agingPerMinute: this.config.scheduler.agingPerMinute }
  }

  /** Attempts running on this node now. */
  runningCount (): number { return this.executor.size }

  // ---- requests from the API ----

  /** Write a submit request; resolve with the joblist ID once the master accepted it. */
  async submit (spec: JoblistSpec, owner: string, waitMs = 2000): Promise<{ request: string, id: string | null }> {
    const e = await this.append('submit', { spec, owner })
    const request = eventKey(e)
    const known = this.state.requests[request]?.joblistId
    if (known !== undefined) return { request, id: known }
    const id = await new Promise<string | null>(resolve => {
      const timer = setTimeout(() => resolve(null), waitMs)
      const list = this.acceptWaiters.get(request) ?? []
      list.push(id => { clearTimeout(timer); resolve(id) })
      this.acceptWaiters.set(request, list)
    })
    this.acceptWaiters.delete(request)
    return { request, id }
  }

  async requestStop (joblistId: string, jobId?: string): Promise<string> {
    const e = await this.append('stop', { joblistId, ...(jobId !== undefined ? { jobId } : {}) })
    return eventKey(e)
  }

  // ---- the log ----

  /** Sign, apply and persist one event of this node's own log. */
  async append<T extends EventType> (type: T, body: EventBodies[T]): Promise<CisEvent<T>> {
    this.clock = tick(this.clock, this.now())
    const unsigned: UnsignedEvent<T> = { origin: this.id, seq: this.seq + 1, ts: this.clock.ts, lc: this.clock.lc, type, body }
    const event = signEvent(this.identity.key, unsigned)
    this.seq = event.seq
    const durable = new Promise<void>((resolve, reject) => this.pending.push({ event, resolve, reject }))
    this.applyEvents([event])
    void this.flushSoon()
    // Published (with the rest of its write batch) only once durable: a crash can never make
    // this node reuse a seq it has sent.
    await durable
    return event
  }

  /** An event from a peer (gossip or sync): check, verify, apply in seq order per origin. */
  receive (raw: unknown, from: string): void {
    if (!this.running) return
    const e = asEvent(raw)
    if (typeof e === 'string') {
      this.log.warn({ from, problem: e }, 'rejected a malformed event')
      return
    }
    if (e.origin === this.id) return
    const applied = this.state.applied[e.origin] ?? 0
    if (e.seq <= applied) {
      void this.checkDuplicate(e, from)
      return
    }
    if (!verifyEvent(e)) {
      this.log.warn({ from, origin: e.origin, seq: e.seq }, 'rejected an event whose signature does not verify')
      return
    }
    if (e.seq > applied + 1) {
      let buf = this.ahead.get(e.origin)
      if (buf === undefined) this.ahead.set(e.origin, buf = new Map())
      if (buf.size < 10_000) buf.set(e.seq, e)
      this.mesh?.pull(from)
      return
    }
    const batch: CisEvent[] = [e]
    const buf = this.ahead.get(e.origin)
    if (buf !== undefined) {
      for (let next = e.seq + 1; buf.has(next); next++) { batch.push(buf.get(next) as CisEvent); buf.delete(next) }
      for (const seq of buf.keys()) if (seq <= e.seq) buf.delete(seq)
      if (buf.size === 0) this.ahead.delete(e.origin)
    }
    const now = this.now()
    for (const x of batch) {
      this.clock = hlcReceive(this.clock, x, now)
      this.pending.push({ event: x, resolve: () => {}, reject: () => {} })
    }
    this.applyEvents(batch)
    void this.flushSoon()
  }

  private async checkDuplicate (e: CisEvent, from: string): Promise<void> {
    try {
      const stored = await this.store.getEvent(e.origin, e.seq)
      if (stored !== undefined && stored.sig !== e.sig) {
        this.log.warn({ from, origin: e.origin, seq: e.seq }, 'rejected an event that conflicts with the one stored for that origin and seq')
      }
    } catch { /* the store is closing */ }
  }

  private async answerRpc (req: unknown): Promise<unknown> {
    const r = req as { method?: unknown, jobId?: unknown, attempt?: unknown, stream?: unknown, offset?: unknown }
    if (r?.method !== 'logs' || typeof r.jobId !== 'string' || !Number.isSafeInteger(r.attempt) || (r.stream !== 'stdout' && r.stream !== 'stderr') || !Number.isSafeInteger(r.offset) || (r.offset as number) < 0) {
      return { error: 'bad rpc request' }
    }
    const job = this.state.jobs[r.jobId]
    if (job === undefined) return { error: `no job ${r.jobId}` }
    const paths = attemptPaths(this.dataDir, job.joblistId, job.id, r.attempt as number)
    const chunk = await readLogChunk(r.stream === 'stdout' ? paths.stdout : paths.stderr, r.offset as number)
    return { data: chunk.toString('base64') }
  }

  /** Read an attempt's output here, or from the node that ran it. */
  async readLogs (jobId: string, attempt: number, node: string, stream: 'stdout' | 'stderr', offset: number): Promise<Buffer> {
    if (node === this.id) {
      const job = this.state.jobs[jobId]
      const paths = attemptPaths(this.dataDir, job.joblistId, jobId, attempt)
      return await readLogChunk(stream === 'stdout' ? paths.stdout : paths.stderr, offset)
    }
    if (this.mesh === undefined || !this.alive().has(node)) {
      throw new Error(`node ${this.state.nodes[node]?.name ?? node} that ran it is offline; its logs are there`)
    }
    const answer = await this.mesh.net.call(node, { method: 'logs', jobId, attempt, stream, offset }) as { data?: string, error?: string }
    if (typeof answer?.data !== 'string') throw new Error(`node ${this.state.nodes[node]?.name ?? node} could not read the logs: ${answer?.error ?? 'no answer'}`)
    return Buffer.from(answer.data, 'base64')
  }

  /** Local time each recent event was applied here (origin:seq -> ms), for measuring replication. */
  readonly appliedAt = new Map<string, number>()

  private applyEvents (events: CisEvent[]): void {
    const changed = new Set<string>()
    const now = Date.now()
    for (const e of events) {
      this.appliedAt.set(eventKey(e), now)
      if (this.appliedAt.size > 2000) this.appliedAt.delete(this.appliedAt.keys().next().value as string)
      for (const id of apply(this.state, e)) changed.add(id)
      this.react(e)
    }
    for (const id of changed) {
      const jl = this.state.joblists[id]
      if (jl !== undefined && FINAL_JOBLIST_STATES.has(jl.state)) this.records.joblistFinished(this.state, jl)
    }
    // Only facts that can change a decision call for a scheduler pass.
    if (events.some(e => SCHEDULING_EVENTS.has(e.type))) this.scheduleSoon()
  }

  /** What this node itself does in response to an event: run or stop its attempts. */
  private react (e: CisEvent): void {
    if (e.type === 'assign') {
      const b = (e as CisEvent<'assign'>).body
      if (b.node !== this.id) return
      const job = this.state.jobs[b.jobId]
      const a = this.state.attempts[b.jobId]?.[b.attempt]
      if (job === undefined || a === undefined || a.state !== 'assigned') return
      if (job.cancelled) {
        void this.append('finished', { jobId: b.jobId, attempt: b.attempt, state: 'stopped', exitCode: null, signal: null, reason: 'stopped before it started' })
        return
      }
      this.executor.launch(this.state, job, a)
    } else if (e.type === 'cancel') {
      const b = (e as CisEvent<'cancel'>).body
      this.executor.stop(b.joblistId, b.jobId)
    } else if (e.type === 'accept') {
      const b = (e as CisEvent<'accept'>).body
      const waiters = this.acceptWaiters.get(b.request)
      const id = this.state.requests[b.request]?.joblistId
      if (waiters !== undefined && id !== undefined) for (const w of waiters) w(id)
    }
  }

  private async flushSoon (): Promise<void> {
    if (this.flushing !== null) return
    this.flushing = new Promise<void>(resolve => setImmediate(resolve)).then(async () => {
      while (this.pending.length > 0) {
        const batch = this.pending
        this.pending = []
        this.sinceSnapshot += batch.length
        const snap = this.sinceSnapshot >= this.config.snapshotEvery ? { state: this.state, version: SNAPSHOT_VERSION } : undefined
        // The snapshot is serialised now, while it matches exactly the events written so far.
        try {
          await this.store.write(batch.map(p => p.event), snap === undefined ? undefined : JSON.parse(JSON.stringify(snap)))
          if (snap !== undefined) this.sinceSnapshot = 0
          const own = batch.filter(p => p.event.origin === this.id).map(p => p.event)
          if (own.length > 0) this.mesh?.publishEvents(own)
          for (const p of batch) p.resolve()
        } catch (err) {
          // What is in memory now differs from what is on disk: going on would risk handing out
          // decisions that a restart forgets. The requests get an error, and the node stops.
          const e = new Error(`cannot write to the store in ${this.dataDir}: ${(err as Error).message} (is the disk full?). Stopping this node; free space and start it again: it resumes from what is on disk.`)
          this.log.fatal({ err: (err as Error).message }, e.message)
          for (const p of batch) p.reject(e)
          if (this.running) { // (a write racing a graceful stop is not a disk problem)
            this.running = false
            this.onFatal?.(e)
          }
        }
      }
    }).finally(() => {
      this.flushing = null
      // An event appended after the loop saw an empty queue (by a continuation of this very
      // batch) would otherwise wait for the next append that may never come.
      // (A stopping node flushes what is left in flush().)
      if (this.running && this.pending.length > 0) void this.flushSoon()
    })
  }

  async flush (): Promise<void> {
    while (this.flushing !== null || this.pending.length > 0) {
      if (this.flushing === null) void this.flushSoon()
      await this.flushing
    }
  }

  private async load (): Promise<void> {
    const snap = await this.store.loadSnapshot()
    if (snap !== undefined) this.state = snap.state
    for (const origin of await this.store.origins()) {
      for await (const e of this.store.readOrigin(origin, this.state.applied[origin] ?? 0)) apply(this.state, e)
    }
    this.seq = this.state.applied[this.id] ?? 0
    this.clock = { ...this.state.clock }
  }

  /** D-3: attempts this node was running when it stopped are lost (leftovers are killed). */
  private async recover (): Promise<void> {
    for (const [jobId, byN] of Object.entries(this.state.attempts)) {
      for (const a of Object.values(byN)) {
        if ((a.ranOn ?? a.node) !== this.id || a.state !== 'running') continue
        const job = this.state.jobs[jobId]
        const killed = job !== undefined && await killLeftover(a.pid, attemptPaths(this.dataDir, job.joblistId, jobId, a.n).workdir)
        await this.append('finished', { jobId, attempt: a.n, state: 'lost', exitCode: null, signal: null, reason: `the agent restarted while it ran${killed ? ' (its leftover process group was killed)' : ''}` })
      }
    }
  }

  /** D-3: attempts assigned to this node that never started run now (once the API is up). */
  private async launchAssigned (): Promise<void> {
    for (const [jobId, byN] of Object.entries(this.state.attempts)) {
      for (const a of Object.values(byN)) {
        const job = this.state.jobs[jobId]
        if (a.node !== this.id || a.state !== 'assigned' || job === undefined) continue
        if (job.cancelled) await this.append('finished', { jobId, attempt: a.n, state: 'stopped', exitCode: null, signal: null, reason: 'stopped before it started' })
        else this.executor.launch(this.state, job, a)
      }
    }
  }

  // ---- scheduling (master only) ----

  scheduleSoon (): void {
    if (this.scheduleQueued || !this.running) return
    this.scheduleQueued = true
    setImmediate(() => {
      this.scheduleQueued = false
      this.runScheduler()
    })
  }

  private runScheduler (): void {
    if (!this.running || !this.ready) return
    const master = this.master()
    if (master !== this.lastMaster) {
      this.log.info({ master: this.state.nodes[master ?? '']?.name ?? master, self: master === this.id }, master === this.id ? 'this node is now the master' : 'master changed')
      this.lastMaster = master
    }
    if (master !== this.id) return
    // A master that knows less than a peer (just after a heal or a failover) waits until it
    // has caught up, so it never decides on a partial view of what others already decided.
    // The wait is bounded: after BEHIND_LIMIT_MS it decides anyway (conflicting decisions
    // resolve deterministically; waiting forever on a peer that cannot serve us would not).
    if (this.mesh?.behind(this.alive()) === true) {
      this.behindSince ??= Date.now()
      if (Date.now() - this.behindSince < BEHIND_LIMIT_MS) return
      this.log.warn({ ms: Date.now() - this.behindSince }, 'still behind a peer; scheduling anyway')
    } else {
      this.behindSince = undefined
    }
    const terms = this.state.terms
    const mine = terms[this.id] ?? 0
    if (mine === 0 || Object.values(terms).some(t => t > mine)) {
      void this.append('master', { term: nextTerm(terms) })
      return // applying the master event schedules again
    }
    const decisions = schedule({
      state: this.state,
      now: this.now(),
      self: this.id,
      selfCode: this.code,
      alive: this.alive(),
      lost: this.mesh === undefined ? new Set() : lostSet(this.mesh.view, Object.keys(this.state.nodes), this.id, Date.now(), this.config.heartbeat.timeoutMs, this.startedAt),
      policy: { onLost: this.config.scheduler.onLost, maxLost: this.config.scheduler.maxLost },
      queue: { policy: this.config.scheduler.policy, agingPerMinute: this.config.scheduler.agingPerMinute }
    })
    for (const d of decisions) void this.decide(d, mine).catch(err => this.log.error({ err: (err as Error).message }, 'cannot record a decision'))
  }

  private async decide (d: Decision, term: number): Promise<void> {
    switch (d.type) {
      case 'accept': await this.append('accept', { request: d.request, id: d.id, term, onLost: d.onLost, maxLost: d.maxLost, ...(d.expand !== undefined ? { expand: d.expand } : {}) }); break
      case 'assign': await this.append('assign', { jobId: d.jobId, attempt: d.attempt, node: d.node, resources: d.resources, term }); break
      case 'lose': await this.append('lose', { jobId: d.jobId, attempt: d.attempt, reason: d.reason, term }); break
      case 'cancel': await this.append('cancel', { joblistId: d.joblistId, ...(d.jobId !== undefined ? { jobId: d.jobId } : {}), request: d.request, term }); break
    }
  }
}
