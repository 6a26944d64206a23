// events -> cluster state. Deterministic and free of I/O: the same events give the same
// state. For speed `apply` updates the state in place; `reduce` folds a list from empty.
// Facts are stored apart (requests, accepts, attempts, cancels) and the views (joblists,
// jobs) are recomputed from them, so an event may arrive before the one it refers to.
import type { AssignBody, AttemptUsage, CarriedAssign, CisEvent, EventType, SubmitAccept, UnsignedEvent } from '../events/types.js'
import { acceptOf, carriedAssigns, eventKey } from '../events/types.js'
import { sortedAttempts, deriveJoblist } from './derive.js'
import type { AcceptFact, AttemptRecord, ClusterState, JobRecord, JoblistRecord, MailItemStanding, MailRecord, NotifyChange, UpdateRecord } from './types.js'
import { targetOf } from './subscriptions.js'
import { FINAL_JOBLIST_STATES, emptyState, joblistById } from './types.js'
import { comparePositions, insertByPosition, positionOf } from './position.js'
import { QueueList } from './queue-list.js'
import { applyControl, applyScheduleDefine, applySkip, noteRun, runChanged } from './schedules.js'
import { purgeRecords } from './purge.js'
import { anyPurged, isPurged } from './purged.js'
import { eventSubjects } from './subjects.js'
import { applyCut, idCounter } from './cuts.js'
import { touchJoblistView, touchPart } from './changes.js'

type Ev<T extends EventType> = UnsignedEvent<T> | CisEvent<T>

/** The joblist ID of a job ID (`<joblistId>.<n>`, or `<joblistId>.<n>.<k>` for a physical job). */
export function joblistOfJob (jobId: string): string {
  const i = jobId.indexOf('.')
  return i < 0 ? jobId : jobId.slice(0, i)
}

/**
 * Events of `origin` up to `seq` that a purge took out of the logs (cuts.ts): the node that
 * never had them counts them as applied, and nothing else changes.
 */
export function skipTo (state: ClusterState, origin: string, seq: number): void {
  if (seq > (state.applied[origin] ?? 0)) { touchPart(state, 'applied', origin); state.applied[origin] = seq }
}

/**
 * Apply one event. Returns the joblist IDs whose view changed (for logs and notifications).
 * Events of one origin must come in seq order; the caller guarantees it.
 */
export function apply (state: ClusterState, e: UnsignedEvent | CisEvent): string[] {
  const prev = state.applied[e.origin] ?? 0
  if (e.seq <= prev) return []
  const changed = applyOne(state, e)
  // An event about a purged joblist (from a node that was away during the purge): what it
  // added goes again, so the result does not depend on the order (purge.ts).
  if (e.type !== 'purge' && anyPurged(state)) {
    let ids: string[] | undefined
    let reqs: string[] | undefined
    for (const s of eventSubjects(e)) {
      if (!isPurged(state, s)) continue
      if (s.includes(':')) (reqs ??= []).push(s)
      else (ids ??= []).push(s)
    }
    if (ids !== undefined || reqs !== undefined) return [...changed, ...purgeRecords(state, ids ?? [], reqs ?? [])]
  }
  return changed
}

function applyOne (state: ClusterState, e: UnsignedEvent | CisEvent): string[] {
  touchPart(state, 'applied', e.origin)
  state.applied[e.origin] = e.seq
  if (e.ts > state.clock.ts || (e.ts === state.clock.ts && e.lc > state.clock.lc)) state.clock = { ts: e.ts, lc: e.lc }
  switch (e.type) {
    case 'node': return applyNode(state, e as Ev<'node'>)
    case 'submit': return applySubmit(state, e as Ev<'submit'>)
    case 'accept': return applyAccept(state, e as Ev<'accept'>)
    case 'master': {
      const b = (e as Ev<'master'>).body
      touchPart(state, 'terms', e.origin)
      state.terms[e.origin] = Math.max(state.terms[e.origin] ?? 0, b.term)
      return []
    }
    case 'stop': {
      const b = (e as Ev<'stop'>).body
      const key = eventKey(e)
      // A cancel may have arrived first: it marked the request handled already.
      touchPart(state, 'stops', key)
      state.stops[key] = { joblistId: b.joblistId, ...(b.jobId !== undefined ? { jobId: b.jobId } : {}), at: e.ts, handled: state.stops[key]?.handled ?? false }
      return []
    }
    case 'cancel': return applyCancel(state, e as Ev<'cancel'>)
    case 'schedule': applyScheduleDefine(state, e as Ev<'schedule'>); return []
    case 'control': applyControl(state, e as Ev<'control'>); return []
    case 'skip': applySkip(state, e as Ev<'skip'>); return []
    case 'ack': {
      const id = (e as Ev<'ack'>).body.joblistId
      touchPart(state, 'acks', id)
      state.acks[id] = Math.min(state.acks[id] ?? e.ts, e.ts)
      return state.joblists[id] !== undefined ? [id] : []
    }
    case 'update': return applyUpdate(state, e as Ev<'update'>)
    case 'purge': {
      const b = (e as Ev<'purge'>).body
      const changed = purgeRecords(state, b.ids, b.requests)
      applyCut(state, eventKey(e), b.cut, b.counters)
      return changed
    }
    case 'delivery': {
      const b = (e as Ev<'delivery'>).body
      touchPart(state, 'deliveries', b.id)
      const list = (state.deliveries ??= {})[b.id] ?? (state.deliveries[b.id] = [])
      insertByPosition(list, { attempt: b.attempt, ok: b.ok, ...(b.status !== undefined ? { status: b.status } : {}), ...(b.error !== undefined ? { error: b.error } : {}), ...(b.retryAfterMs !== undefined ? { retryAfterMs: b.retryAfterMs } : {}), ...(b.gone === true ? { gone: true as const } : {}), at: e.ts, pos: positionOf(e) })
      return []
    }
    case 'mail': {
      const b = (e as Ev<'mail'>).body
      const pos = positionOf(e)
      touchPart(state, 'mails', b.to)
      const list = (state.mails ??= {})[b.to] ?? (state.mails[b.to] = [])
      insertByPosition(list, { ids: [...b.ids], ok: b.ok, ...(b.error !== undefined ? { error: b.error } : {}), at: e.ts, pos })
      trimMailRecords(list)
      noteMailItems(state, b.to, b.ids, b.ok, b.error, e.ts, pos)
      return []
    }
    // Two masters (a healing partition) may each decide the same attempt. Every fact keeps
    // the one with the lowest position, so all nodes pick the same, in any order; the
    // overruled one is counted as a conflict.
    case 'assign': return applyAssign(state, e, (e as Ev<'assign'>).body)
    case 'started': {
      const b = (e as Ev<'started'>).body
      return updateAttempt(state, b.jobId, b.attempt, a => {
        if (!wins(a, 'startPos', e)) return
        a.startedAt = e.ts
        a.pid = b.pid
      })
    }
    case 'finished': {
      const b = (e as Ev<'finished'>).body
      return updateAttempt(state, b.jobId, b.attempt, a => {
        // A start told with the end (a short job: one event, not two) is a started fact at
        // this event's position.
        if (b.started !== undefined && wins(a, 'startPos', e)) {
          a.startedAt = b.started.at
          a.pid = b.started.pid
        }
        if (!wins(a, 'finishPos', e)) return
        a.finish = { state: b.state, at: e.ts, exitCode: b.exitCode, signal: b.signal, ...(b.reason !== undefined ? { reason: b.reason } : {}), ...(b.tail !== undefined ? { tail: b.tail } : {}) }
        // The winner's usage replaces an overruled fact's that arrived first, also by none:
        // otherwise the state would depend on the arrival order.
        const usage = b.usage !== undefined ? knownUsage(b.usage) : undefined
        if (usage !== undefined) a.usage = usage
        else delete a.usage
      })
    }
    case 'lose': {
      const b = (e as Ev<'lose'>).body
      return updateAttempt(state, b.jobId, b.attempt, a => {
        if (a.lostMark === undefined || e.ts < a.lostMark.at) a.lostMark = { at: e.ts, reason: b.reason }
      })
    }
    default: return []
  }
}

/** The usage fields this version knows, in a fixed shape (a newer peer may send more). */
function knownUsage (u: AttemptUsage): AttemptUsage | undefined {
  const known: AttemptUsage = {
    ...(u.cpuUserMs !== undefined && u.cpuSysMs !== undefined ? { cpuUserMs: u.cpuUserMs, cpuSysMs: u.cpuSysMs } : {}),
    ...(u.maxRssKb !== undefined ? { maxRssKb: u.maxRssKb } : {})
  }
  return Object.keys(known).length > 0 ? known : undefined
}

export function reduce (events: Iterable<UnsignedEvent | CisEvent>, state: ClusterState = emptyState()): ClusterState {
  for (const e of events) apply(state, e)
  return state
}

function applyNode (state: ClusterState, e: Ev<'node'>): string[] {
  touchPart(state, 'nodes', e.origin)
  state.nodes[e.origin] = { id: e.origin, ...e.body, updatedAt: e.ts }
  return []
}

function applySubmit (state: ClusterState, e: Ev<'submit'>): string[] {
  const key = eventKey(e)
  const order: [number, number, string, number] = [e.ts, e.lc, e.origin, e.seq]
  touchPart(state, 'requests', key)
  state.requests[key] = { key, origin: e.origin, at: e.ts, order, owner: e.body.owner, name: e.body.spec.name, spec: e.body.spec, ...(e.body.schedule !== undefined ? { schedule: e.body.schedule } : {}) }
  insertSorted(state.unaccepted, key, k => state.requests[k].order)
  noteRun(state, key)
  const changed = materialize(state, key)
  // A submit made on the master carries its accept: applied now, as the accept event it stands for.
  const accept = acceptOf(e)
  return accept === undefined ? changed : [...changed, ...applyAccept(state, accept)]
}

function applyAccept (state: ClusterState, e: Ev<'accept'>): string[] {
  const b = e.body
  // The highest counter its IDs show (not a count: a node that skipped purged accepts has the
  // same, through the purge's counters, in any order). An ID of another form counts one more.
  const n = idCounter(b.id)
  const had = state.acceptCount[e.origin] ?? 0
  state.acceptCount[e.origin] = n === undefined ? had + 1 : Math.max(had, n)
  const fact: AcceptFact = { id: b.id, term: b.term, origin: e.origin, at: e.ts, position: [e.ts, e.lc, e.origin, e.seq], onLost: b.onLost, maxLost: b.maxLost, ...(b.expand !== undefined ? { expand: b.expand } : {}) }
  touchPart(state, 'accepts', b.request)
  const list = state.accepts[b.request] ?? (state.accepts[b.request] = [])
  list.push(fact)
  list.sort((x, y) => comparePositions(x.position, y.position))
  const changed = materialize(state, b.request)
  return b.assign === undefined ? changed : [...changed, ...applyCarriedAssigns(state, e)]
}

/**
 * The assigns an accept carries (its joblist's jobs placed in the pass that accepted it): each
 * applied as an `assign` event would be, at the accept's position, with its term. Apart for
 * the master that writes the accept: it applies the accept, places what it can, and then
 * these (node.ts), the same facts in the same order as a peer applying the whole event.
 */
function applyCarriedAssigns (state: ClusterState, e: Ev<'accept'>): string[] {
  const changed = new Set<string>()
  for (const a of carriedAssigns(e.body)) for (const id of applyAssign(state, e, a)) changed.add(id)
  return [...changed]
}

/**
 * What the master places in the pass that accepts a joblist, given the state with the accept
 * applied: the assigns of that joblist's jobs for the accept to carry (master-role.ts).
 */
export type PlaceWithAccept = (state: ClusterState, accept: Ev<'accept'>) => CarriedAssign[]

/**
 * The master's own accept, just applied (without assigns): its joblist placed, the assigns
 * put in the event (signed with it later, in its write batch) and applied, exactly as a peer
 * applies the whole event. Returns the joblists changed.
 */
export function carryAssigns (state: ClusterState, e: Ev<'accept'> | Ev<'submit'>, place: PlaceWithAccept): string[] {
  const accept = acceptOf(e)
  if (accept === undefined) return []
  const assign = place(state, accept)
  if (assign.length === 0) return []
  // (Into the event written: the accept, or the accept a submit carries.)
  if (e.type === 'submit') (e.body.accept as SubmitAccept).assign = assign
  else e.body.assign = assign
  return applyCarriedAssigns(state, { ...accept, body: { ...accept.body, assign } })
}

function applyAssign (state: ClusterState, e: UnsignedEvent | CisEvent, b: AssignBody): string[] {
  return updateAttempt(state, b.jobId, b.attempt, a => {
    if (!wins(a, 'assignPos', e)) return
    a.node = b.node
    a.resources = b.resources
    a.assignedAt = e.ts
    a.term = b.term
  })
}

export { comparePositions }

/** Build the joblist of a request from its submit and its winning accept (once both are here). */
function materialize (state: ClusterState, key: string): string[] {
  const req = state.requests[key]
  const acc = state.accepts[key]?.[0]
  if (req === undefined || acc === undefined) return []
  for (const other of state.accepts[key]) if (other.id !== acc.id) { touchPart(state, 'aliases', other.id); state.aliases[other.id] = acc.id }
  if (req.joblistId === acc.id) {
    // Another accept lost: updates that named its ID now apply to the winner too.
    const jl = state.joblists[acc.id]
    return jl !== undefined && settleUpdates(state, jl) ? [acc.id] : []
  }
  const changed: string[] = []
  if (req.joblistId !== undefined) {
    // A better accept arrived: the earlier joblist ID becomes an alias of the winner.
    const old = state.joblists[req.joblistId]
    touchJoblistView(state, req.joblistId)
    for (const stage of old?.stages ?? []) {
      for (const id of stage.jobIds) {
        for (const p of state.jobs[id]?.physical ?? []) delete state.jobs[p]
        delete state.jobs[id]
      }
    }
    delete state.joblists[req.joblistId]
    state.queue.remove(req.joblistId)
    changed.push(req.joblistId)
  }
  const spec = req.spec
  touchPart(state, 'requests', key)
  req.joblistId = acc.id
  removeFrom(state.unaccepted, key, k => state.requests[k].order)
  const jl: JoblistRecord = {
    id: acc.id,
    name: spec.name,
    request: key,
    owner: req.owner,
    priority: spec.priority,
    tags: spec.tags,
    replace: spec.replace,
    submittedAt: req.at,
    acceptedAt: acc.at,
    acceptedBy: acc.origin,
    term: acc.term,
    position: acc.position,
    policy: { onLost: acc.onLost, maxLost: acc.maxLost },
    stages: [],
    state: 'queued',
    currentStage: 0,
    cancelled: false,
    duplicates: 0,
    ...(req.schedule !== undefined ? { schedule: req.schedule } : {}),
    ...(spec.values !== undefined && Object.keys(spec.values).length > 0 ? { values: spec.values } : {})
  }
  let n = 0
  spec.stages.forEach((stage, si) => {
    const jobIds: string[] = []
    for (const job of stage.jobs) {
      const id = `${acc.id}.${++n}`
      jobIds.push(id)
      const rec: JobRecord = { id, joblistId: acc.id, name: job.name, stage: si, spec: job, state: 'pending', cancelled: false }
      if (job.target !== undefined) {
        // A logical job: one physical job per node the master expanded the target to.
        rec.physical = (acc.expand?.[String(n)] ?? []).map((node, k) => {
          const pid = `${id}.${k + 1}`
          state.jobs[pid] = { id: pid, joblistId: acc.id, name: `${job.name}@${state.nodes[node]?.name ?? node.slice(-6)}`, stage: si, spec: job, state: 'pending', cancelled: false, logical: id, pin: node }
          return pid
        })
      }
      state.jobs[id] = rec
    }
    jl.stages.push({ name: stage.name, jobIds, state: 'pending' })
  })
  state.joblists[acc.id] = jl
  settleUpdates(state, jl)
  state.queue.insert(acc.id, queueKey(state), positionBefore)
  recompute(state, acc.id)
  return [...changed, acc.id]
}

/**
 * A change of a joblist's priority or tags (D-1). Per field the update with the highest
 * position wins, whatever the order the updates arrive in; the joblist (now or once it is
 * accepted) takes its fields from the winners.
 */
function applyUpdate (state: ClusterState, e: Ev<'update'>): string[] {
  const b = e.body
  const pos: Position = [e.ts, e.lc, e.origin, e.seq]
  touchPart(state, 'updates', b.joblistId)
  const rec: UpdateRecord = state.updates[b.joblistId] ?? (state.updates[b.joblistId] = {})
  if (b.notify !== undefined) {
    const jobs = b.jobId !== undefined ? (rec.jobs ??= {}) : undefined
    const had = jobs !== undefined ? jobs[b.jobId as string] : rec.notify
    const since = { ...had?.since }
    for (const s of b.notify) { const t = targetOf(s); since[t] = Math.min(since[t] ?? Infinity, e.ts) }
    const wins = had === undefined || comparePositions(pos, had.pos) > 0
    const next: NotifyChange = wins ? { value: b.notify.map(s => ({ ...s, on: [...s.on] })), pos, since } : { ...had, since }
    if (jobs !== undefined) jobs[b.jobId as string] = next
    else rec.notify = next
  }
  if (b.jobId !== undefined) {
    // A job's change (notify only): nothing of the joblist's record changes, but its views do.
    const jl = joblistById(state, b.joblistId)
    return jl === undefined ? [] : [jl.id]
  }
  if (b.priority !== undefined && (rec.priority === undefined || comparePositions(pos, rec.priority.pos) > 0)) rec.priority = { value: b.priority, pos }
  if (b.tags !== undefined && (rec.tags === undefined || comparePositions(pos, rec.tags.pos) > 0)) rec.tags = { value: [...b.tags], pos }
  // The update may name an ID that lost to another accept of the same request (an alias).
  const jl = joblistById(state, b.joblistId)
  if (jl === undefined) return []
  return settleUpdates(state, jl) || b.notify !== undefined ? [jl.id] : []
}

/**
 * A joblist's priority and tags: its spec's, or the winning update's of each field, among the
 * updates naming any ID its request was accepted under (its own and its aliases).
 */
function settleUpdates (state: ClusterState, jl: JoblistRecord): boolean {
  touchPart(state, 'joblists', jl.id)
  const spec = state.requests[jl.request]?.spec
  let priority: UpdateRecord['priority']
  let tags: UpdateRecord['tags']
  const ids = new Set([jl.id, ...(state.accepts[jl.request] ?? []).map(a => a.id)])
  for (const id of ids) {
    const u = state.updates[id]
    if (u === undefined) continue
    if (u.priority !== undefined && (priority === undefined || comparePositions(u.priority.pos, priority.pos) > 0)) priority = u.priority
    if (u.tags !== undefined && (tags === undefined || comparePositions(u.tags.pos, tags.pos) > 0)) tags = u.tags
  }
  const before = jl.priority
  const beforeTags = jl.tags
  jl.priority = priority?.value ?? spec?.priority ?? jl.priority
  jl.tags = tags !== undefined ? [...tags.value] : spec?.tags ?? jl.tags
  return before !== jl.priority || beforeTags.length !== jl.tags.length || beforeTags.some((t, i) => t !== jl.tags[i])
}

function applyCancel (state: ClusterState, e: Ev<'cancel'>): string[] {
  const b = e.body
  touchPart(state, 'cancels', b.joblistId)
  const c = state.cancels[b.joblistId] ?? { all: false, jobs: [], at: e.ts }
  if (b.jobId === undefined) c.all = true
  else if (!c.jobs.includes(b.jobId)) c.jobs = [...c.jobs, b.jobId].sort()
  c.at = Math.max(c.at, e.ts)
  state.cancels[b.joblistId] = c
  const stop = state.stops[b.request]
  touchPart(state, 'stops', b.request)
  if (stop !== undefined) stop.handled = true
  else state.stops[b.request] = { joblistId: b.joblistId, at: e.ts, handled: true }
  return recompute(state, b.joblistId)
}

function updateAttempt (state: ClusterState, jobId: string, n: number, change: (a: AttemptRecord) => void): string[] {
  touchPart(state, 'attempts', jobId)
  const byN = state.attempts[jobId] ?? (state.attempts[jobId] = {})
  const a = byN[n] ?? (byN[n] = { n, node: '', resources: {}, state: 'assigned', assignedAt: 0, term: 0 })
  change(a)
  settleAttempt(a)
  return recompute(state, joblistOfJob(jobId))
}

/** An attempt's state from its facts: the executor's own end wins over the master's verdict. */
function settleAttempt (a: AttemptRecord): void {
  // Who ran it: the origin of the winning finished fact, else of the winning started fact.
  const ranOn = a.finishPos?.[2] ?? a.startPos?.[2]
  if (ranOn !== undefined) a.ranOn = ranOn
  delete a.endedAt
  delete a.reason
  delete a.exitCode
  delete a.signal
  delete a.tail
  const f = a.finish
  if (f !== undefined) {
    a.state = f.state
    a.endedAt = f.at
    a.exitCode = f.exitCode
    a.signal = f.signal
    if (f.reason !== undefined) a.reason = f.reason
    if (f.tail !== undefined) a.tail = f.tail
  } else if (a.lostMark !== undefined) {
    a.state = 'lost'
    a.endedAt = a.lostMark.at
    a.reason = a.lostMark.reason
  } else {
    a.state = a.startedAt !== undefined ? 'running' : 'assigned'
  }
}

type Position = [number, number, string, number]

/** Does event `e` win over the fact already stored at `field`? Records the winner. */
function wins (a: AttemptRecord, field: 'assignPos' | 'startPos' | 'finishPos', e: { ts: number, lc: number, origin: string, seq: number }): boolean {
  const pos: Position = [e.ts, e.lc, e.origin, e.seq]
  const had = a[field]
  if (had !== undefined) {
    a.conflicts = (a.conflicts ?? 0) + 1
    if (comparePositions(pos, had) >= 0) return false
  }
  a[field] = pos
  return true
}

/**
 * The queue the joblists make: the IDs of those not ended, in position order. What the reducer
 * keeps in `state.queue` as events apply; a snapshot does not store it (snapshot-parts.ts
 * derives it on load: a deep queue made every snapshot serialize and write all its IDs).
 */
export function queueOf (joblists: Readonly<Record<string, JoblistRecord>>): QueueList {
  return QueueList.from(Object.keys(joblists).filter(id => !FINAL_JOBLIST_STATES.has(joblists[id].state)).sort((a, b) => comparePositions(joblists[a].position, joblists[b].position)))
}

/** A queued joblist's key in the queue: its position. */
const queueKey = (state: ClusterState) => (id: string): Position => state.joblists[id].position
const positionBefore = (a: Position, b: Position): boolean => comparePositions(a, b) < 0

/** Failed messages after an address's last one that got through kept at most (the latest). */
export const MAX_TRAILING_MAIL_FAILURES = 64

/**
 * An address's records (sorted by position) cut to what its next message waits for: the last
 * one that got through and the failures after it, the latest MAX_TRAILING_MAIL_FAILURES. A
 * function of the records applied, in any order (a late one before the cut is cut again).
 */
export function trimMailRecords (list: MailRecord[]): void {
  let ok = -1
  for (let i = list.length - 1; i >= 0; i--) if (list[i].ok) { ok = i; break }
  if (ok > 0) list.splice(0, ok)
  const first = ok >= 0 ? 1 : 0
  const extra = list.length - first - MAX_TRAILING_MAIL_FAILURES
  if (extra > 0) list.splice(first, extra)
}

/**
 * One message's word on each item it lists (once an item: a peer's event may list one twice),
 * kept under the address it went to. (An item of a purged joblist is dropped again: by apply's
 * purge path for a message applied, by the fold of an older snapshot's messages.)
 */
export function noteMailItems (state: ClusterState, to: string, ids: readonly string[], ok: boolean, error: string | undefined, at: number, pos: Position): void {
  for (const id of new Set(ids)) {
    touchPart(state, 'mailItems', id)
    const byTo = (state.mailItems ??= {})[id] ?? (state.mailItems[id] = {})
    noteMail(byTo[to] ?? (byTo[to] = { failures: 0 }), ok, error, at, pos)
  }
}

/** One message's word on an item: each fact kept by position (the first ok, the last failure). */
function noteMail (s: MailItemStanding, ok: boolean, error: string | undefined, at: number, pos: Position): void {
  if (ok) {
    if (s.sent === undefined || comparePositions(pos, s.sent.pos) < 0) s.sent = { at, pos }
    return
  }
  s.failures++
  if (s.lastFailed === undefined || comparePositions(pos, s.lastFailed.pos) > 0) s.lastFailed = { at, pos }
  if (error !== undefined && (s.lastError === undefined || comparePositions(pos, s.lastError.pos) > 0)) s.lastError = { error, pos }
}

/** Insert `id` into a list kept sorted by position (no-op if present). Mostly an append. */
function insertSorted (list: string[], id: string, pos: (id: string) => Position): void {
  const i = lowerBound(list, pos(id), pos)
  if (list[i] !== id) list.splice(i, 0, id)
}

/** The first index whose position is not before `p` (positions are unique and never change). */
function lowerBound (list: string[], p: Position, pos: (id: string) => Position): number {
  let lo = 0
  let hi = list.length
  // Most inserts are appends: check the end first.
  if (hi > 0 && comparePositions(pos(list[hi - 1]), p) < 0) return hi
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (comparePositions(pos(list[mid]), p) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

function removeFrom (list: string[], id: string, pos?: (id: string) => Position): void {
  if (pos !== undefined) {
    const i = lowerBound(list, pos(id), pos)
    if (list[i] === id) { list.splice(i, 1); return }
  }
  const i = list.indexOf(id)
  if (i >= 0) list.splice(i, 1)
}

/** Recompute one joblist's view from the facts; returns it as changed, if it exists. */
export function recompute (state: ClusterState, joblistId: string): string[] {
  const jl = state.joblists[joblistId]
  if (jl === undefined) return []
  touchJoblistView(state, joblistId)
  const cancel = state.cancels[joblistId]
  jl.cancelled = cancel?.all === true
  let duplicates = 0
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      for (const id of state.jobs[logicalId]?.physical ?? [logicalId]) {
        let ok = 0
        for (const a of Object.values(state.attempts[id] ?? {})) if (a.state === 'succeeded') ok++
        if (ok > 1) duplicates += ok - 1
      }
    }
  }
  jl.duplicates = duplicates
  deriveJoblist(
    jl,
    state.jobs,
    id => sortedAttempts(state.attempts[id]),
    job => cancel !== undefined && (cancel.all || cancel.jobs.includes(job.id) || (job.logical !== undefined && cancel.jobs.includes(job.logical))),
    cancel?.at ?? 0
  )
  if (FINAL_JOBLIST_STATES.has(jl.state)) state.queue.remove(joblistId, queueKey(state), positionBefore)
  else state.queue.insert(joblistId, queueKey(state), positionBefore)
  runChanged(state, jl)
  return [joblistId]
}
