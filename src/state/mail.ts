// Email notifications (issue 11), derived, never stored, like webhooks (notifications.ts):
// each (joblist, reached state, email subscription i) is an item with the stable ID
// `<joblistId>.<state>.<i>`. The master sends, per address, ONE message listing every item
// due for it, and records it as a `mail` event; an item is done once an ok mail lists it.
// When an address's next message is due is a pure function of the state, the time and the
// settings, so a new master (after a failover too) sends what is not recorded yet.
//
// The rules:
// - a `now` item is due when its state is reached; a `daily` item at the next digest time
//   (notify.digestAt, UTC) at or after that: one digest per address per day;
// - the storm bound: an address gets at most one message per notify.mailEvery (counted from
//   its last successful message), which lists everything due by then: 100 joblists failing
//   within a minute make at most 2 messages;
// - a failed message is retried after a backoff (as webhooks: 1 s, 2 s, … 10 min, with a
//   jitter from the address), until retryFor passed since the item was due.
import type { NotifyState } from '../spec/types.js'
import { backoffMs } from './notifications.js'
import { subjectsOf } from './subscriptions.js'
import type { ClusterState, MailRecord } from './types.js'
import { failureLine, jobFailureLine } from './views.js'

export interface MailOptions {
  /** At most one message per address per this long (ms). */
  mailEveryMs: number
  /** How long after an item was due a failed message is retried (ms). */
  retryForMs: number
  /** Daily digests at this time of day, "HH:MM" (UTC). */
  digestAt: string
  /** For tests: digests every this long (from the epoch) instead of daily. */
  digestEveryMs?: number
}

/** The most items one message lists (the rest go in the next one). */
export const MAX_MAIL_ITEMS = 500
const DAY_MS = 24 * 3600 * 1000

export interface MailItem {
  /** `<joblist or job ID>.<state>.<subscription key>`. */
  id: string
  subject: 'joblist' | 'job'
  subjectId: string
  joblistId: string
  /** The joblist's name, or `joblist/job` for a job. */
  joblistName: string
  state: NotifyState
  key: string
  to: string
  digest: 'now' | 'daily'
  /** When the joblist reached the state (ms). */
  reachedAt: number
  /** When the item itself is due: reachedAt (now) or the next digest time (daily). */
  dueAt: number
  /** When an ok mail listed it; null while pending. */
  sentAt: number | null
  /** Failed messages that listed it. */
  failures: number
  lastError?: string
  /** retryFor passed since the item was due before a message listing it got through. */
  gaveUp: boolean
  /** When the message listing it is due (ms); null once sent or given up. */
  nextAt: number | null
  /** The joblist's one-line failure, for a failed joblist. */
  failure?: string
}

/** The first digest time at or after `t`. */
export function nextDigestAt (t: number, o: Pick<MailOptions, 'digestAt' | 'digestEveryMs'>): number {
  if (o.digestEveryMs !== undefined && o.digestEveryMs > 0) return Math.ceil(t / o.digestEveryMs) * o.digestEveryMs
  const [h, m] = o.digestAt.split(':').map(Number)
  const slot = Math.floor(t / DAY_MS) * DAY_MS + ((h ?? 0) * 60 + (m ?? 0)) * 60_000
  return slot >= t ? slot : slot + DAY_MS
}

/** When the address may get its next message, whatever is due: the storm bound and the backoff. */
export function addressGate (records: readonly MailRecord[], to: string, o: Pick<MailOptions, 'mailEveryMs'>): number {
  let gate = 0
  let failures = 0
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]
    if (r.ok) { gate = r.at + o.mailEveryMs; break }
    failures++
  }
  if (failures > 0) gate = Math.max(gate, records[records.length - 1].at + backoffMs(`mail:${to}`, failures))
  return gate
}

/** Every email item (of one joblist, or of all), with its standing. */
export function allMailItems (state: ClusterState, now: number, o: MailOptions, joblistId?: string, among?: Iterable<string>): MailItem[] {
  const jls = joblistId !== undefined
    ? [state.joblists[joblistId]].filter(j => j !== undefined)
    : among !== undefined ? [...among].map(id => state.joblists[id]).filter(j => j !== undefined) : Object.values(state.joblists)
  const items: MailItem[] = []
  for (const jl of jls) {
    for (const subject of subjectsOf(state, jl)) {
      for (const { key, sub, since } of subject.subs) {
        if (!('email' in sub)) continue
        for (const s of sub.on) {
          const reachedAt = subject.reached[s]
          if (reachedAt === undefined || reachedAt < since) continue
          const failure = s !== 'failed' ? undefined : subject.kind === 'joblist' ? failureLine(state, jl) : jobFailureLine(state, subject.id)
          items.push({
            id: `${subject.id}.${s}.${key}`,
            subject: subject.kind,
            subjectId: subject.id,
            joblistId: jl.id,
            joblistName: subject.name,
            state: s,
            key,
            to: sub.email,
            digest: sub.digest,
            reachedAt,
            dueAt: sub.digest === 'now' ? reachedAt : nextDigestAt(reachedAt, o),
            sentAt: null,
            failures: 0,
            gaveUp: false,
            nextAt: null,
            ...(failure !== undefined ? { failure } : {})
          })
        }
      }
    }
  }
  // Standing from what the messages that listed each item said (reducer.ts noteMail: the
  // same on every node), the address's gate from its last messages.
  const mails = state.mails ?? {}
  const standings = state.mailItems ?? {}
  const gates = new Map<string, number>()
  for (const it of items) {
    const standing = standings[it.id]?.[it.to]
    const lastFailedAt = standing?.lastFailed?.at
    if (standing !== undefined) {
      it.sentAt = standing.sent?.at ?? null
      it.failures = standing.failures
      if (standing.lastError !== undefined) it.lastError = standing.lastError.error
    }
    if (it.sentAt !== null) continue
    it.gaveUp = lastFailedAt !== undefined && lastFailedAt > it.dueAt + o.retryForMs
    if (it.gaveUp) continue
    let gate = gates.get(it.to)
    if (gate === undefined) gates.set(it.to, gate = addressGate(mails[it.to] ?? [], it.to, o))
    it.nextAt = Math.max(it.dueAt, gate)
  }
  return items.sort(byDue)
}

const byDue = (a: MailItem, b: MailItem): number => a.dueAt - b.dueAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

export interface DueMail {
  to: string
  /** The items the message lists: every pending item of the address due by now (at most MAX_MAIL_ITEMS). */
  items: MailItem[]
}

/**
 * The messages to send now: one per address with a pending item whose message is due. `among`:
 * the joblists that may still owe a notification (see dueDeliveries); absent: every joblist.
 */
export function dueMails (state: ClusterState, now: number, o: MailOptions, among?: Iterable<string>): DueMail[] {
  const by = new Map<string, MailItem[]>()
  let any = false
  for (const it of allMailItems(state, now, o, undefined, among)) {
    if (it.nextAt === null || it.dueAt > now) continue
    any = true
    const list = by.get(it.to)
    if (list === undefined) by.set(it.to, [it])
    else list.push(it)
  }
  if (!any) return []
  const out: DueMail[] = []
  for (const [to, list] of by) {
    // The gate is the address's: due when the earliest item's nextAt has come.
    if (Math.min(...list.map(i => i.nextAt ?? Infinity)) > now) continue
    out.push({ to, items: list.slice(0, MAX_MAIL_ITEMS) })
  }
  return out.sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0))
}

/** The message for a due mail: a subject and a plain-text body listing each item in one line. */
export function mailMessage (m: DueMail): { subject: string, text: string } {
  const daily = m.items.every(i => i.digest === 'daily')
  const counts = new Map<string, number>()
  for (const i of m.items) counts.set(i.state, (counts.get(i.state) ?? 0) + 1)
  const summary = [...counts].map(([s, n]) => `${n} ${s}`).join(', ')
  const n = m.items.length
  const subject = daily
    ? `cis digest: ${n} ${n === 1 ? 'notification' : 'notifications'} (${summary})`
    : n === 1
      ? `cis: ${m.items[0].subject} ${m.items[0].joblistName} ${m.items[0].state}`
      : `cis: ${n} notifications (${summary})`
  const lines = m.items.map(i => `- ${i.subject === 'job' ? 'job ' : ''}${i.joblistName} (${i.subjectId}) ${i.state} at ${new Date(i.reachedAt).toISOString()}${i.failure !== undefined ? `: ${i.failure}` : ''}`)
  const text = [
    daily ? `What ended since the last digest (${n}):` : `Notifications (${n}):`,
    '',
    ...lines,
    '',
    `(${m.to} is subscribed by notify entries of joblists or jobs; see cis notifications.)`,
    ''
  ].join('\n')
  return { subject, text }
}
