// The HTTP API (D-1, R1-7, R4-1, R4-2): JSON over fastify. Listens on loopback by default;
// any other address needs a bearer token. Routes live in routes/, one file per resource.
import { timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import sseModule from '@fastify/sse'
import type { SSEPluginOptions } from '@fastify/sse'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import { parseJoblistText } from '../spec/parse.js'
import { ApiError } from './errors.js'
import type { ApiNode } from './node-port.js'
import { adminRoutes } from './routes/admin.js'
import { clusterRoutes } from './routes/cluster.js'
import { jobRoutes } from './routes/jobs.js'
import { joblistRoutes } from './routes/joblists.js'
import { metricsRoutes } from './routes/metrics.js'
import { scheduleRoutes } from './routes/schedules.js'
import { accountingRoutes } from './routes/accounting.js'
import { notificationRoutes } from './routes/notifications.js'
import { eventRoutes } from './routes/events.js'
import { logRoutes } from './routes/log.js'
import { dashboardRoutes, isDashboardFile } from './routes/dashboard.js'
import { LiveFeed } from './live-feed.js'
import { CLOSE_GRACE_MS, OpenStreams } from './open-streams.js'
import { SWAGGER_OPTIONS, doc, swagger } from './openapi.js'

export interface ApiOptions {
  token?: string
  bodyLimit: number
  /** Require the token on every request (the API listens beyond loopback). */
  requireToken: boolean
  testGate?: boolean
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']

/** The plugin (CommonJS: its default export is the module, wrapped so it decorates every route). */
const sse = sseModule as unknown as FastifyPluginAsync<SSEPluginOptions>

export function buildApi (node: ApiNode, opts: ApiOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimit })

  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    const parsed = parseJoblistText(body as string, 'yaml')
    if (parsed.ok) done(null, parsed.value)
    else done(new ApiError(400, 'ERR_SPEC_INVALID', 'the body is not valid YAML', parsed.issues), undefined)
  })

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, _req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send({ error: err.message, code: err.code, ...(err.details !== undefined ? { details: err.details } : {}) })
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: `the body is larger than ${opts.bodyLimit} bytes; make the joblist smaller (large files belong in the job's own fetch step)`, code: 'ERR_TOO_LARGE' })
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'send the joblist as application/json or application/yaml', code: 'ERR_UNSUPPORTED_TYPE' })
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, code: 'ERR_BAD_REQUEST' })
    node.reportError(err)
    return reply.code(500).send({ error: 'internal error; the agent log has the details', code: 'ERR_INTERNAL' })
  })

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}; see the README's API section`, code: 'ERR_NOT_FOUND' }))

  // The routes' schemas are documentation (GET /v1/openapi.json), never checks nor filters:
  // each handler checks its input with its own messages, and answers are serialized as they
  // are (a response schema must not drop a field the handler returns).
  app.setValidatorCompiler(() => () => true)
  app.setSerializerCompiler(() => (data: unknown) => JSON.stringify(data))

  // The OpenAPI document, from the schemas of every route declared once the plugin is loaded.
  void app.register(swagger, SWAGGER_OPTIONS)
  app.after(err => {
    if (err !== null && err !== undefined) throw err
    declare(app, node, opts)
  })
  return app
}

/** Every hook and route of the API (once @fastify/swagger is loaded, so it sees them all). */
function declare (app: FastifyInstance, node: ApiNode, opts: ApiOptions): void {

  // GET /metrics, and the timing of every request (a hook on the root: it sees every route).
  metricsRoutes(app, node)

  if (opts.requireToken || opts.token !== undefined) {
    const expected = Buffer.from(`Bearer ${opts.token ?? ''}`)
    app.addHook('onRequest', async (req: FastifyRequest) => {
      if (req.method === 'GET' && isDashboardFile(req.url)) return
      const got = Buffer.from(req.headers.authorization ?? '')
      if (opts.token === undefined || got.length !== expected.length || !timingSafeEqual(got, expected)) {
        if (req.headers.authorization === undefined) throw new ApiError(401, 'ERR_UNAUTHORIZED', 'a bearer token is required: pass --token or set CIS_TOKEN (or use a context that has it)')
        throw new ApiError(401, 'ERR_UNAUTHORIZED', "the bearer token is wrong: check --token, CIS_TOKEN or the context's token (cis context list)")
      }
    })
  }

  // Server-Sent Events for the live stream and followed output; a comment line every 15 s
  // keeps proxies from closing them. The routes are added once the plugin is loaded, so it
  // sees every one of them.
  void app.register(sse, { heartbeatInterval: 15_000 })
  const feed = new LiveFeed(node)
  app.addHook('onClose', async () => { feed.close() })
  // Closing (the agent stops): the server waits for every connection to end, so the streams
  // that last as long as their client listens are ended first; what still runs after a grace
  // (a backup download) is cut, and the client sees it short.
  const streams = new OpenStreams()
  app.addHook('preClose', async () => {
    streams.endAll()
    // Connections that fall idle during the grace (an answer that was under way) are closed as
    // they do: the server's close swept the idle ones only once.
    const started = performance.now()
    const sweep = setInterval(() => {
      if (performance.now() - started < CLOSE_GRACE_MS) { app.server.closeIdleConnections(); return }
      clearInterval(sweep)
      app.server.closeAllConnections()
    }, 50)
    sweep.unref()
    app.server.once('close', () => clearInterval(sweep))
  })
  void app.register(async api => {
    dashboardRoutes(api)
    eventRoutes(api, node, feed, streams)
    joblistRoutes(api, node)
    jobRoutes(api, node, streams)
    scheduleRoutes(api, node)
    notificationRoutes(api, node)
    accountingRoutes(api, node)
    logRoutes(api, node)
    clusterRoutes(api, node, { testGate: opts.testGate === true })
    adminRoutes(api, node)
    api.get('/v1/openapi.json', {
      schema: doc({ summary: 'this document: the OpenAPI 3 description of the API', tags: ['meta'], ok: { 200: 'the OpenAPI 3.0 document' } })
    }, async () => api.swagger())
  })
}
