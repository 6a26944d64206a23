// The event log as stored (G-5): `GET /v1/log?after=ORIGIN:SEQ,…&limit=N`, the feed of
// `cis export`. A client keeps a version vector (the highest seq it has of each origin) and
// asks for what comes after it, a page at a time; every node holds the same events under the
// same (origin, seq), so a client may resume against any node of the cluster.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { formatVector, parseVector } from '../../events/vector.js'
import type { Vector } from '../../events/vector.js'
import { eventCount } from '../../state/cluster-views.js'
import { ApiError } from '../errors.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

export const DEFAULT_LOG_LIMIT = 1000
export const MAX_LOG_LIMIT = 10_000

function limitOf (raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LOG_LIMIT
  if (!/^\d{1,6}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_LOG_LIMIT) {
    throw new ApiError(400, 'ERR_BAD_REQUEST', `limit: '${raw.slice(0, 40)}' is not a whole number from 1 to ${MAX_LOG_LIMIT}`)
  }
  return Number(raw)
}

export function logRoutes (app: FastifyInstance, node: ApiNode): void {
  app.get('/v1/log', {
    schema: doc({
      summary: 'the stored events after a version vector (G-5): a page of the log, for exports',
      description: 'Every origin\'s events with seq above the one given for it in `after` (an origin not given: from its first event), in seq order per origin and origins in sorted order, at most `limit` per answer. `position` is `after` moved past the returned events: pass it (as `next`) to get the following page. `more`: there are more events now; when false the client has everything this node had stored. Events are returned as stored and signed (origin, seq, ts, lc, type, body, sig).',
      tags: ['records'],
      querystring: {
        after: 'a version vector: ORIGIN:SEQ pairs separated by commas (e.g. 12D3KooWabc:41,12D3KooWxyz:7); empty or absent: from the start',
        limit: `at most this many events (1 to ${MAX_LOG_LIMIT}; default ${DEFAULT_LOG_LIMIT})`
      },
      ok: { 200: '{events: [{origin, seq, ts, lc, type, body, sig}], more, position: {origin: seq}, next: "ORIGIN:SEQ,…", total}; total: the events this node has applied' },
      errors: ['ERR_BAD_REQUEST']
    })
  }, async (req: FastifyRequest<{ Querystring: { after?: string, limit?: string } }>) => {
    const after = parseVector(req.query.after ?? '')
    if (typeof after === 'string') throw new ApiError(400, 'ERR_BAD_REQUEST', `after: ${after}; give ORIGIN:SEQ pairs separated by commas, e.g. after=12D3KooWabc:41,12D3KooWxyz:7 (the 'next' of the previous answer)`)
    const limit = limitOf(req.query.limit)
    const { events, more } = await node.eventsAfter(after, limit)
    const position: Vector = { ...after }
    for (const e of events) position[e.origin] = e.seq
    return { events, more, position, next: formatVector(position), total: eventCount(node.view().state) }
  })
}
