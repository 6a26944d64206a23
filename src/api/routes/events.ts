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
import { endConnection } from '../open-streams.js'
import type { OpenStreams } from '../open-streams.js'
import { doc } from '../openapi.js'

/** A client this far behind (bytes written but not yet taken by it) is dropped; it reconnects and resumes or gets a snapshot. */
const MAX_BACKLOG_BYTES = 16 * 1024 * 1024

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

export function eventRoutes (app: FastifyInstance, node: ApiNode, feed: LiveFeed, streams: OpenStreams): void {
  app.get('/v1/events', {
    sse: { kind: 'only', serializer: (d: unknown) => String(d) },
    schema: doc({
      summary: 'the live stream (Server-Sent Events): a snapshot, then one `change` per change',
      description: 'After a reconnect with Last-Event-ID: what was missed (or a fresh snapshot when it is no longer kept).',
      tags: ['live'],
      querystring: { topic: 'a comma-separated subset of joblists, nodes, schedules', joblist: 'follow one joblist in full (an ID or name)' },
      ok: { 200: 'text/event-stream' },
      produces: 'text/event-stream',
      errors: ['ERR_BAD_REQUEST', 'ERR_NOT_FOUND']
    })
  }, async (req: FastifyRequest<{ Querystring: { topic?: string, joblist?: string } }>, reply: FastifyReply) => {
    const filter = filterOf(req.query, node)
    reply.sse.keepAlive()
    // Committed as a stream now: a resumed stream may have nothing to send at once (or a whole
    // flush written straight to the socket first), and without its headers out the reply
    // would end as a bare 200 without them.
    reply.sse.sendHeaders()
    let started = Promise.resolve()
    const unsubscribe = feed.subscribe({
      filter,
      // The first messages through the plugin (it writes the headers); later ones, a whole
      // flush at a time, straight to the socket once those are out.
      send: m => { started = started.then(async () => { if (reply.sse.isConnected) await reply.sse.send({ id: m.id, event: m.event, data: m.data }) }).catch(() => {}) },
      write: text => {
        void started.then(() => {
          if (!reply.sse.isConnected) return
          if (reply.raw.writableLength > MAX_BACKLOG_BYTES) { unsubscribe(); reply.sse.close(); return }
          reply.raw.write(text)
        })
      }
    }, reply.sse.lastEventId)
    // (The agent stops: the stream ends, and its connection; the client reconnects when the agent is back, and resumes.)
    const forget = streams.add(() => { unsubscribe(); reply.sse.close(); endConnection(reply) })
    reply.sse.onClose(() => { unsubscribe(); forget() })
  })
}
