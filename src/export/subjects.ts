// Which joblists a page of events touches (G-5): the export refreshes their rows in the same
// transaction that writes the events. An event names a joblist by its ID, or (a submit, and
// the accept that answers it) by the request key `origin:seq`; accepts map keys to IDs. Pure.
import type { UnsignedEvent } from '../events/types.js'
import { acceptOf } from '../events/types.js'
import { eventSubjects } from '../state/history.js'

export interface Touched {
  /** Joblist IDs named by the events (or learnt from their accepts). */
  ids: Set<string>
  /** Request keys whose accept is not in these events: look it up among the events exported before (or wait for it). */
  requests: Set<string>
}

/** A request key is `origin:seq`; a joblist ID is `<code>-<n>` and has no colon. */
const isRequestKey = (s: string): boolean => s.includes(':')

export function touchedBy (events: Iterable<UnsignedEvent>): Touched {
  const ids = new Set<string>()
  const keys = new Set<string>()
  const accepted = new Set<string>()
  for (const e of events) {
    const accept = acceptOf(e)
    if (accept !== undefined) {
      ids.add(accept.body.id)
      accepted.add(accept.body.request)
      continue
    }
    for (const s of eventSubjects(e)) {
      if (isRequestKey(s)) keys.add(s)
      else ids.add(s)
    }
  }
  return { ids, requests: new Set([...keys].filter(k => !accepted.has(k))) }
}
