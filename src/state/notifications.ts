// Webhook notifications (issue 11), derived, never stored: a joblist whose spec has
// `notify` subscriptions owes one delivery per subscription and per state it asks for that
// the joblist has reached. A delivery's ID `<joblistId>.<state>.<i>` is the webhook-id: the
// same on every retry and on every master. The master records each attempt as a `delivery`
// event; whether a delivery is due, delivered, given up or disabled is a pure function of the
// state and the time, so any master (after a failover too) resumes where the last one stopped.
import { createHash } from 'node:crypto'
import type { NotifyState } from '../spec/types.js'
import { sortedAttempts } from './derive.js'
import type { ClusterState, DeliveryAttempt, JoblistRecord } from './types.js'
import { FINAL_JOBLIST_STATES } from './types.js'

export interface NotifyOptions {
  /** How long after the state was reached a delivery is retried. */
  retryForMs: number
}

export interface Delivery {
  /** `<joblistId>.<state>.<subscription index>`: the webhook-id. */
  id: string
  joblistId: string
  state: NotifyState
  /** The subscription's index in the joblist's notify list. */
  index: number
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

/** When the joblist reached each state a webhook can be told about (absent: not reached). */
export function reachedStates (state: ClusterState, jl: JoblistRecord): Partial<Record<NotifyState, number>> {
  const out: Partial<Record<NotifyState, number>> = {}
  let started: number | undefined
  for (const stage of jl.stages) {
    for (const logicalId of stage.jobIds) {
      for (const id of state.jobs[logicalId]?.physical ?? [logicalId]) {
        for (const a of sortedAttempts(state.attempts[id])) {
          if (a.startedAt !== undefined && (started === undefined || a.startedAt < started)) started = a.startedAt
        }
      }
    }
  }
  if (started !== undefined) out.running = started
  if (FINAL_JOBLIST_STATES.has(jl.state)) out[jl.state as NotifyState] = jl.endedAt ?? started ?? jl.acceptedAt
  return out
}

/** Every delivery a joblist owes (those of reached states), with its attempts and its standing. */
export function joblistDeliveries (state: ClusterState, jl: JoblistRecord, now: number, o: NotifyOptions): Delivery[] {
  const subs = state.requests[jl.request]?.spec.notify
  if (subs === undefined || !subs.some(s => 'webhook' in s)) return []
  const reached = reachedStates(state, jl)
  const records = state.deliveries ?? {}
  const out: Delivery[] = []
  subs.forEach((sub, index) => {
    if (!('webhook' in sub)) return // an email subscription (mail.ts)
    // A 410 to any delivery of this subscription disables it.
    const disabled = sub.on.some(s => (records[`${jl.id}.${s}.${index}`] ?? []).some(a => a.gone === true))
    for (const s of sub.on) {
      const reachedAt = reached[s]
      if (reachedAt === undefined) continue
      const id = `${jl.id}.${s}.${index}`
      const attempts = records[id] ?? []
      const delivered = attempts.some(a => a.ok)
      const last = attempts[attempts.length - 1]
      const next = last === undefined ? reachedAt : last.at + (last.retryAfterMs ?? backoffMs(id, attempts.length))
      const gaveUp = !delivered && !disabled && last !== undefined && next > reachedAt + o.retryForMs
      out.push({
        id,
        joblistId: jl.id,
        state: s,
        index,
        url: sub.webhook,
        reachedAt,
        attempts,
        delivered,
        gaveUp,
        disabled: disabled && !delivered,
        nextAt: delivered || disabled || gaveUp ? null : next
      })
    }
  })
  return out
}

/** Every delivery of every joblist with subscriptions (or of one joblist). */
export function allDeliveries (state: ClusterState, now: number, o: NotifyOptions, joblistId?: string): Delivery[] {
  const jls = joblistId !== undefined ? [state.joblists[joblistId]].filter(j => j !== undefined) : Object.values(state.joblists)
  return jls.flatMap(jl => joblistDeliveries(state, jl, now, o))
}

/** The deliveries to attempt now: reached, not delivered, not given up nor disabled, and due. */
export function dueDeliveries (state: ClusterState, now: number, o: NotifyOptions): Delivery[] {
  const due: Delivery[] = []
  for (const jl of Object.values(state.joblists)) {
    if (state.requests[jl.request]?.spec.notify === undefined) continue
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
