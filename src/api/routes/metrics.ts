// Metrics (P-5): GET /metrics in the Prometheus text format (behind the same token as the
// rest of the API), and the duration of every API request by method, route template and status.
import type { FastifyInstance } from 'fastify'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

export function metricsRoutes (app: FastifyInstance, node: ApiNode): void {
  // The route's template (`/v1/joblists/:ref`), never the URL: label values stay a small set.
  app.addHook('onResponse', async (req, reply) => {
    // Streams (the live stream, followed output, a backup) last as long as the client listens
    // or the store is large: their "duration" says nothing about the API's speed.
    const streamed = (type: unknown): boolean => typeof type === 'string' && (type.startsWith('text/event-stream') || type.startsWith('application/x-ndjson'))
    if (streamed(reply.getHeader('content-type')) || streamed(reply.raw.getHeader('content-type'))) return
    node.metrics.request(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000)
  })

  app.get('/metrics', { schema: doc({ summary: "this node's metrics in the Prometheus text format", tags: ['meta'], ok: { 200: 'the metrics' }, produces: 'text/plain' }) }, async (_req, reply) => await reply.type(node.metrics.contentType).send(await node.metrics.text()))
}
