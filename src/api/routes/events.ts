// The live stream (P-5): `GET /v1/events` as Server-Sent Events, through @fastify/sse. The
// first message is a snapshot (or, after a reconnect with Last-Event-ID, what was missed);
// then one `change` per change. `?topic=joblists,nodes,schedules` and `?joblist=ID` filter.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TOPICS } from '../../live/protocol.js'
import type { Topic } from '../../live/protocol.js'
import { findJoblist } from '../../state/views.js'
import { ApiError, notFound } from '../errors.js'
import type { LiveFeed, Filter } from '../live-feed.js'
import type { ApiNode } from '../node-port.js'

/** A client this far behind (messages written but not yet flushed to it) is dropped; it reconnects and resumes or gets a snapshot. */
const MAX_BACKLOG = 20_000

function filterOf (q: { topic?: string, joblist?: string }, node: ApiNode): Filter {
  if (q.joblist !== undefined) {
    if (findJoblist(node.view().state, q.joblist) === undefined) throw notFound('joblist', q.joblist)
    return { topics: new Set(TOPICS), joblist: q.joblist }
  }
  if (q.topic === undefined) return { topics: new Set(TOPICS) }
  const topics = q.topic.split(',').filter(t => t !== '')
  const bad = topics.filter(t => !TOPICS.includes(t as Topic))
  if (bad.length > 0 || topics.length === 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `unknown topic(s) ${bad.join(', ')}: use ${TOPICS.join(', ')}`)
  return { topics: new Set(topics as Topic[]) }
}

export function eventRoutes (app: FastifyInstance, node: ApiNode, feed: LiveFeed): void {
  app.get('/v1/events', { sse: { kind: 'only', serializer: (d: unknown) => String(d) } }, async (req: FastifyRequest<{ Querystring: { topic?: string, joblist?: string } }>, reply: FastifyReply) => {
    const filter = filterOf(req.query, node)
    reply.sse.keepAlive()
    let backlog = 0
    const unsubscribe = feed.subscribe({
      filter,
      send: m => {
        if (!reply.sse.isConnected) return
        if (++backlog > MAX_BACKLOG) { unsubscribe(); reply.sse.close(); return }
        reply.sse.send({ id: m.id, event: m.event, data: m.data }).then(() => { backlog-- }, () => { backlog-- })
      }
    }, reply.sse.lastEventId)
    reply.sse.onClose(unsubscribe)
  })
}
