// The event log: the one door into this node's state. Own events are stamped (hybrid logical
// clock, next seq), signed, applied and made durable in batches (appended to the store's
// journal, or written to the store), then published; events from peers (already checked by the
// intake) are applied and written to the store with them. On start it loads the snapshot and
// replays what came after it.
import type { Logger } from 'pino'
import type { CisEvent, EventBodies, EventType, SubmitAccept, SubmitBody, UnsignedEvent } from '../events/types.js'
import { receive as hlcReceive, tick } from '../events/hlc.js'
import type { Hlc } from '../events/hlc.js'
import { CHAIN_START, signBatch } from '../identity/keys.js'
import type { NodeIdentity } from '../identity/keys.js'
import { apply } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { emptyState } from '../state/types.js'
import type { ArchiveWrite, EventStore, SnapshotWrite } from '../store/event-store.js'
import { SnapshotWriter, assembleState, fingerprint } from '../store/snapshot-parts.js'
import { INDEX, addDigest, archivable, digestHex, extract, parseDigest, restore, subDigest } from '../state/archive.js'
import { ARCHIVED_PART } from '../state/archive.js'
import type { ArchiveRules, ArchivedMeta, Bundle } from '../state/archive.js'
import type { AccountingRecord } from '../state/accounting.js'
import { addPastUsage, joblistUsage } from '../scheduler/fairshare.js'
import type { PastUsage } from '../scheduler/fairshare.js'
import { eventSubjects } from '../state/subjects.js'
import { performance } from 'node:perf_hooks'
import { skipTo } from '../state/reducer.js'
import { dropPurgedLeftovers, purgeRecords } from '../state/purge.js'
import { isPurged } from '../state/purged.js'
import type { PlaceWithAccept } from '../state/reducer.js'
import { eventKey } from '../events/types.js'
import { Reclaimer } from './reclaim.js'
import { takeChanges, trackChanges } from '../state/changes.js'
import { QueueList } from '../state/queue-list.js'
import { everyOnGrid } from '../util/grid-timer.js'
import type { GridTimer } from '../util/grid-timer.js'

/** A submit made on the master: its accept, decided as it is applied (decide: undefined to decline), and what is placed with it. */
export interface OwnAccept {
  decide: (state: ClusterState, submit: SubmitBody) => SubmitAccept | undefined
  place: PlaceWithAccept
}


export interface EventLogOptions {
  identity: NodeIdentity
  store: EventStore
  log: Logger
  now: () => number
  /** Where the store lives, for error messages. */
  where: string
  snapshotEvery: number
  /** Apply events to the state (called at once, before they are durable). */
  /** `place`: with this node's own accept, what the master places with it (reducer.ts carryAssigns). */
  applied: (events: CisEvent[], place?: PlaceWithAccept) => void
  /** This node's own events, once durable: send them to peers. */
  publish: (own: CisEvent[]) => void
  /** The store cannot be written: the node must stop (memory is ahead of the disk). */
  onFatal: (err: Error) => void
  /** Counts own and received events (metrics, P-5). */
  counter?: EventCounter
  /** Move ended joblists out of memory into the store (archive.ts); absent: keep all in memory. */
  archive?: Omit<ArchiveRules, 'limit'> & { limit?: number, usageHalfLifeMs: number }
  /** Joblists left memory (archived), or came back to it (an event about them). */
  archivedOut?: (ids: string[]) => void
  broughtBack?: (ids: string[]) => void
  /** Joblists left the state for the archive (a snapshot's write is under way; archivedOut follows once it is durable). */
  extracted?: (ids: string[]) => void
  /** How long peers' events wait to share a write; default PEER_WRITE_DELAY_MS. */
  writeDelayMs?: number
}

/** What the log reports to the metrics: own events appended, events from peers accepted. */
export interface EventCounter {
  appended: (e: CisEvent) => void
  received: (events: CisEvent[]) => void
}

interface Pending { event: CisEvent, resolve: () => void, reject: (e: Error) => void }

const noop = (): void => {}

/**
 * How long peers' events (and, with a journal, own ones) wait to share a write (see flushSoon).
 * An observer hears a message every few ms under load: at 10 ms most writes held one, at 50 ms
 * several (issue 12: 6-25 % less CPU a job on every role); since own events are journaled, 200
 * ms (each write is two wake-ups, its timer's and its completion's: three real agents 8-27 %
 * less CPU a job each, in three pairs alternated with 50 ms). They are applied at once, and
 * durable at their origins (own ones in the journal): a crash here loses at most this much of
 * peers' events, pulled again from peers at the restart; a peer's pull meanwhile gets them from
 * memory (unstored).
 */
const PEER_WRITE_DELAY_MS = 200

/**
 * ...or until this many events wait (writeSoon). An agent taking in 10,000 events a second held
 * about 2,000 at 200 ms, and spent 10-40 % more CPU per event than at 50 ms (ingest-core.js,
 * alternated): what waits outlives the young generation's collections.
 */
const PEER_WRITE_MAX_EVENTS = 500

/**
 * At most this many joblists leave memory with one snapshot. A pass runs on the event loop,
 * about 0.2 ms a joblist (the bundles, their digests and index entries, LevelDB's batch, the
 * GC): 5,000 at once stalled an agent about a second (a profile of the ingest bench's agent
 * with store.keepEnded 2,000), past the heartbeat's timeout; with 500 its longest stall was a
 * snapshot's under the flood, 209 ms. A backlog (a burst that ended archiveAfter ago, or more
 * than keepEnded ended joblists) goes in passes of this size, the next soon after the last
 * (archiveSoon), snapshots still taking at most a tenth of the time.
 */
const ARCHIVE_PASS = 500

export class EventLog {
  state: ClusterState = emptyState()
  private seq = 0
  /** The digest of the last batch this node signed (keys.ts, signBatch): the next one names it, so a receiver checks one signature for several. */
  private link: Buffer = CHAIN_START
  private clock: Hlc = { ts: 0, lc: 0 }
  private pending: Pending[] = []
  /** The batch being written to the store (taken out of `pending`, not in the store yet). */
  private inWrite: Pending[] = []
  /** With a journal (store.journal): own events appended, not yet signed, journaled and published (journalOwn); they are in `pending` too. */
  private unjournaled: Pending[] = []
  private journalTurn = false
  private flushing: Promise<void> | null = null
  private sinceSnapshot = 0
  /** What the store holds of the snapshot, to write the next one as changes (G-4). */
  private readonly snapshots: SnapshotWriter
  private lastSnapshotMs = 0
  private lastSnapshotAt = -Infinity
  private open = false
  /** Fingerprints of the IDs and request keys of archived joblists: a hit may be archived (the store says), a miss is not. */
  private readonly archivedKeys = new Set<number>()
  /** The sum of the archived parts' digests (archive.ts): the state hash counts them through it. */
  private archivedDigest = 0n
  /** Archived joblists by state (ended states only). */
  private archivedStates: Record<string, number> = {}
  /** Their fair-share usage per owner (P-4: it counts after they leave memory). */
  private archivedUsage: Record<string, PastUsage> = {}
  /** Joblists brought back from the archive: their bundles go from the store with the next snapshot (which holds their parts again). */
  private readonly unarchive = new Map<string, string[]>()
  /** Bundles of a snapshot being written (not in the store yet), and their IDs, aliases and request -> joblist: read before the store. */
  private readonly writing = new Map<string, Bundle>()
  private readonly writingKeys = new Map<string, string>()
  /** Events waiting for archived joblists to be brought back; later events queue behind them (per-origin order). */
  private gate: Promise<void> | null = null
  /** Per origin, the highest seq of events waiting behind the gate (delivered, not applied yet). */
  private readonly queued = new Map<string, number>()
  /** A snapshot (and archive pass) is wanted even with no events to write. */
  private wantSnapshot = false
  private maintenance: GridTimer | undefined
  /** The last archive pass was full: the next one comes soon (archiveSoon). */
  private archiveBacklog = false
  private archiveTimer: NodeJS.Timeout | undefined
  /** Ends the wait of a write of peers' events (flushSoon). */
  private wake: (() => void) | undefined

  /** This node's highest seq on disk. */
  private durableSeq = 0
  /** This node's highest seq published (durable: journaled, or written). */
  private sentSeq = 0
  /** Takes purged joblists' events out of the log (reclaim.ts). */
  readonly reclaimer: Reclaimer

  constructor (private readonly o: EventLogOptions) {
    // (Now and then a snapshot from the marks is compared with the full one: a write that did
    // not mark its part is a bug; the full change is written, and it is reported.)
    this.snapshots = new SnapshotWriter({ missed: parts => o.log.error({ parts: parts.slice(0, 10), count: parts.length }, 'a snapshot from the marked changes missed parts of the state (a bug, please report it); the full snapshot was written instead') })
    this.reclaimer = new Reclaimer({ store: o.store, log: o.log, self: o.identity.id, state: () => this.state, durableSeq: () => this.durableSeq })
  }

  /** Events this node has written (its highest seq). */
  get written (): number { return this.seq }

  /** The archived parts' digest, for the state hash. */
  get archived (): bigint { return this.archivedDigest }

  /** Joblists held in the archive, by state. */
  get archivedByState (): Readonly<Record<string, number>> { return this.archivedStates }

  /** The fair-share usage of archived joblists, per owner. */
  get pastUsage (): Readonly<Record<string, PastUsage>> { return this.archivedUsage }

  /** Joblists held in the archive. */
  get archivedCount (): number { return Object.values(this.archivedStates).reduce((a, b) => a + b, 0) }

  private countArchived (state: string, by: number): void {
    const n = (this.archivedStates[state] ?? 0) + by
    if (n > 0) this.archivedStates[state] = n
    else delete this.archivedStates[state]
  }

  /** Load the snapshot and replay the events after it. */
  async load (): Promise<ClusterState> {
    const snap = await this.o.store.loadSnapshot()
    this.state = snap !== undefined ? assembleState(snap.parts, snap.version) : emptyState()
    // (From here: the events replayed below change parts the loaded snapshot holds.)
    trackChanges(this.state)
    if (snap !== undefined) {
      this.snapshots.seed(snap)
      const d = snap.parts.find(([k]) => k === ARCHIVED_PART)
      const meta = d !== undefined ? JSON.parse(d[1]) as ArchivedMeta : { digest: '0', states: {} }
      this.archivedDigest = parseDigest(meta.digest)
      this.archivedStates = { ...meta.states }
      this.archivedUsage = { ...meta.usage }
      // (Without a snapshot the events build everything in memory; the first snapshot resets the archive.)
      for (const prefix of ['i!', 'r!']) {
        for await (const [k] of this.o.store.readArchiveIndex({ gte: prefix, lt: prefix.slice(0, -1) + '"' })) this.archivedKeys.add(fingerprint(k.slice(2)))
      }
    }
    for (const origin of await this.o.store.origins()) {
      for await (const e of this.o.store.readOrigin(origin, this.state.applied[origin] ?? 0)) {
        if (this.needsBack([e])) await this.bringBack([e])
        apply(this.state, e)
      }
    }
    // (Replayed origin by origin, a joblist brought back from its bundle for an event replayed
    // after the purge that named it would stay: state/purge.ts dropPurgedLeftovers.)
    const left = dropPurgedLeftovers(this.state)
    if (left.ids.length + left.requests.length > 0) this.o.log.warn({ joblists: left.ids, requests: left.requests }, 'records of purged joblists left after replaying the log: taken out')
    this.seq = this.state.applied[this.o.identity.id] ?? 0
    this.durableSeq = this.seq
    this.sentSeq = this.seq
    this.clock = { ...this.state.clock }
    this.open = true
    await this.reclaimer.resume()
    if (this.o.archive !== undefined) {
      // An idle node archives too: every few seconds, a snapshot if something may leave memory.
      const every = Math.max(1000, Math.min(10_000, this.o.archive.afterMs))
      this.maintenance = everyOnGrid(every, () => {
        if (this.o.archive === undefined || this.flushing !== null) return
        if (archivable(this.state, this.o.now(), { ...this.o.archive, limit: 1 }).length === 0 && this.unarchive.size === 0) return
        this.wantSnapshot = true
        void this.flushSoon()
      })
    }
    return this.state
  }

  /** An archived joblist by ID, alias or request key (archive.ts), as stored; undefined if not archived. */
  async archivedBundle (ref: string): Promise<Bundle | undefined> {
    if (!this.archivedKeys.has(fingerprint(ref))) return undefined
    const id = this.writingKeys.get(ref) ?? await this.indexValue(ref.includes(':') ? INDEX.request(ref) : INDEX.id(ref))
    const pending = id === undefined ? undefined : this.writing.get(id)
    if (pending !== undefined) return pending
    if (id === undefined) return undefined
    const json = await this.o.store.readArchive(id)
    return json === undefined ? undefined : JSON.parse(json) as Bundle
  }

  /** The archived joblists of a name, the latest ended first (at most `limit`), those being archived included. */
  async archivedByName (name: string, limit: number): Promise<string[]> {
    const p = INDEX.namePrefix(name)
    // By index key (the name, the end, the ID): those being written first, as the index would
    // list them; one whose write commits meanwhile is in the index read after (listed once).
    const found = new Map<string, string>()
    for (const b of [...this.writing.values()]) if (b.name === name) found.set(b.id, INDEX.name(name, b.endedAt, b.id))
    for await (const [k, id] of this.o.store.readArchiveIndex({ gte: p, lt: p.slice(0, -1) + '"', reverse: true, limit })) found.set(id, k)
    return [...found].sort((a, b) => a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0).slice(0, limit).map(([id]) => id)
  }

  /** The joblists being archived: out of memory, their bundles not yet in the store (until the write commits). */
  archiving (): Iterable<Bundle> { return this.writing.values() }

  /**
   * The accounting records of archived joblists that ended at `since` or later (by owner or
   * node if asked), from the archive's index: what a query reads is what it returns.
   */
  async * archivedRecords (q: { since: number, owner?: string, node?: string }): AsyncGenerator<AccountingRecord> {
    const prefix = q.owner !== undefined ? `ao!${q.owner}!` : q.node !== undefined ? `an!${q.node}!` : 'a!'
    for await (const [, value] of this.o.store.readArchiveIndex({ gte: prefix + INDEX.time(q.since), lt: prefix + '~' })) {
      // (By owner or node, the value is the key of the record.)
      const json = prefix === 'a!' ? value : await this.indexValue(value)
      if (json !== undefined) yield JSON.parse(json) as AccountingRecord
    }
  }

  /**
   * The whole derived state: memory's, with every archived joblist put back (a copy; reads the
   * whole archive: for comparing nodes, not for every request).
   */
  async wholeState (): Promise<ClusterState> {
    const whole = JSON.parse(JSON.stringify(this.state)) as ClusterState
    whole.queue = QueueList.from(this.state.queue)
    const seen = new Set<string>()
    const put = (b: Bundle): void => {
      if (seen.has(b.id) || whole.joblists[b.id] !== undefined) return
      seen.add(b.id)
      restore(whole, b)
    }
    for await (const b of this.archivedEndedBefore(Number.MAX_SAFE_INTEGER)) put(b)
    return whole
  }

  /**
   * The archived joblists that ended before `before` (what a purge of it names), those being
   * archived included (out of memory, their write not committed yet: a purge on the grid of the
   * archiving timer would otherwise miss them). Not those brought back (their bundles leave the
   * store with the next snapshot): memory has them, or they were purged since.
   */
  async * archivedEndedBefore (before: number): AsyncGenerator<Bundle> {
    // Those being written first: one whose write commits meanwhile is in the index read after.
    const seen = new Set<string>()
    for (const b of [...this.writing.values()]) {
      if (b.endedAt >= before || this.unarchive.has(b.id)) continue
      seen.add(b.id)
      yield b
    }
    for await (const [, id] of this.o.store.readArchiveIndex({ gte: 'e!', lt: 'e!' + INDEX.time(before) })) {
      if (this.unarchive.has(id) || seen.has(id)) continue
      const json = await this.o.store.readArchive(id)
      if (json !== undefined) yield JSON.parse(json) as Bundle
    }
  }

  private async indexValue (key: string): Promise<string | undefined> {
    for await (const [, v] of this.o.store.readArchiveIndex({ gte: key, lt: key + '\u0000', limit: 1 })) return v
    return undefined
  }

  /** Whether some event names a joblist or request that may be archived. */
  private needsBack (events: Array<UnsignedEvent | CisEvent>): boolean {
    if (this.archivedKeys.size === 0) return false
    for (const e of events) for (const s of eventSubjects(e)) if (this.archivedKeys.has(fingerprint(s))) return true
    return false
  }

  /** Bring back into memory the archived joblists these events name (before they are applied). */
  private async bringBack (events: Array<UnsignedEvent | CisEvent>): Promise<void> {
    const ids = new Set<string>()
    for (const e of events) {
      for (const s of eventSubjects(e)) {
        if (!this.archivedKeys.has(fingerprint(s))) continue
        // (A bundle of a snapshot still being written is not in the store yet.)
        const id = this.writingKeys.get(s) ?? await this.indexValue(s.includes(':') ? INDEX.request(s) : INDEX.id(s))
        if (id !== undefined && this.state.joblists[id] === undefined) ids.add(id)
      }
    }
    const back: string[] = []
    for (const id of ids) {
      const pending = this.writing.get(id)
      const json = pending === undefined ? await this.o.store.readArchive(id) : undefined
      if (pending === undefined && json === undefined) continue
      const b = pending ?? JSON.parse(json as string) as Bundle
      if (this.state.joblists[b.id] !== undefined) continue // (brought back meanwhile)
      restore(this.state, b)
      this.archivedDigest = subDigest(this.archivedDigest, parseDigest(b.digest))
      const jl = this.state.joblists[b.id]
      if (jl !== undefined) {
        this.countArchived(jl.state, -1)
        if (this.o.archive !== undefined) addPastUsage(this.archivedUsage, jl.owner, joblistUsage(this.state, jl, this.o.now(), this.o.archive.usageHalfLifeMs), this.o.now(), this.o.archive.usageHalfLifeMs, -1)
      }
      this.unarchive.set(id, b.index)
      for (const k of [...b.ids, b.request]) this.archivedKeys.delete(fingerprint(k))
      // A joblist purged meanwhile (its bundle found by a key it shares with another) comes back
      // whole, with no event to take it out: it goes again at once (its bundle with the next snapshot).
      if (isPurged(this.state, b.id) || isPurged(this.state, b.request)) purgeRecords(this.state, [...new Set([b.id, ...b.ids])], [b.request])
      back.push(id)
      // Told at once, not after the next bundle's read: counted in memory as it left the archive's counts.
      this.o.broughtBack?.([id])
    }
    if (back.length > 0) this.o.log.debug({ joblists: back }, 'archived joblists brought back to memory')
  }

  /** Run `fn` once the events queued before it are applied. */
  private behindGate (fn: () => Promise<void>): Promise<void> {
    const run = (this.gate ?? Promise.resolve()).then(fn)
    const gate = run.catch(err => this.fail(err as Error, [], 'read an archived joblist from'))
    this.gate = gate
    void gate.finally(() => { if (this.gate === gate) this.gate = null })
    return run
  }

  /**
   * The time (ms) on the hybrid clock's scale that an own event appended now would at least
   * get: the time of a fact told later in an event of its own (a short job's start, told with
   * its end: executor-bridge.ts).
   */
  clockMs (): number { return Math.max(this.clock.ts, this.o.now()) }

  /**
   * Apply one event of this node's own log now; it is signed, stored and sent with its write
   * batch (at the next turn of the event loop), and the promise resolves once it is durable.
   * `own` (a submit only): the master's accept of it, decided on the state it is applied to and
   * carried in the event (with what is placed with it); not when the append waited behind the
   * gate (accepts of a pass computed before may be waiting there, their IDs already counted),
   * nor when `own.decide` declines: then the submit goes alone, and a pass accepts it.
   */
  async append<T extends EventType> (type: T, body: EventBodies[T], place?: PlaceWithAccept, own?: OwnAccept): Promise<CisEvent<T>> {
    // About an archived joblist (an ack, a change, a purge): bring it back first.
    const probe = { origin: this.o.identity.id, seq: this.seq + 1, ts: 0, lc: 0, type, body } as unknown as UnsignedEvent
    let waited = false
    if (this.gate !== null || this.needsBack([probe])) { waited = true; await this.behindGate(async () => { await this.bringBack([probe]) }) }
    if (type === 'submit' && own !== undefined && !waited) {
      const accept = own.decide(this.state, body as SubmitBody)
      if (accept !== undefined) { body = { ...body, accept } as EventBodies[T]; place = own.place }
    }
    this.clock = tick(this.clock, this.o.now())
    const unsigned: UnsignedEvent<T> = { origin: this.o.identity.id, seq: this.seq + 1, ts: this.clock.ts, lc: this.clock.lc, type, body }
    // Signed in writeBatch, with the other events of its batch (one signature a batch): until
    // then it is applied here only, neither stored nor sent.
    const event = { ...unsigned, sig: '' } as CisEvent<T>
    this.seq = event.seq
    this.o.counter?.appended(event)
    const journaled = this.o.store.journal !== undefined
    const durable = new Promise<void>((resolve, reject) => (journaled ? this.unjournaled : this.pending).push({ event, resolve, reject }))
    if (journaled) this.pending.push({ event, resolve: noop, reject: noop })
    this.o.applied([event], place)
    if (journaled) this.journalSoon()
    else void this.flushSoon()
    // Published (with the rest of its batch) only once durable: a crash can never make this
    // node reuse a seq it has sent.
    await durable
    return event
  }

  /** Journal the own events appended in this turn of the event loop at its end (journalOwn). */
  private journalSoon (): void {
    if (this.journalTurn) return
    this.journalTurn = true
    setImmediate(() => { this.journalTurn = false; this.journalOwn() })
  }

  /**
   * With a journal (store.journal, own-journal.ts): the own events appended so far signed as one
   * batch, appended to the journal (one synchronous write: durable as LevelDB's write makes
   * them, in the OS's cache), published, and their appends resolved, all now; they go into
   * LevelDB with peers' events within PEER_WRITE_DELAY_MS (writeBatch), one write for all,
   * instead of a write of their own whose completion is another wake-up of the process (an
   * executor: one a job, beside the job's exit). A restart after a crash between the two
   * finds them in the journal (level-store.ts writes them into LevelDB as it opens).
   */
  private journalOwn (): void {
    const batch = this.unjournaled
    const journal = this.o.store.journal
    if (batch.length === 0 || journal === undefined) return
    this.unjournaled = []
    const own = batch.map(p => p.event)
    try {
      this.link = signBatch(this.o.identity.key, own, this.link) ?? this.link
      journal.append(own)
    } catch (err) {
      this.fail(err as Error, batch, 'write to')
      return
    }
    this.sentSeq = own[own.length - 1].seq
    this.o.publish(own)
    for (const p of batch) p.resolve()
    this.writeSoon()
  }

  /** Events from peers, checked and in seq order per origin: apply and persist them. */
  accept (events: CisEvent[]): void {
    const now = this.o.now()
    for (const e of events) this.clock = hlcReceive(this.clock, e, now)
    this.o.counter?.received(events)
    const applyNow = (): void => {
      for (const e of events) this.pending.push({ event: e, resolve: noop, reject: noop })
      this.o.applied(events)
      this.writeSoon()
    }
    if (this.gate === null && !this.needsBack(events)) { applyNow(); return }
    for (const e of events) if (e.seq > (this.queued.get(e.origin) ?? 0)) this.queued.set(e.origin, e.seq)
    this.behindGate(async () => {
      await this.bringBack(events)
      applyNow()
      for (const [origin, seq] of this.queued) if ((this.state.applied[origin] ?? 0) >= seq) this.queued.delete(origin)
    }).catch(() => {}) // (a failure stops the node: fail())
  }

  /**
   * Seqs of `origin` up to `to` that purges took out of the logs (a skip from a peer, already
   * checked against the cuts): applied as events are, in order behind any waiting ones.
   */
  skip (origin: string, to: number): void {
    const now = (): void => { skipTo(this.state, origin, to); this.wantSnapshot = true; void this.flushSoon(this.peerDelay) }
    if (this.gate === null) { now(); return }
    if (to > (this.queued.get(origin) ?? 0)) this.queued.set(origin, to)
    this.behindGate(async () => {
      now()
      if ((this.state.applied[origin] ?? 0) >= (this.queued.get(origin) ?? Infinity)) this.queued.delete(origin)
    }).catch(() => {})
  }

  /**
   * The version vector of events delivered here: applied, or waiting behind the gate to be
   * applied. The intake asks it, so an event waiting is not taken again as new.
   */
  delivered (): Readonly<Record<string, number>> {
    if (this.queued.size === 0) return this.state.applied
    const v = { ...this.state.applied }
    for (const [origin, seq] of this.queued) if (seq > (v[origin] ?? 0)) v[origin] = seq
    return v
  }

  /**
   * Events of `origin` after `after`, applied here and not in the store yet (waiting for their
   * write, or being written), in seq order; own events only once durable (published).
   */
  unstored (origin: string, after: number): CisEvent[] {
    const out: CisEvent[] = []
    for (const list of [this.inWrite, this.pending]) {
      for (const p of list) {
        const e = p.event
        if (e.origin !== origin || e.seq <= after || (origin === this.o.identity.id && e.seq > this.sentSeq)) continue
        if (out.length === 0 || e.seq > out[out.length - 1].seq) out.push(e)
      }
    }
    return out
  }

  /** Wait until everything applied so far is on disk. */
  async flush (): Promise<void> {
    while (this.gate !== null || this.flushing !== null || this.pending.length > 0) {
      this.wake?.()
      if (this.gate !== null) { await this.gate; continue }
      if (this.flushing === null) void this.flushSoon()
      await this.flushing
    }
  }

  /** Write what is pending and a final snapshot; no write after this. */
  async close (): Promise<void> {
    if (!this.open) return
    this.open = false
    this.maintenance?.stop()
    if (this.archiveTimer !== undefined) clearTimeout(this.archiveTimer)
    await this.reclaimer.stop()
    await this.flush()
    const snap = this.snapshot(false)
    await this.o.store.write([], snap)
    this.committed(snap)
  }

  /**
   * The next snapshot as a change to the stored one, with the archive's changes: joblists that
   * may leave memory now do (when `archiveNow`), joblists brought back leave the archive.
   */
  private snapshot (archiveNow: boolean): SnapshotWrite {
    const archive: ArchiveWrite = { put: [], del: [...this.unarchive].map(([id, index]) => ({ id, index })) }
    this.archiveBacklog = false
    // Not while joblists are being brought back (the gate): one restored for an event waiting
    // behind it must not leave memory again before that event is applied (a purge would miss it).
    if (archiveNow && this.o.archive !== undefined && this.gate === null) {
      const limit = this.o.archive.limit ?? ARCHIVE_PASS
      const ids = archivable(this.state, this.o.now(), { ...this.o.archive, limit })
      this.archiveBacklog = ids.length >= limit
      if (ids.length > 0) {
        const now = this.o.now()
        const H = this.o.archive.usageHalfLifeMs
        for (const id of ids) {
          const jl = this.state.joblists[id]
          this.countArchived(jl.state, 1)
          addPastUsage(this.archivedUsage, jl.owner, joblistUsage(this.state, jl, now, H), now, H)
        }
        for (const x of extract(this.state, ids)) {
          archive.put.push({ id: x.bundle.id, bundle: JSON.stringify(x.bundle), index: x.entries })
          this.writing.set(x.bundle.id, x.bundle)
          for (const k of [...x.bundle.ids, x.bundle.request]) this.writingKeys.set(k, x.bundle.id)
          this.archivedDigest = addDigest(this.archivedDigest, x.digest)
          for (const k of [...x.bundle.ids, x.bundle.request]) this.archivedKeys.add(fingerprint(k))
        }
        this.o.extracted?.(ids)
      }
    }
    const meta: ArchivedMeta = { digest: digestHex(this.archivedDigest), states: this.archivedStates, usage: this.archivedUsage }
    const snap = this.snapshots.next(this.state, [[ARCHIVED_PART, JSON.stringify(meta)]], takeChanges(this.state))
    return { ...snap, archive }
  }

  private committed (snap: SnapshotWrite): void {
    this.snapshots.committed(snap)
    for (const d of snap.archive?.del ?? []) {
      // (Brought back again while this write was under way: its bundle goes with the next one.)
      if (this.state.joblists[d.id] === undefined || snap.archive?.put.some(p => p.id === d.id) !== true) this.unarchive.delete(d.id)
    }
    // Told once durable: until then queries (accounting) find them where they were.
    if ((snap.archive?.put.length ?? 0) > 0) this.o.archivedOut?.(snap.archive?.put.map(p => p.id) ?? [])
    for (const p of snap.archive?.put ?? []) {
      const b = this.writing.get(p.id)
      this.writing.delete(p.id)
      for (const k of [...(b?.ids ?? []), b?.request ?? '']) if (this.writingKeys.get(k) === p.id) this.writingKeys.delete(k)
    }
  }

  private get peerDelay (): number { return this.o.writeDelayMs ?? PEER_WRITE_DELAY_MS }

  /**
   * Write what is pending within the peers' delay, or at once if PEER_WRITE_MAX_EVENTS wait: a
   * busy node's events are not held longer than at about 50 ms a write (held longer, more of
   * them outlive the young generation's collections and are copied into the old one).
   */
  private writeSoon (): void {
    void this.flushSoon(this.pending.length >= PEER_WRITE_MAX_EVENTS ? 0 : this.peerDelay)
  }

  /** Another archive pass (with a snapshot) once ten times the last snapshot's cost has passed. */
  private archiveSoon (): void {
    if (this.archiveTimer !== undefined) return
    this.archiveTimer = setTimeout(() => {
      this.archiveTimer = undefined
      if (!this.open) return
      this.wantSnapshot = true
      void this.flushSoon()
    }, Math.max(10, Math.ceil(10 * this.lastSnapshotMs)))
    this.archiveTimer.unref()
  }

  /**
   * Write what is pending within `delayMs`: 0, at the next turn of the event loop (this node's
   * own events wait for it when the store keeps no journal, and a snapshot wanted now); for
   * peers' events, and own events already journaled, PEER_WRITE_DELAY_MS, so that events
   * arriving one by one share a write (each write has a fixed cost; peers' events are durable
   * at their origins, own ones in the journal, and all applied here already). A 0 ends a wait.
   */
  private async flushSoon (delayMs = 0): Promise<void> {
    if (this.flushing !== null) { if (delayMs === 0) this.wake?.(); return }
    this.flushing = new Promise<void>(resolve => {
      if (delayMs === 0) { setImmediate(resolve); return }
      const timer = setTimeout(() => { this.wake = undefined; resolve() }, delayMs)
      this.wake = () => { clearTimeout(timer); this.wake = undefined; setImmediate(resolve) }
    }).then(async () => {
      while (this.pending.length > 0 || (this.wantSnapshot && this.open)) await this.writeBatch()
    }).finally(() => {
      this.flushing = null
      // An event appended after the loop saw an empty queue (by a continuation of this very
      // batch) would otherwise wait for the next append that may never come.
      // (A closing log flushes what is left in flush().)
      if (this.open && this.pending.length > 0) void this.flushSoon()
    })
  }

  private async writeBatch (): Promise<void> {
    // (Own events not journaled yet are signed and published first: in LevelDB they are as they were sent.)
    this.journalOwn()
    const batch = this.pending
    this.pending = []
    this.inWrite = batch
    this.sinceSnapshot += batch.length
    // The snapshot's changes are computed now, while the state matches exactly the events
    // written so far. It costs a pass over the state (serialising each part to compare it), so
    // a snapshot waits until ten times its last cost has passed: at most a tenth of the time.
    const due = (this.wantSnapshot || this.sinceSnapshot >= this.o.snapshotEvery) && performance.now() - this.lastSnapshotAt >= 10 * this.lastSnapshotMs
    this.wantSnapshot = false
    // What was under way when something threw: only the store's write is the disk's.
    let stage: 'snapshot' | 'store' | 'after' = 'snapshot'
    try {
      // (Within the try: a snapshot that throws — a defect — fails the batch and stops the node, said; it was an unhandled rejection.)
      const t0 = performance.now()
      const snap = due ? this.snapshot(true) : undefined
      if (snap !== undefined) { this.lastSnapshotMs = performance.now() - t0; this.lastSnapshotAt = performance.now() }
      // The batch sorted in one pass, each list made only if it has something: an empty list of
      // `filter` and a full one are arrays of two shapes, and the optimized code of this
      // function, having seen one, was thrown away at the other (five times over an executor's
      // first 6,000 jobs, 30 ms of V8's compiler each: `--trace-deopt`).
      const events: CisEvent[] = []
      let own: CisEvent[] | undefined
      let mine: CisEvent[] | undefined
      let cuts: string[] | undefined
      for (const p of batch) {
        const e = p.event
        events.push(e)
        if (e.origin === this.o.identity.id) {
          (own ??= []).push(e)
          if (e.sig === '') (mine ??= []).push(e)
        }
        // Purges with a cut: once durable, their events may leave the log (reclaim.ts).
        if (e.type === 'purge' && (e as CisEvent<'purge'>).body.cut !== undefined) (cuts ??= []).push(eventKey(e))
      }
      if (mine !== undefined) this.link = signBatch(this.o.identity.key, mine, this.link) ?? this.link
      stage = 'store'
      await this.o.store.write(events, snap)
      this.inWrite = []
      stage = 'after'
      if (snap !== undefined) { this.sinceSnapshot = 0; this.committed(snap); if (this.archiveBacklog) this.archiveSoon() }
      if (own !== undefined) {
        this.durableSeq = own[own.length - 1].seq
        if (this.o.store.journal === undefined) { this.sentSeq = this.durableSeq; this.o.publish(own) }
      }
      for (const p of batch) p.resolve()
      if (cuts !== undefined) this.reclaimer.add(cuts)
    } catch (err) {
      this.fail(err as Error, batch, 'write to', stage !== 'store')
    }
  }

  /**
   * The store cannot be written (or an archived joblist read back): what is in memory would
   * differ from what is on disk, and going on would risk handing out decisions that a restart
   * forgets. The requests get an error, and the node stops.
   */
  private fail (err: Error, batch: Pending[], what: string, defect = false): void {
    const e = defect
      ? new Error(`cannot ${what} the store in ${this.o.where}: ${err.message} (a defect of cis, not of the disk: please report it with the log). Stopping this node; start it again: it resumes from what is on disk.`)
      : new Error(`cannot ${what} the store in ${this.o.where}: ${err.message} (is the disk full?). Stopping this node; free space and start it again: it resumes from what is on disk.`)
    this.o.log.fatal({ err: err.message }, e.message)
    for (const p of batch) p.reject(e)
    if (this.open) { // (a write racing a graceful stop is not a disk problem)
      this.open = false
      this.o.onFatal(e)
    }
  }
}
