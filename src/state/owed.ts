// Whether a joblist may still owe a notification (issue 12): what the master's notification
// passes look at. A node keeps the joblists with subscriptions in memory for the whole
// notification window (a day by default, so their history stays in `cis notifications`), and
// every master pass derived the webhook deliveries and email items of each of them: ~4 µs a
// joblist, so a cluster that mails on every joblist's end paid, at each pass, for every
// joblist of the last day (2,000 of them: 8 ms a pass). A joblist owes nothing once it ended
// and each of its deliveries and items is done (delivered, given up or disabled; sent or given
// up); neither changes but by an event about it (its end, a `delivery`, a `mail`), so the node
// asks again only then.
// Pure: values in, values out.
import { allMailItems } from './mail.js'
import type { MailOptions } from './mail.js'
import { joblistDeliveries } from './notifications.js'
import { eventSubjects } from './subjects.js'
import { hasSubscriptions } from './subscriptions.js'
import type { UnsignedEvent } from '../events/types.js'
import type { ClusterState, JoblistRecord } from './types.js'
import { FINAL_JOBLIST_STATES } from './types.js'

/** `o`: the node's notification settings (retryFor for webhooks and emails alike). */
export function owesNotifications (state: ClusterState, jl: JoblistRecord, now: number, o: MailOptions): boolean {
  if (!FINAL_JOBLIST_STATES.has(jl.state)) return true
  for (const d of joblistDeliveries(state, jl, now, o)) if (d.nextAt !== null) return true
  for (const it of allMailItems(state, now, o, jl.id)) if (it.nextAt !== null) return true
  return false
}

/** Events that may change what a joblist owes without the reducer reporting it changed. */
const ASKED_BY: ReadonlySet<string> = new Set(['delivery', 'mail', 'update', 'accept', 'submit'])

/**
 * The joblists with subscriptions (kept in memory for the notification window: the node's
 * archive asks) and, of those, the ones that may still owe a notification (what a master's
 * notification pass looks at), kept as events apply.
 */
export class NotifyIndex {
  readonly subscribed = new Set<string>()
  readonly owing = new Set<string>()

  /** From a whole state (a node starting). */
  build (state: ClusterState, now: number, o: MailOptions): void {
    this.subscribed.clear()
    this.owing.clear()
    this.update(state, Object.keys(state.joblists), [], now, o)
  }

  /**
   * Events applied: `changed` the joblists the reducer changed; `events` those applied. Their
   * deliveries and mails change what a joblist owes without changing it, and so may an update
   * or an accept that changes no field of its view: an update naming a losing accept's ID,
   * then that accept (an alias), gives the joblist the update's subscriptions.
   */
  update (state: ClusterState, changed: Iterable<string>, events: readonly UnsignedEvent[], now: number, o: MailOptions): void {
    const ask = new Set(changed)
    for (const e of events) {
      if (!ASKED_BY.has(e.type)) continue
      for (const s of eventSubjects(e)) ask.add(state.requests[s]?.joblistId ?? state.aliases[s] ?? s)
    }
    for (const id of ask) {
      const jl = state.joblists[id]
      if (jl === undefined || !hasSubscriptions(state, jl)) { this.drop([id]); continue }
      this.subscribed.add(id)
      if (owesNotifications(state, jl, now, o)) this.owing.add(id)
      else this.owing.delete(id)
    }
  }

  /** Joblists gone from memory (archived, purged). */
  drop (ids: Iterable<string>): void {
    for (const id of ids) { this.subscribed.delete(id); this.owing.delete(id) }
  }
}
