// Webhook notifications (issue 11), derived, never stored: a joblist or job with `notify`
// subscriptions (subscriptions.ts) owes one delivery per subscription and per state it asks
// for that it has reached. A delivery's ID `<joblist or job ID>.<state>.<key>` is the
// webhook-id: the same on every retry and on every master. The master records each attempt as a `delivery`
// event; whether a delivery is due, delivered, given up or disabled is a pure function of the
// state and the time, so any master (after a failover too) resumes where the last one stopped.
import { createHash } from 'node:crypto'
import type { NotifyState } from '../spec/types.js'
import { NOTIFY_STATES } from '../spec/schema.js'
import { hasSubscriptions, subjectsOf } from './subscriptions.js'
import type { Subject } from './subscriptions.js'
import type { ClusterState, DeliveryAttempt, JoblistRecord } from './types.js'

export interface NotifyOptions {
  /** How long after the state was reached a delivery is retried. */
  retryForMs: number
}

export interface Delivery {
  /** `<joblist or job ID>.<state>.<subscription key>`: the webhook-id. */
  id: string
  /** Whether the joblist or one of its jobs is the subject. */
  subject: 'joblist' | 'job'
  /** The joblist's or the job's ID. */
  subjectId: string
  joblistId: string
  /** The joblist's name, or `joblist/job`. */
  name: string
  state: NotifyState
  /** The subscription's key (subscriptions.ts): its index in the submitted list, or a hash of its target. */
  key: string
  url: string
  /** When the joblist reached the state (ms). */
  reachedAt: number
  attempts: DeliveryAttempt[]
  delivered: boolean
  /** retryFor passed since the state was reached before an attempt succeeded. */
  gaveUp: boolean
  /** The receiver answered 410 Gone to one of this subscription's deliveries. */
  disabled: boolean
  /** When the next attempt is due (ms); null once delivered, given up or disabled. */
  nextAt: number | null
  /** Its subscription was removed or no longer asks for this state (by a change): shown for its history, never attempted again. */
  retired?: true
}

export const BACKOFF_BASE_MS = 1000
export const BACKOFF_CAP_MS = 10 * 60 * 1000

/** A number in [0, 1) from the delivery ID and the attempt number: the same on every node. */
export function jitter (id: string, attempt: number): number {
  const h = createHash('sha256').update(`${id}#${attempt}`).digest()
  return h.readUInt32BE(0) / 0x1_0000_0000
}

/**
 * The wait after attempt `attempt` (1-based) failed: 1 s, 2 s, 4 s, … capped at 10 min, plus
 * up to a quarter more, derived from hash(id, attempt) so every master computes the same.
 */
export function backoffMs (id: string, attempt: number): number {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(30, Math.max(0, attempt - 1)))
  return Math.round(base * (1 + jitter(id, attempt) / 4))
}

/**
 * Every delivery a joblist and its jobs owe (those of reached states), with its attempts and
 * its standing; with `history`, also those attempted for a subscription a change removed.
 */
export function joblistDeliveries (state: ClusterState, jl: JoblistRecord, now: number, o: NotifyOptions, history = false): Delivery[] {
  const records = state.deliveries ?? {}
  const out: Delivery[] = []
  for (const subject of subjectsOf(state, jl, history)) {
    for (const { key, sub, since } of subject.subs) {
      if (!('webhook' in sub)) continue // an email subscription (mail.ts)
      // A 410 to any delivery of this subscription disables it.
      const disabled = NOTIFY_STATES.some(s => (records[`${subject.id}.${s}.${key}`] ?? []).some(a => a.gone === true))
      for (const s of sub.on) {
        const reachedAt = subject.reached[s]
        if (reachedAt === undefined || reachedAt < since) continue
        const id = `${subject.id}.${s}.${key}`
        const attempts = records[id] ?? []
        const delivered = attempts.some(a => a.ok)
        const last = attempts[attempts.length - 1]
        const next = last === undefined ? reachedAt : last.at + (last.retryAfterMs ?? backoffMs(id, attempts.length))
        const gaveUp = !delivered && !disabled && last !== undefined && next > reachedAt + o.retryForMs
        out.push({
          id,
          subject: subject.kind,
          subjectId: subject.id,
          joblistId: jl.id,
          name: subject.name,
          state: s,
          key,
          url: sub.webhook,
          reachedAt,
          attempts,
          delivered,
          gaveUp,
          disabled: disabled && !delivered,
          nextAt: delivered || disabled || gaveUp ? null : next
        })
      }
    }
    if (history) out.push(...retiredDeliveries(state, subject, out))
  }
  return out
}

/** Deliveries attempted for a subject that are no longer owed (their subscription changed): their history. */
function retiredDeliveries (state: ClusterState, subject: Subject, owed: readonly Delivery[]): Delivery[] {
  const records = state.deliveries ?? {}
  const out: Delivery[] = []
  const have = new Set(owed.map(d => d.id))
  for (const s of NOTIFY_STATES) {
    for (const [key, target] of subject.formerTargets) {
      const id = `${subject.id}.${s}.${key}`
      const attempts = records[id]
      if (attempts === undefined || have.has(id) || !target.startsWith('webhook:')) continue
      out.push({ id, subject: subject.kind, subjectId: subject.id, joblistId: subject.joblistId, name: subject.name, state: s, key, url: target.slice('webhook:'.length), reachedAt: attempts[0]?.at ?? 0, attempts, delivered: attempts.some(a => a.ok), gaveUp: false, disabled: false, nextAt: null, retired: true })
    }
  }
  return out
}

/** Every delivery of every joblist with subscriptions (or of one joblist). */
export function allDeliveries (state: ClusterState, now: number, o: NotifyOptions, joblistId?: string): Delivery[] {
  const jls = joblistId !== undefined ? [state.joblists[joblistId]].filter(j => j !== undefined) : Object.values(state.joblists)
  return jls.flatMap(jl => joblistDeliveries(state, jl, now, o, true))
}

/**
 * The deliveries to attempt now: reached, not delivered, not given up nor disabled, and due.
 * `among`: the joblists that may still owe a notification (state/owed.ts NotifyIndex, kept as events apply),
 * so a pass costs those, not every joblist; absent: every joblist is looked at.
 */
export function dueDeliveries (state: ClusterState, now: number, o: NotifyOptions, among?: Iterable<string>): Delivery[] {
  const due: Delivery[] = []
  for (const id of among ?? Object.keys(state.joblists)) {
    const jl = state.joblists[id]
    if (jl === undefined || !hasSubscriptions(state, jl)) continue
    for (const d of joblistDeliveries(state, jl, now, o)) if (d.nextAt !== null && d.nextAt <= now) due.push(d)
  }
  return due.sort((a, b) => (a.nextAt ?? 0) - (b.nextAt ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/** Whether a URL's host is in allowHosts: `host` allows any port, `host:port` that port. */
export function hostAllowed (url: string, allowHosts: readonly string[]): boolean {
  let u: URL
  try { u = new URL(url) } catch { return false }
  const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80'
  const host = u.hostname.toLowerCase()
  const bare = host.replace(/^\[|\]$/g, '')
  return allowHosts.some(a => {
    const x = a.toLowerCase()
    return x === host || x === bare || x === `${host}:${port}` || x === `[${bare}]:${port}`
  })
}
