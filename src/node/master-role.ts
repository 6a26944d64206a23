// The master role: everything only the master does, switched on as a unit when this node
// becomes master (establish) and off when it stops being one (revoke), like Nomad's
// establishLeadership/revokeLeadership. Established, it first catches up with its peers
// (bounded), claims a term above every term it knows, then decides: it accepts and numbers
// joblists, places jobs, cancels, declares attempts lost. Every decision becomes an event.
// It launches the runs of schedules (recurrence.ts) and sends webhook notifications (notifier.ts)
// and emails (mailer.ts).
import type { Logger } from 'pino'
import type { AgentConfig, NotifyConfig, SmtpConfig } from '../config/config.js'
import { queueOptions } from '../config/config.js'
import type { CarriedAssign, CisEvent, EventBodies, EventType } from '../events/types.js'
import { nextTerm } from '../election/master.js'
import { decisionEvent } from '../scheduler/decision-event.js'
import { nextDue, recurrences } from '../scheduler/recurrence.js'
import { acceptOwnSubmit, mayPlaceAccepted, schedule, schedulePass } from '../scheduler/schedule.js'
import type { Decision, ScheduleInput } from '../scheduler/schedule.js'
import type { OwnAccept } from './event-log.js'
import type { QueueIndex, QueueView } from '../scheduler/queue-index.js'
import type { UsageIndex } from '../scheduler/usage-index.js'
import { usageDifferences } from '../scheduler/usage-index.js'
import { DEFAULT_FAIR_SHARE, fairShareUsage } from '../scheduler/fairshare.js'
import type { QueueOptions } from '../scheduler/queue.js'
import type { PlaceWithAccept } from '../state/reducer.js'
import type { ClusterState } from '../state/types.js'
import { Mailer } from './mailer.js'
import { Notifier } from './notifier.js'

export interface MasterRoleOptions {
  self: string
  /** The prefix of the IDs this master hands out. */
  code: string
  log: Logger
  now: () => number
  scheduler: AgentConfig['scheduler']
  /** The queue's options now (default: from scheduler). */
  queue?: () => ReturnType<typeof queueOptions>
  /**
   * The index of the queue the node keeps as events apply (queue-index.ts): a pass then looks
   * at what runs and what it can place, not at every queued joblist. Audited against the
   * state (QUEUE_AUDIT_GAP_MS; every pass with CIS_CHECK_SNAPSHOTS=1). Absent: passes walk the queue.
   */
  queueIndex?: QueueIndex
  /**
   * The index of fair-share usage the node keeps as events apply (usage-index.ts): a pass under
   * the fairshare policy reads the owners' usage from it, not from every joblist in memory.
   * Audited as the queue's index is. Absent: computed from the state.
   */
  usageIndex?: UsageIndex
  /** Webhook notifications (issue 11); absent: this master sends none. */
  notify?: NotifyConfig
  /** The SMTP server emails go through; absent (or without notify): this master sends none. */
  smtp?: SmtpConfig
  state: () => ClusterState
  alive: () => ReadonlySet<string>
  /** Known nodes not heard from now, and for how long (ms; Infinity: gone for certain). */
  silent: () => ReadonlyMap<string, number>
  /** True while an alive peer has events this node has not applied. */
  behind: () => boolean
  /**
   * Pull at once from the alive peers that have events this node lacks (called when a wait to
   * catch up starts behind one: a peer's batch window may have held events for this node when
   * the old master died, and no heartbeat rule would pull them for a few hundred ms).
   */
  catchUp?: () => void
  /** Alive peers not yet heard since they came (their state unknown), and alive peers still claiming the office. */
  unsettled?: () => { unheard: string[], claiming: string[] }
  /** `place` (with an accept only): what the master places with it, carried in the event (reducer.ts carryAssigns). */
  append: <T extends EventType>(type: T, body: EventBodies[T], place?: PlaceWithAccept, own?: OwnAccept) => Promise<CisEvent<T>>
  /** Counts master changes and times passes (metrics, P-5). */
  metrics?: RoleMetrics
  /** Ask for a pass soon: when the next schedule instant falls due (between heartbeats). */
  wake?: () => void
  /** The joblists that may still owe a notification (the node's NotifyIndex, kept as events apply); absent: every joblist is looked at. */
  owing?: () => Iterable<string>
}

/** What the role reports to the metrics. */
export interface RoleMetrics {
  /** The master this node follows changed (not called for the first one after start). */
  masterChanged: () => void
  /** Start timing a pass; call the result when it ends. */
  passTimer: () => () => void
}

/** How long a new master waits to catch up with its peers before it decides anyway. */
export const CATCH_UP_LIMIT_MS = 2000

/**
 * The queue's index is compared with a recount of the state at most once in this many ms (a
 * recount walks the queue, as a pass did before the index): a difference is logged and the
 * index recounted. With CIS_CHECK_SNAPSHOTS=1 (`npm test`, `npm run chaos`) at every pass, and
 * a difference stops the node.
 */
const QUEUE_AUDIT_GAP_MS = 30_000
const CHECK_QUEUE_INDEX = process.env.CIS_CHECK_SNAPSHOTS === '1'

export class MasterRole {
  private active = false
  /** Since when this master has been waiting at the barrier (behind a peer, or a peer unheard or still in office), if it is. */
  private waitingSince: number | undefined
  private warnedWait = false
  private establishedAt = 0
  private lastMaster: string | null = null
  /** Set once the election named a master (or none) for the first time. */
  private followed = false
  private readonly notifier: Notifier | undefined
  /** When the queue's index was last compared with the state (performance.now()). */
  private queueAuditAt = -Infinity
  /** When the index of fair-share usage was last compared with the state (performance.now()). */
  private usageAuditAt = -Infinity
  private readonly mailer: Mailer | undefined

  constructor (private readonly o: MasterRoleOptions) {
    this.notifier = o.notify === undefined ? undefined : new Notifier({ config: o.notify, log: o.log, now: o.now, append: o.append })
    this.mailer = o.notify === undefined || o.smtp === undefined ? undefined : new Mailer({ smtp: o.smtp, notify: o.notify, log: o.log, now: o.now, append: o.append })
  }

  get established (): boolean { return this.active }

  /** The master now and caught up with its peers (what a purge by retention asks: node.ts). */
  get settled (): boolean { return this.active && this.settledNow() }

  /** The election named `master`: establish the role if that is this node, revoke it if not. */
  follow (master: string | null, nameOf: (id: string) => string): void {
    if (master !== this.lastMaster && master !== this.o.self) this.o.log.info({ master: master === null ? null : nameOf(master) }, 'master changed')
    if (this.followed && master !== this.lastMaster) this.o.metrics?.masterChanged()
    this.followed = true
    this.lastMaster = master
    if (master === this.o.self) this.establish()
    else this.revoke()
  }

  /** This node became master: its duties start with a fresh catch-up barrier. */
  establish (): void {
    if (this.active) return
    this.active = true
    this.waitingSince = undefined
    this.establishedAt = this.o.now()
    this.o.log.info('this node is now the master')
  }

  /** This node is no longer master: its duties stop, and nothing of this term carries over. */
  revoke (): void {
    clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    if (!this.active) return
    this.active = false
    this.waitingSince = undefined
    this.o.usageIndex?.forget()
    this.notifier?.clear()
    this.mailer?.clear()
    this.mailer?.close()
    this.o.log.info({ ms: this.o.now() - this.establishedAt }, 'this node is no longer the master')
  }

  /** One round of master duties (called whenever something changed that may call for a decision). */
  pass (): void {
    if (!this.active || !this.caughtUp()) return
    const done = this.o.metrics?.passTimer()
    try { this.duties() } finally { done?.() }
  }

  private duties (): void {
    const state = this.o.state()
    const mine = state.terms[this.o.self] ?? 0
    if (mine === 0 || Object.values(state.terms).some(t => t > mine)) {
      this.o.append('master', { term: nextTerm(state.terms) }).catch(err => this.o.log.error({ err: (err as Error).message }, 'cannot record the master term'))
      return // applying the master event calls for another pass
    }
    const input = this.passInput(state)
    // A joblist accepted in this pass is placed in it too, and the assigns of its first jobs
    // travel in its accept (one event, not 1 + N: every node applies, stores and relays one
    // event less a job). The pass's last accept places, once every accept of the pass is
    // applied (append applies an event before it returns), in queue order: its own joblist's
    // assigns it carries; those of the others accepted with it go as assign events right after,
    // in the same write batch. If the log is busy bringing an archived joblist back, the accept
    // is applied (and places) later; what it does not carry, the pass its accept calls for places.
    const pass = schedulePass(input)
    const decisions = pass.decisions
    let last: Decision | undefined
    for (const d of decisions) if (d.type === 'accept') last = d
    const others: Decision[] = []
    let placed = false
    // True while this pass records its decisions: then only they were applied since it was
    // computed (a placement called later, behind an archived joblist brought back, places afresh).
    let recording = false
    const place: PlaceWithAccept = (s, accept) => {
      placed = true
      // (Nothing can start: no instance is free, and none of the joblists accepted runs on none.)
      if (recording && !mayPlaceAccepted(s, pass)) return []
      const own = `${accept.body.id}.`
      const carried: CarriedAssign[] = []
      for (const d of schedule({ ...input, state: s, now: this.o.now() })) {
        if (d.type === 'assign' && d.jobId.startsWith(own)) carried.push({ jobId: d.jobId, attempt: d.attempt, node: d.node, resources: d.resources })
        else others.push(d)
      }
      return carried
    }
    const record = (d: Decision, withPlace?: PlaceWithAccept): void => {
      const e = decisionEvent(d, mine)
      this.o.append(e.type, e.body as never, withPlace).catch(err => this.o.log.error({ err: (err as Error).message }, 'cannot record a decision'))
    }
    // (The accepts last: the placement with the last one must see the pass's other decisions applied.)
    recording = true
    for (const d of decisions) if (d.type !== 'accept') record(d)
    for (const d of decisions) if (d.type === 'accept') record(d, d === last ? place : undefined)
    recording = false
    if (placed) for (const d of others) record(d)
    // Schedules: each decision is applied at once (append applies before it persists), so the
    // next pass sees the instant accounted for and never launches it again.
    for (const d of recurrences({ state, now: this.o.now(), masterSince: this.establishedAt })) {
      const failed = (err: unknown): void => this.o.log.error({ err: (err as Error).message, schedule: d.name }, 'cannot record a schedule decision')
      if (d.type === 'launch') {
        this.o.log.info({ schedule: d.name, instant: new Date(d.instant).toISOString() }, 'launching a run')
        this.o.append('submit', { spec: d.spec, owner: d.owner, schedule: { name: d.name, instant: d.instant } }, undefined, this.ownSubmit).catch(failed)
      } else {
        this.o.log.info({ schedule: d.name, from: new Date(d.from).toISOString(), count: d.count, reason: d.reason }, 'skipping instants')
        this.o.append('skip', { name: d.name, from: d.from, to: d.to, count: d.count, reason: d.reason, term: mine }).catch(failed)
      }
    }
    this.wakeAtNextInstant(state)
    // Webhooks: due deliveries are derived from the state; each attempt is recorded as an event.
    const among = this.o.owing?.()
    this.notifier?.pass(state, mine, among)
    // Emails: one message per address listing its due items; each recorded as a `mail` event.
    this.mailer?.pass(state, mine, among)
  }

  /** What the master's accepts say of lost attempts (scheduler.onLost, maxLost). */
  private get lostPolicy (): ScheduleInput['policy'] { return { onLost: this.o.scheduler.onLost, maxLost: this.o.scheduler.maxLost } }

  /** What a pass decides from: the state, now, the nodes alive and silent, the policies, the queue's index. */
  private passInput (state: ClusterState): ScheduleInput {
    const now = this.o.now()
    return {
      state,
      now,
      self: this.o.self,
      selfCode: this.o.code,
      alive: this.o.alive(),
      silent: this.o.silent(),
      lostAfterMs: this.o.scheduler.lostAfterMs,
      policy: this.lostPolicy,
      queue: this.queueWithUsage(state, now),
      ...(this.o.queueIndex !== undefined ? { index: this.queueView(this.o.queueIndex, state) } : {})
    }
  }

  /** The queue's options; under fairshare with the usage index (compared now and then with the usage computed from the state). */
  private queueWithUsage (state: ClusterState, now: number): QueueOptions {
    const q = this.o.queue?.() ?? queueOptions(this.o.scheduler)
    const index = this.o.usageIndex
    if (q.policy !== 'fairshare' || index === undefined) return q
    const fairShare = q.fairShare ?? DEFAULT_FAIR_SHARE
    const at = performance.now()
    if (CHECK_QUEUE_INDEX || at - this.usageAuditAt >= QUEUE_AUDIT_GAP_MS) {
      this.usageAuditAt = at
      const differences = usageDifferences(index.usage(state, now, fairShare), fairShareUsage(state, now, fairShare))
      if (differences.length > 0) {
        this.o.log.error({ differences: differences.slice(0, 5) }, 'the index of fair-share usage differs from the state: recounted (a defect: please report it)')
        if (CHECK_QUEUE_INDEX) throw new Error(`the index of fair-share usage differs from the state: ${differences.slice(0, 5).join('; ')}`)
        index.recount(state)
      }
    }
    return { ...q, fairShare: { ...fairShare, index } }
  }

  /**
   * A submit made on this node while it is the master: accepted as it is written, the accept
   * carried in the submit (one event a request, not two: every node applies, stores and relays
   * one event less a job; the request is answered with its ID at once). `decide` declines (the
   * submit goes alone, and the next pass accepts it as any other) unless a pass could decide
   * now: the role established, caught up with its peers, its term the highest known, and no
   * request waiting to be accepted (those come first: IDs and the queue keep the requests'
   * order). `place`:
   * the joblist's jobs placed with it, as a pass places those of the joblists it accepts (the
   * assigns of other joblists that placement finds are left to the pass the submit calls for).
   */
  readonly ownSubmit: OwnAccept = {
    decide: (state, submit) => {
      // (Requests waiting for a pass go first: a later one accepted now would take their turn.)
      if (!this.active || state.unaccepted.length > 0 || !this.settledNow()) return undefined
      const mine = state.terms[this.o.self] ?? 0
      if (mine === 0 || Object.values(state.terms).some(t => t > mine)) return undefined
      return acceptOwnSubmit({ state, self: this.o.self, selfCode: this.o.code, alive: this.o.alive(), policy: this.lostPolicy }, submit.spec, mine)
    },
    place: (s, accept) => {
      // (Timed as a pass: it is one, whose other decisions wait for the next.)
      const done = this.o.metrics?.passTimer()
      try {
        const own = `${accept.body.id}.`
        const carried: CarriedAssign[] = []
        for (const d of schedule(this.passInput(s))) if (d.type === 'assign' && d.jobId.startsWith(own)) carried.push({ jobId: d.jobId, attempt: d.attempt, node: d.node, resources: d.resources })
        return carried
      } finally { done?.() }
    }
  }

  /** The node's index of the queue, compared now and then with a recount of the state. */
  private queueView (index: QueueIndex, state: ClusterState): QueueView {
    const view = index.view(state)
    const now = performance.now()
    if (!CHECK_QUEUE_INDEX && now - this.queueAuditAt < QUEUE_AUDIT_GAP_MS) return view
    this.queueAuditAt = now
    const differences = index.differences(state)
    if (differences.length === 0) return view
    this.o.log.error({ differences }, 'the index of the queue differs from the state: recounted (a defect: please report it)')
    if (CHECK_QUEUE_INDEX) throw new Error(`the index of the queue differs from the state: ${differences.join('; ')}`)
    index.recount(state)
    return view
  }

  private wakeTimer: NodeJS.Timeout | undefined

  /** A pass right when the next schedule instant falls due, not at the next heartbeat after it. */
  private wakeAtNextInstant (state: ClusterState): void {
    if (this.o.wake === undefined) return
    const next = nextDue(state)
    clearTimeout(this.wakeTimer)
    this.wakeTimer = undefined
    if (next === null) return
    const delay = Math.min(Math.max(0, next - this.o.now()), 60_000)
    this.wakeTimer = setTimeout(() => { this.wakeTimer = undefined; this.o.wake?.() }, delay)
    this.wakeTimer.unref()
  }

  /**
   * Caught up now, as the barrier asks (behind no peer, every peer heard, none still in
   * office), without starting a wait or a pull: what a submit made on the master asks before it
   * carries its accept (declined, a pass accepts it under the barrier's own rules; asking the
   * barrier itself at every submit started waits, and the pulls with them, a pass never needed).
   */
  private settledNow (): boolean {
    if (this.o.behind()) return false
    const peers = this.o.unsettled?.() ?? { unheard: [], claiming: [] }
    return peers.unheard.length === 0 && peers.claiming.length === 0
  }

  /**
   * The barrier before deciding. A master that knows less than a peer (just after a heal, a
   * restart or a failover) waits until it has caught up, so it never decides on a partial view
   * of what others already decided: it waits to hear every alive peer at least once (a peer
   * that just connected has not told its version vector yet), to have applied what they have,
   * and for an outgoing master to leave the office (its heartbeat no longer claims it): one
   * master at a time launches a schedule's instant, sends a webhook or places a job. The wait
   * is bounded: after CATCH_UP_LIMIT_MS it decides anyway (conflicting decisions resolve
   * deterministically; waiting forever on a peer that cannot serve us would not).
   */
  private caughtUp (): boolean {
    const peers = this.o.unsettled?.() ?? { unheard: [], claiming: [] }
    const behind = this.o.behind()
    if (!behind && peers.unheard.length === 0 && peers.claiming.length === 0) {
      if (this.waitingSince !== undefined) this.o.log.debug({ ms: this.o.now() - this.waitingSince }, 'caught up with peers')
      this.waitingSince = undefined
      this.warnedWait = false
      return true
    }
    const now = this.o.now()
    if (this.waitingSince === undefined) {
      this.o.log.debug({ behind, unheard: peers.unheard, claiming: peers.claiming }, 'waiting for peers before deciding')
      this.waitingSince = now
      if (behind) this.o.catchUp?.()
    }
    if (now - this.waitingSince < CATCH_UP_LIMIT_MS) return false
    if (this.warnedWait) return true
    this.warnedWait = true
    this.o.log.warn({ ms: now - this.waitingSince, behind, unheard: peers.unheard, claiming: peers.claiming }, 'still waiting for peers (behind one, one not heard, or one still in office); deciding anyway')
    return true
  }
}
