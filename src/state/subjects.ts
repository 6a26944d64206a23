// What an event is about (G-3, G-6): the request keys and joblist IDs it names. The history of a
// joblist, the store's index of events by joblist, and a purge's filter all ask this. Pure.
import type { UnsignedEvent } from '../events/types.js'
import { eventKey } from '../events/types.js'

/** The joblist a job or notification ID belongs to: the part before the first dot. */
export function joblistOf (id: string): string {
  const dot = id.indexOf('.')
  return dot < 0 ? id : id.slice(0, dot)
}

/**
 * What an event is about: request keys and joblist IDs (a `submit` is about its own key, its
 * accept about that key and the new ID, a submit carrying its accept about both; everything else names a joblist or one of its jobs).
 * A purge is about every joblist and request it removes. Events about the cluster (node,
 * master, schedules) are about no joblist.
 */
export function eventSubjects (e: UnsignedEvent): string[] {
  const b = e.body as unknown as Record<string, unknown>
  switch (e.type) {
    case 'submit': return (b.accept as { id?: string } | undefined)?.id !== undefined ? [eventKey(e), (b.accept as { id: string }).id] : [eventKey(e)]
    case 'accept': return [b.request as string, b.id as string]
    case 'assign': case 'started': case 'finished': case 'lose': return [joblistOf(b.jobId as string)]
    case 'cancel': return [b.joblistId as string, b.request as string]
    case 'stop': return [b.joblistId as string, eventKey(e)]
    case 'update': case 'ack': return [b.joblistId as string]
    case 'delivery': return [joblistOf(b.id as string)]
    case 'mail': return [...new Set((b.ids as string[]).map(joblistOf))]
    case 'purge': return [...(b.ids as string[]), ...(b.requests as string[])]
    default: return []
  }
}

