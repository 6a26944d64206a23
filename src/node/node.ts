// The node: wires its parts and runs their lifecycle. Its parts, one file each:
//   event-log.ts        append, sign, persist in batches, publish, load (the one door into the state)
//   intake.ts           check, verify, order the events that come from peers
//   executor-bridge.ts  run and stop this node's attempts; settle them after a restart (D-3)
//   start-hold.ts       a job's start held 10 ms: a short job is told by one event, not two
//   master-role.ts      everything only the master does, established and revoked as a unit
//   job-output-service.ts  attempts' output, served to peers and read from them
//   requests.ts         submit and stop requests made here (R4-1, R4-2)
//   records.ts          joblists.log (R4-4) and nodes.log (R4-5)
//   metrics.ts          the node's Prometheus metrics (P-5), counted by the parts above
// and, when the node joins a network, ../cluster/mesh.ts (membership + replication over libp2p).
import { mkdir } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import type { ApiNode, BackupSource, ClusterSnapshot, NodeChanges, NotifyPolicy, OutputStream } from '../api/node-port.js'
import type { Mesh } from '../cluster/mesh.js'
import type { Heartbeat } from '../cluster/membership.js'
import { urgentPeers } from '../cluster/urgency.js'
import type { AgentConfig } from '../config/config.js'
import { queueOptions } from '../config/config.js'
import { electMaster } from '../election/master.js'
import { BACKUP_FORMAT } from '../events/backup-format.js'
import type { BackupHeader } from '../events/backup-format.js'
import type { CisEvent, ControlOp, EventBodies, EventType, NodeBody, RunOf, UpdateBody } from '../events/types.js'
import { acceptOf, eventKey, keyParts } from '../events/types.js'
import { RecentApplied } from './recent-applied.js'
import { loadOrCreateIdentity } from '../identity/keys.js'
import type { NodeIdentity } from '../identity/keys.js'
import type { JoblistSpec } from '../spec/types.js'
import { apply, carryAssigns } from '../state/reducer.js'
import type { PlaceWithAccept } from '../state/reducer.js'
import type { ClusterState, JobRecord, JoblistRecord } from '../state/types.js'
import { FINAL_JOBLIST_STATES, joblistById } from '../state/types.js'
import type { EventStore } from '../store/event-store.js'
import { eventsUpTo } from '../store/event-store.js'
import { LevelEventStore } from '../store/level-store.js'
import { MemoryEventStore } from '../store/memory-store.js'
import { shortCode } from '../util/ids.js'
import { VERSION } from '../version.js'
import { EventLog } from './event-log.js'
import { ExecutorBridge } from './executor-bridge.js'
import { Intake } from './intake.js'
import { JobOutputService } from './job-output-service.js'
import { MasterRole } from './master-role.js'
import { JoblistCounts } from '../state/joblist-counts.js'
import { QueueIndex } from '../scheduler/queue-index.js'
import { UsageIndex } from '../scheduler/usage-index.js'
import { AccountingIndex } from '../state/accounting.js'
import { purgeCandidates } from '../state/purge.js'
import { MAX_CUT_RANGES, covering, cutOf, purgeable, splitCut } from '../state/cuts.js'
import type { Cut } from '../state/cuts.js'
import { MAX_PURGE } from '../events/check.js'
import type { AccountingQuery, AccountingRecord } from '../state/accounting.js'
import { inQuery, joblistRecords } from '../state/accounting.js'
import { overlay } from '../state/archive.js'
import type { Bundle } from '../state/archive.js'
import { stateHash } from '../state/hash.js'
import { joblistOf } from '../state/subjects.js'
import { NotifyIndex } from '../state/owed.js'
import { mailOptions } from './mailer.js'
import { findJoblist } from '../state/views.js'
import { NodeMetrics } from './metrics.js'
import { NodeRecords } from './records.js'
import { Requests } from './requests.js'
import { everyOnGrid } from '../util/grid-timer.js'
import { RETENTION_BATCH, Retention } from './retention.js'
import type { RetentionStatus } from './retention.js'
import type { GridTimer } from '../util/grid-timer.js'

/** Events after which the master may have something new to decide. */
const SCHEDULING_EVENTS: ReadonlySet<string> = new Set(['node', 'submit', 'stop', 'accept', 'finished', 'lose', 'master', 'schedule', 'control', 'skip', 'update'])

/** How long a restarted node waits to catch up with a peer before it runs what was assigned to it. */
const RESTART_CATCH_UP_MS = 3000

export interface NodeOptions {
  config: AgentConfig
  log: Logger
  store?: EventStore
  now?: () => number
  /** Join the network (libp2p); false: a node on its own, which is its own master (tests). */
  network?: boolean
  /**
   * Called when the node cannot go on safely (its store cannot be written, e.g. a full disk).
   * The agent then exits, so a restart rebuilds the state from what is on disk.
   */
  onFatal?: (err: Error) => void
  /**
   * The fork server's script, if not the default one (exec/spawner-main.js): roles-core's bench
   * measures the executor's own path with one that starts nothing (bench/null-fork-server.ts).
   */
  forkServer?: string
}

export class CisNode implements ApiNode {
  readonly config: AgentConfig
  readonly dataDir: string
  readonly log: Logger
  readonly version = VERSION
  identity!: NodeIdentity
  apiUrl = ''
  mesh: Mesh | undefined
  /** This node's metrics (its own registry: several nodes may share a process). */
  readonly metrics: NodeMetrics
  private readonly now: () => number
  private store: EventStore | undefined
  private events!: EventLog
  private intake!: Intake
  private bridge!: ExecutorBridge
  private role!: MasterRole
  private output!: JobOutputService
  private records!: NodeRecords
  /** Accounting records (G-2), indexed by owner, node and time; kept up to date as events apply. */
  private readonly accountingIndex = new AccountingIndex()
  /** The joblists in memory by state (`GET /v1/stats`), kept as batches of events change them. */
  private readonly joblistCounts = new JoblistCounts()
  /** The master's index of the queue (what runs, the kinds of need waiting), kept as events change joblists. */
  private readonly queueIndex = new QueueIndex()
  /** The master's index of fair-share usage (usage-index.ts): kept only once a fairshare pass asked it. */
  private readonly usageIndex = new UsageIndex()
  /** Joblists with notify subscriptions (kept in memory for the notification window) and those that may still owe one (what the master's notification passes look at). */
  private readonly notifyIndex = new NotifyIndex()
  /** The notification settings the index asks with (the config's, made once). */
  private get notifyOptions (): ReturnType<typeof mailOptions> { return this.notifyOpts ??= mailOptions(this.config.notify) }
  private notifyOpts: ReturnType<typeof mailOptions> | undefined
  private readonly requests = new Requests({ state: () => this.state, append: async (t, b) => await this.append(t, b), appendSubmit: async b => await this.events.append('submit', b, undefined, this.master() === this.id ? this.role?.ownSubmit : undefined) })
  /** Local time each recent event was applied here, for measuring replication. */
  private readonly applied = new RecentApplied()
  private running = false
  /** Set once announced and recovered: only then may this node be master. */
  private ready = false
  /** Stopping: the heartbeat says so (peers hold this node down). */
  private leaving = false
  private passQueued = false
  private tickTimer: GridTimer | undefined
  /** Purges by `store.purgeAfter` (G-6: retention.ts); absent when it is 0. */
  private retention: Retention | undefined
  /** start() went as far as its timers (stop() then has parts to stop, even after a fatal error). */
  private started = false
  private readonly changeListeners = new Set<(c: NodeChanges) => void>()

  constructor (private readonly opts: NodeOptions) {
    this.config = opts.config
    this.dataDir = resolve(opts.config.data)
    this.log = opts.log
    this.now = opts.now ?? Date.now
    this.store = opts.store
    this.metrics = new NodeMetrics({
      state: () => this.events?.state,
      now: this.now,
      peersAlive: () => this.identity === undefined ? 0 : [...this.alive()].filter(id => id !== this.id).length,
      isMaster: () => this.role?.established === true
    })
  }

  get id (): string { return this.identity.id }
  get name (): string { return this.config.name }
  get state (): ClusterState { return this.events.state }

  async start (): Promise<void> {
    await mkdir(this.dataDir, { recursive: true })
    this.identity = await loadOrCreateIdentity(this.dataDir)
    if (this.store === undefined && this.config.store.backend === 'memory') this.log.warn('store.backend is memory: nothing this node learns survives a restart (for tests; use level in production)')
    // (A store of an older schema is upgraded here, one of a newer one refused: G-6, store/upgrade.ts.)
    const store = this.store ??= this.config.store.backend === 'memory' ? new MemoryEventStore() : new LevelEventStore(resolve(this.dataDir, 'store'), { journal: true, log: message => this.log.warn(message) })
    await store.open()
    this.events = new EventLog({
      identity: this.identity,
      store,
      log: this.log,
      now: this.now,
      where: this.dataDir,
      snapshotEvery: this.config.snapshotEvery,
      counter: this.metrics,
      ...(this.config.store.archiveAfterMs > 0
        ? {
            archive: {
              afterMs: this.config.store.archiveAfterMs,
              keepEnded: this.config.store.keepEnded,
              // A failure nobody acknowledged stays listed a week; a joblist with subscriptions
              // stays for the notification window (its history in `cis notifications`), and one
              // that still owes one until its items could all have been tried for retryFor.
              unackedMs: 7 * 24 * 3600_000,
              usageHalfLifeMs: this.config.scheduler.fairShare.halfLifeMs,
              keep: jl => this.notifyIndex.subscribed.has(jl.id) && ((jl.endedAt ?? 0) > this.now() - this.notifyWindowMs() || (this.notifyIndex.owing.has(jl.id) && (jl.endedAt ?? 0) > this.now() - this.owedWindowMs()))
            }
          }
        : {}),
      archivedOut: ids => {
        // (One brought back meanwhile is in memory again: it keeps its records.)
        const gone = ids.filter(id => this.state.joblists[id] === undefined)
        this.accountingIndex.touch(gone)
        this.notifyIndex.drop(gone)
        this.records?.forget(gone)
      },
      broughtBack: ids => { this.accountingIndex.touch(ids); this.joblistCounts.update(this.state, ids); this.queueIndex.update(this.state, ids); this.usageIndex.update(this.state, ids); this.notifyIndex.update(this.state, ids, [], this.now(), this.notifyOptions) },
      extracted: ids => { this.joblistCounts.update(this.state, ids); this.queueIndex.update(this.state, ids); this.usageIndex.update(this.state, ids) },
      applied: (events, place) => this.onApplied(events, place),
      publish: own => this.mesh?.replication.publishEvents(own, urgentPeers(own, this.master() ?? undefined)),
      onFatal: err => { this.running = false; this.opts.onFatal?.(err) }
    })
    try {
      await this.events.load()
    } catch (err) {
      await store.close()
      throw new Error(`cannot read the store in ${this.dataDir}: ${(err as Error).message}. Restore a backup, or start with an empty --data directory (peers send the cluster's events back).`, { cause: err })
    }
    this.intake = new Intake({ self: this.id, log: this.log, applied: () => this.events.delivered(), stored: async (origin, seq) => await store.getEvent(origin, seq), deliver: events => { this.events.accept(events); this.mesh?.gossip.relay(events) }, pull: from => this.mesh?.replication.pull(from), cuts: () => this.state.cuts ?? {}, skip: (origin, to) => this.events.skip(origin, to), coalesce: true })
    this.records = new NodeRecords(this.dataDir, this.log, this.now)
    await this.records.start(this.state)
    this.notifyIndex.build(this.state, this.now(), this.notifyOptions)
    this.bridge = new ExecutorBridge({ self: this.id, config: this.config, dataDir: this.dataDir, log: this.log, apiUrl: () => this.apiUrl, append: async (t, b) => await this.append(t, b), clock: () => this.events.clockMs(), ...(this.opts.forkServer !== undefined ? { forkServer: this.opts.forkServer } : {}) })
    this.bridge.start()
    this.role = new MasterRole({
      self: this.id,
      code: shortCode(this.id),
      log: this.log,
      now: this.now,
      scheduler: this.config.scheduler,
      notify: this.config.notify,
      ...(this.config.smtp !== undefined ? { smtp: this.config.smtp } : {}),
      state: () => this.state,
      alive: () => this.alive(),
      silent: () => this.silent(),
      behind: () => this.mesh?.replication.behind(this.alive()) === true,
      catchUp: () => this.mesh?.replication.pullBehind(this.alive()),
      unsettled: () => this.mesh?.membership.unsettled() ?? { unheard: [], claiming: [] },
      metrics: this.metrics,
      wake: () => this.passSoon(),
      owing: () => this.notifyIndex.owing,
      queue: () => this.queueOptions(),
      queueIndex: this.queueIndex,
      usageIndex: this.usageIndex,
      append: async (t, b, place, own) => await this.events.append(t, b, place, own)
    })
    if (this.config.store.purgeAfterMs > 0) {
      this.retention = new Retention({
        afterMs: this.config.store.purgeAfterMs,
        log: this.log,
        now: this.now,
        mayPurge: () => this.running && this.role.settled,
        // (A joblist that may still owe a notification waits for a later check.)
        purge: async before => await this.purge(before, false, { keep: jl => this.notifyIndex.owing.has(jl.id) && (jl.endedAt ?? 0) > this.now() - this.owedWindowMs(), limit: RETENTION_BATCH })
      })
    }
    const call = this.opts.network === false ? undefined : async (peer: string, req: unknown) => await (this.mesh as Mesh).call(peer, req)
    const jobOf = async (jobId: string): Promise<JobRecord | undefined> => this.state.jobs[jobId] ?? (await this.viewOf(jobId)).state.jobs[jobId]
    this.output = new JobOutputService({ self: this.id, dataDir: this.dataDir, state: () => this.state, jobOf, alive: () => this.alive(), call })
    this.running = true
    // Before any peer can assign work here: end what a crash left running (D-3).
    await this.bridge.recover(this.state)
    if (this.opts.network !== false) await this.joinNetwork()
    // The master re-checks on every heartbeat: a node silent past the timeout is lost. In a
    // cluster, on the mesh's heartbeat timer (its `tick`): an idle agent wakes once a round, not twice.
    if (this.mesh === undefined) {
      this.tickTimer = everyOnGrid(this.config.heartbeat.intervalMs, () => this.passSoon())
    }
    this.started = true
    this.log.info({ id: this.id, name: this.config.name, events: this.events.written, joblists: Object.keys(this.state.joblists).length }, 'node started')
  }

  private async joinNetwork (): Promise<void> {
    const { joinCluster } = await import('../cluster/join.js')
    this.mesh = await joinCluster(this.config, this.dataDir, {
      id: this.id,
      log: this.log,
      privateKey: this.identity.key,
      now: this.now,
      vector: () => this.state.applied,
      heartbeat: () => this.heartbeat(),
      receive: (e, from) => this.receive(e, from),
      receiveMany: (events, from) => this.intake.receiveMany(events, from),
      drain: () => this.intake.drain(),
      eventsAfter: (origin, seq) => this.storedAndUnstored(origin, seq),
      skip: (k, from) => this.intake.skip(k, from),
      proof: (e, from) => this.intake.proof(e, from),
      gapProof: async (origin, from, to) => await this.gapProof(origin, from, to),
      membershipChanged: () => { this.passSoon(); this.tell({ joblists: [], schedules: [], nodes: true }) },
      tick: () => this.passSoon(),
      rpc: async req => await this.output.answer(req),
      metrics: this.metrics,
      knownPeers: () => Object.values(this.state.nodes).map(n => ({ id: n.id, addresses: n.addresses })),
      knownCount: () => { let n = 0; for (const _ in this.state.nodes) n++; return n }
    })
  }

  /** The purge events whose cuts cover seqs from..to of `origin` (state/cuts.ts), read from the store. */
  private async gapProof (origin: string, from: number, to: number): Promise<CisEvent[] | undefined> {
    const keys = covering(this.state.cuts ?? {}, origin, from, to)
    if (keys === undefined) return undefined
    const out: CisEvent[] = []
    for (const key of keys) {
      const { origin, seq } = keyParts(key)
      const e = await (this.store as EventStore).getEvent(origin, seq)
      if (e === undefined) return undefined
      out.push(e)
    }
    return out
  }

  private heartbeat (): Heartbeat {
    return { id: this.id, name: this.config.name, priority: this.config.priority, vector: this.state.applied, ts: this.now(), master: this.role.established, carried: true, ...(this.leaving ? { leaving: true } : {}) }
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
    // (After a restart: the master may have declared those lost meanwhile; catch up first, bounded.)
    if (this.mesh !== undefined && Object.keys(this.state.nodes).some(id => id !== this.id)) await this.mesh.replication.caughtUp(RESTART_CATCH_UP_MS)
    this.bridge.launchAssigned(this.state)
    this.records.startNodesLog(this.config.nodesLogIntervalMs, () => [...this.alive()].map(id => this.state.nodes[id]?.name ?? id))
    this.ready = true
    this.passSoon()
    this.retention?.start()
  }

  async stop (): Promise<void> {
    if (!this.started && !this.running) return // (after a fatal error, running is false but the parts still run)
    const fatal = !this.running
    this.running = false
    this.started = false
    this.tickTimer?.stop()
    this.tickTimer = undefined
    await this.retention?.stop()
    this.role?.revoke()
    this.records.stopNodesLog()
    // Peers hold this node down from now (its heartbeat says it is leaving): none places work
    // here while its jobs end, and those end as lost (so they run again), told to the peers.
    this.leaving = true
    if (!fatal) this.mesh?.leaving()
    await this.bridge.stop()
    this.intake.stop()
    await this.mesh?.stop()
    if (!fatal) await this.events.close()
    await this.records.stop()
    await this.store?.close()
  }

  // ---- membership and election ----

  alive (): Set<string> {
    return this.mesh?.membership.alive() ?? new Set([this.id])
  }

  /** Known nodes not heard from now, and for how long (ms; Infinity: gone for certain). */
  private silent (): Map<string, number> {
    return this.mesh?.membership.silence(Object.keys(this.state.nodes)) ?? new Map()
  }

  lastSeen (id: string): number | undefined {
    return id === this.id ? this.now() : this.mesh?.membership.lastSeen(id)
  }

  master (): string | null {
    // (Just started, with peers not heard yet: this node does not stand yet; Membership.settling.)
    const settling = this.mesh?.membership.settling(() => Object.keys(this.state.nodes), this.config.peers.length > 0) === true
    const candidates: Array<{ id: string, priority: number }> = []
    for (const id of this.alive()) {
      if (id === this.id && settling) continue
      candidates.push({ id, priority: id === this.id ? this.config.priority : this.mesh?.membership.priorityOf(id) ?? this.state.nodes[id]?.priority ?? 0 })
    }
    return electMaster(candidates)
  }

  // ---- what the API asks (ApiNode) ----

  /**
   * The stored events (G-3), every origin's, up to time `until` if given (a prefix of each
   * origin's log: its clock only grows with its seq). Flushed first: what is applied is there.
   */
  async storedEvents (until?: number): Promise<CisEvent[]> {
    const store = this.store
    if (store === undefined) return []
    await this.events.flush()
    const out: CisEvent[] = []
    for (const origin of await store.origins()) {
      for await (const e of store.readOrigin(origin, 0)) {
        if (until !== undefined && e.ts > until) break
        out.push(e)
      }
    }
    return out
  }

  /**
   * The stored events after a version vector (G-5): each origin's log is read from its
   * position on (the store's key order), so the cost is what is returned, not the history.
   * Origins in sorted order, so a client paging through gets the same sequence every time.
   * One event beyond `limit` is read to know whether there is more. Flushed first, as above.
   */
  /**
   * A peer's pull (replication.ts): the events of `origin` after `after` in the store, then those
   * applied here and not written yet (peers' events wait up to PEER_WRITE_DELAY_MS for their
   * write, own ones journaled wait as long: event-log.ts), so a pull does not miss them.
   */
  private async * storedAndUnstored (origin: string, after: number): AsyncGenerator<CisEvent> {
    let last = after
    for await (const e of (this.store as EventStore).readOrigin(origin, after)) { yield e; last = e.seq }
    for (const e of this.events.unstored(origin, last)) yield e
  }

  async eventsAfter (after: Readonly<Record<string, number>>, limit: number): Promise<{ events: CisEvent[], more: boolean }> {
    const store = this.store
    if (store === undefined) return { events: [], more: false }
    await this.events.flush()
    const out: CisEvent[] = []
    for (const origin of (await store.origins()).sort()) {
      const from = Object.hasOwn(after, origin) ? after[origin] : 0
      // The store never holds more of an origin than was applied: an origin the client has
      // up to its applied seq needs no read at all (a caught-up client costs no store reads).
      if ((this.state.applied[origin] ?? 0) <= from) continue
      for await (const e of store.readOrigin(origin, from)) {
        if (out.length === limit) return { events: out, more: true }
        out.push(e)
      }
    }
    return { events: out, more: false }
  }

  /** The stored events about these request keys or joblist IDs (G-3), through the store's index; each once. */
  async subjectEvents (subjects: Iterable<string>): Promise<CisEvent[]> {
    const store = this.store
    if (store === undefined) return []
    await this.events.flush()
    const seen = new Set<string>()
    const out: CisEvent[] = []
    for (const s of subjects) {
      for await (const e of store.readSubject(s)) {
        const k = eventKey(e)
        if (!seen.has(k)) { seen.add(k); out.push(e) }
      }
    }
    return out
  }

  /**
   * Purge the ended joblists that ended before `before` (G-6). `keep`: joblists to leave for
   * now (retention's, notifications owed); `limit`: at most this many joblists (their requests)
   * in this call, `more` says some were left for another.
   */
  async purge (before: number, dryRun: boolean, o: { keep?: (jl: JoblistRecord) => boolean, limit?: number } = {}): Promise<{ ids: string[], joblists: number, requests: string[], more: boolean }> {
    const found = purgeCandidates(this.state, before, o.keep)
    const limit = o.limit ?? Infinity
    let more = false
    // Several events for a large purge: each names at most MAX_PURGE IDs and requests, a
    // joblist's ID, alias IDs and request always in the same one.
    const byRequest = new Map<string, string[]>()
    for (const r of found.requests) {
      if (byRequest.size >= limit) { more = true; break }
      byRequest.set(r, [])
    }
    for (const id of found.ids) {
      const jl = joblistById(this.state, id)
      byRequest.get(jl?.request ?? '')?.push(id)
    }
    // And those archived out of memory (brought back by the purge event, then removed).
    if (!more) {
      for await (const b of this.events.archivedEndedBefore(before)) {
        if (byRequest.has(b.request) || this.state.joblists[b.id] !== undefined) continue
        if (byRequest.size >= limit) { more = true; break }
        byRequest.set(b.request, b.ids)
      }
    }
    const all = { ids: [...byRequest.values()].flat() }
    const joblists = byRequest.size
    all.ids.sort()
    if (dryRun || all.ids.length === 0) return { ids: all.ids, joblists, requests: [], more }
    const written: string[] = []
    let ids: string[] = []
    let requests: string[] = []
    const flush = async (): Promise<void> => {
      if (ids.length + requests.length === 0) return
      written.push(eventKey(await this.append('purge', { before, ids, requests })))
      ids = []
      requests = []
    }
    for (const [r, rIds] of byRequest) {
      if (ids.length + requests.length + rIds.length + 1 > MAX_PURGE) await flush()
      requests.push(r)
      ids.push(...rIds)
    }
    await flush()
    // Then their events leave every node's log: the cut of the events held here that belong
    // to them alone (state/cuts.ts), in the last purge event(s), so every node applies it with
    // all of them purged already.
    const cut = await this.purgeCut([...byRequest.keys(), ...all.ids])
    for (const piece of splitCut(cut, MAX_CUT_RANGES)) {
      written.push(eventKey(await this.append('purge', { before, ids: [], requests: [], cut: piece, counters: { ...this.state.acceptCount } })))
    }
    this.log.info({ before: new Date(before).toISOString(), joblists, events: written.length }, 'purged ended joblists')
    return { ids: all.ids, joblists, requests: written, more }
  }

  /** The stored events that belong to these purged joblists and requests alone, as a cut (state/cuts.ts). */
  private async purgeCut (subjects: string[]): Promise<Cut> {
    await this.events.flush()
    const store = this.store as EventStore
    const seen = new Set<string>()
    const found: Array<{ origin: string, seq: number }> = []
    for (const s of subjects) {
      for await (const e of store.readSubject(s)) {
        const k = eventKey(e)
        if (seen.has(k) || !purgeable(e, this.state)) continue
        seen.add(k)
        found.push(e)
      }
    }
    return cutOf(found)
  }

  /** Accounting records (G-2): the index of joblists in memory, and the archive's for those archived. */
  async accounting (q: AccountingQuery): Promise<{ records: AccountingRecord[], scanned: number }> {
    if (q.joblistId !== undefined && this.state.joblists[q.joblistId] === undefined) {
      const b = await this.events.archivedBundle(q.joblistId)
      if (b === undefined) return { records: [], scanned: 0 }
      const records = this.bundleRecords(b).filter(r => inQuery(r, q))
      return { records, scanned: records.length }
    }
    this.accountingIndex.catchUp(this.state)
    const records = this.accountingIndex.query(q)
    let scanned = this.accountingIndex.lastScanned
    if (q.joblistId === undefined && this.events.archivedCount > 0) {
      // A joblist brought back from the archive is in both until the next snapshot: memory's wins.
      const seen = new Set(records.map(r => r.key))
      const add = (r: AccountingRecord): void => {
        if (!seen.has(r.key) && this.state.joblists[r.joblistId] === undefined && inQuery(r, q)) { seen.add(r.key); records.push(r) }
      }
      for await (const r of this.events.archivedRecords(q)) { scanned++; add(r) }
      // Joblists being archived: out of memory, not yet in the store's archive (until its write commits).
      for (const b of this.events.archiving()) {
        if (this.state.joblists[b.id] !== undefined) continue
        for (const r of this.bundleRecords(b)) { scanned++; add(r) }
      }
      records.sort((a, b) => a.endedAt - b.endedAt || (a.key < b.key ? -1 : 1))
    }
    return { records, scanned }
  }

  /** The accounting records of an archived joblist's bundle, derived over the state in memory. */
  private bundleRecords (b: Bundle): AccountingRecord[] {
    const st = overlay(this.state, b)
    return joblistRecords(st, st.joblists[b.id])
  }

  /** The longest an item is owed after its joblist ended: a day's digest (or the digest period), then retryFor, the storm bound, a minute. */
  private owedWindowMs (): number {
    const n = this.config.notify
    return (n.digestEveryMs ?? 24 * 3600_000) + n.retryForMs + n.mailEveryMs + 60_000
  }

  /** How long an ended joblist with subscriptions stays in memory (its history in `cis notifications`). */
  private notifyWindowMs (): number {
    const n = this.config.notify
    return Math.max(n.retryForMs, n.digestEveryMs ?? 24 * 3600_000, n.mailEveryMs) + 60_000
  }

  /** The queue's options, with the fair-share usage of joblists archived out of memory. */
  private queueOptions (): ReturnType<typeof queueOptions> {
    const q = queueOptions(this.config.scheduler)
    return { ...q, fairShare: { ...q.fairShare, past: this.events.pastUsage } }
  }

  hash (): string { return stateHash(this.state, this.events.archived) }

  async wholeState (): Promise<ClusterState> { return await this.events.wholeState() }

  reclaim (): { pending: number, taken: number } {
    return { pending: this.events.reclaimer.pending(this.state), taken: this.events.reclaimer.taken }
  }

  /** The joblists in memory by state. */
  inMemoryByState (): Record<string, number> { return this.joblistCounts.counts(this.state) }

  /** Purges by retention (`store.purgeAfter`): null when off. */
  retentionStatus (): RetentionStatus | null { return this.retention?.status() ?? null }

  archived (): { count: number, byState: Readonly<Record<string, number>> } {
    return { count: this.events.archivedCount, byState: this.events.archivedByState }
  }

  async viewOf (ref: string): Promise<ClusterSnapshot> {
    const v = this.view()
    const slash = ref.indexOf('/')
    const head = slash > 0 ? ref.slice(0, slash) : ref
    const st = v.state
    if (st.joblists[head] !== undefined || st.aliases[head] !== undefined || (slash < 0 && st.jobs[ref] !== undefined)) return v
    const b = await this.events.archivedBundle(slash > 0 ? head : joblistOf(head))
    if (b !== undefined) return { ...v, state: overlay(st, b) }
    // A name (or a number): what memory holds first, the latest archived of that name then.
    if (findJoblist(st, head) !== undefined) return v
    const named = await this.archivedByName(head)
    return named === undefined ? v : { ...v, state: overlay(st, named) }
  }

  async viewWithRequests (keys: readonly string[]): Promise<ClusterSnapshot> {
    const v = this.view()
    const back: Bundle[] = []
    for (const k of keys) {
      if (v.state.requests[k] !== undefined) continue
      const b = await this.events.archivedBundle(k)
      if (b !== undefined) back.push(b)
    }
    return back.length === 0 ? v : { ...v, state: overlay(v.state, ...back) }
  }

  async archivedNamed (name: string, limit: number): Promise<ClusterSnapshot[]> {
    const v = this.view()
    const out: ClusterSnapshot[] = []
    for (const id of await this.events.archivedByName(name, limit)) {
      const b = await this.events.archivedBundle(id)
      if (b !== undefined) out.push({ ...v, state: overlay(v.state, b) })
    }
    return out
  }

  private async archivedByName (name: string): Promise<Bundle | undefined> {
    const [id] = await this.events.archivedByName(name, 1)
    return id === undefined ? undefined : await this.events.archivedBundle(id)
  }

  view (): ClusterSnapshot {
    return {
      state: this.state,
      self: this.id,
      alive: this.alive(),
      master: this.master(),
      lastSeen: id => this.lastSeen(id),
      now: this.now(),
      queue: this.queueOptions(),
      silent: this.silent(),
      lostAfterMs: this.config.scheduler.lostAfterMs
    }
  }

  /** What the API needs of the notify settings: where webhooks may go, and whether they can be signed. */
  get notify (): NotifyPolicy {
    const n = this.config.notify
    return {
      allowHosts: n.allowHosts,
      signed: n.secrets.length > 0,
      retryForMs: n.retryForMs,
      smtp: this.config.smtp !== undefined,
      mail: { mailEveryMs: n.mailEveryMs, digestAt: n.digestAt, ...(n.digestEveryMs !== undefined ? { digestEveryMs: n.digestEveryMs } : {}) }
    }
  }

  async submit (spec: JoblistSpec, owner: string, waitMs?: number, schedule?: RunOf): Promise<{ request: string, id: string | null }> {
    return await this.requests.submit(spec, owner, waitMs, schedule)
  }

  async defineSchedule (spec: JoblistSpec, owner: string): Promise<string> { return await this.requests.defineSchedule(spec, owner) }

  async controlSchedule (name: string, op: ControlOp): Promise<string> { return await this.requests.controlSchedule(name, op) }

  async ack (joblistId: string): Promise<string> { return await this.requests.ack(joblistId) }

  async updateJoblist (change: UpdateBody): Promise<string> { return await this.requests.update(change) }

  async requestStop (joblistId: string, jobId?: string): Promise<string> {
    return await this.requests.stop(joblistId, jobId)
  }

  async readOutput (jobId: string, attempt: number, node: string, stream: OutputStream, offset: number): Promise<Buffer> {
    return await this.output.read(jobId, attempt, node, stream, offset)
  }

  runningCount (): number { return this.bridge.running }

  appliedAt (key: string): number | undefined {
    const { origin, seq } = keyParts(key)
    return this.applied.at(origin, seq)
  }

  async backup (): Promise<BackupSource> {
    // The version vector first, then the flush: every event it counts was applied before the
    // flush began, so it is on disk once the flush ends. Per origin the vector counts a
    // contiguous prefix (the intake applies each origin's events in seq order), so the
    // backup is the store as this node's state stood at one instant: consistent, durable.
    const origins: Record<string, number> = {}
    for (const [origin, seq] of Object.entries(this.state.applied).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) if (seq > 0) origins[origin] = seq
    await this.events.flush()
    const store = this.store
    if (!this.running || store === undefined) throw new Error('this node is stopping (or its store failed): take the backup from a running node')
    const header: BackupHeader = { 'cisystem-backup': BACKUP_FORMAT, schema: await store.schemaVersion(), node: this.id, name: this.config.name, at: new Date(this.now()).toISOString(), origins }
    return { header, events: eventsUpTo(store, origins) }
  }

  async partition (peers: string[], mute = false): Promise<void> { await this.mesh?.block(peers, mute) }

  reportError (err: Error): void { this.log.error({ err: err.message }, 'API request failed') }

  onChange (listener: (c: NodeChanges) => void): () => void {
    this.changeListeners.add(listener)
    return () => { this.changeListeners.delete(listener) }
  }

  private tell (c: NodeChanges): void {
    for (const l of this.changeListeners) {
      try { l(c) } catch (err) { this.log.error({ err: (err as Error).message }, 'a change listener failed') }
    }
  }

  // ---- the log ----

  /** Sign, apply and persist one event of this node's own log. */
  async append<T extends EventType> (type: T, body: EventBodies[T], place?: PlaceWithAccept): Promise<CisEvent<T>> { return await this.events.append(type, body, place) }

  async flush (): Promise<void> { (this.intake as Intake | undefined)?.drain(); await this.events.flush() }

  /** An event from a peer, as a transport delivers it (checked by the intake). */
  receive (raw: unknown, from: string): void { this.intake.receive(raw, from) }

  /** Events were applied (own or from peers): react, record, and call for a master pass. */
  private onApplied (events: CisEvent[], place?: PlaceWithAccept): void {
    const changed = new Set<string>()
    const now = this.now()
    for (const e of events) {
      this.applied.add(e.origin, e.seq, now)
      const ids = apply(this.state, e)
      for (const id of ids) changed.add(id)
      // (At once: the placement an accept of this master carries reads it.)
      this.queueIndex.update(this.state, ids)
      this.usageIndex.update(this.state, ids)
      // The master's own accept (or its own submit carrying its accept): its joblist placed now, the assigns carried in the event.
      if (place !== undefined && (e.type === 'accept' || e.type === 'submit')) {
        const carried = carryAssigns(this.state, e as CisEvent<'accept'> | CisEvent<'submit'>, place)
        for (const id of carried) changed.add(id)
        this.queueIndex.update(this.state, carried)
        this.usageIndex.update(this.state, carried)
      }
      // (Not before the node is ready: what was assigned here meanwhile runs once it has caught up, announce.)
      if (this.running && this.ready) this.bridge.react(this.state, e)
      const accept = acceptOf(e)
      if (accept !== undefined) this.requests.accepted(accept.body.request)
    }
    if (this.running && this.ready) this.bridge.settle(this.state)
    this.accountingIndex.touch(changed)
    this.joblistCounts.update(this.state, changed)
    const schedules = new Set<string>()
    this.notifyIndex.update(this.state, changed, events, now, this.notifyOptions)
    for (const id of changed) {
      const jl = this.state.joblists[id]
      if (jl !== undefined && FINAL_JOBLIST_STATES.has(jl.state)) this.records.joblistFinished(this.state, jl)
      if (jl?.schedule !== undefined) schedules.add(jl.schedule.name)
    }
    if (this.changeListeners.size > 0) {
      let nodes = false
      for (const e of events) {
        if (e.type === 'node') nodes = true
        else if (e.type === 'schedule') schedules.add((e as CisEvent<'schedule'>).body.spec.name)
        else if (e.type === 'control' || e.type === 'skip') schedules.add((e as CisEvent<'control' | 'skip'>).body.name)
        else if (e.type === 'submit' && (e as CisEvent<'submit'>).body.schedule !== undefined) schedules.add((e as CisEvent<'submit'>).body.schedule?.name ?? '')
      }
      this.tell({ joblists: changed, schedules, nodes })
    }
    // Only facts that can change a decision call for a master pass.
    if (events.some(e => SCHEDULING_EVENTS.has(e.type))) this.passSoon()
  }

  // ---- the master role ----

  /** Soon (once per turn of the event loop): establish or revoke the master role as the election says, then let it do its duties. */
  private passSoon (): void {
    if (this.passQueued || !this.running) return
    this.passQueued = true
    setImmediate(() => {
      this.passQueued = false
      if (!this.running || !this.ready) return
      this.role.follow(this.master(), id => this.state.nodes[id]?.name ?? id)
      this.mesh?.office(this.role.established)
      this.role.pass()
    })
  }
}
