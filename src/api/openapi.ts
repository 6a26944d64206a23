// The API's OpenAPI 3 document (GET /v1/openapi.json), made by @fastify/swagger from the
// routes' schemas. The schemas are documentation only: server.ts compiles them to no-ops, so
// every route still checks its own input (with its own messages) and answers exactly what its
// handler returns: a response schema here never drops a field.
import type { FastifyPluginAsync, FastifySchema } from 'fastify'
import swaggerModule from '@fastify/swagger'
import type { SwaggerOptions } from '@fastify/swagger'
import { ERROR_CODES } from './errors.js'
import { VERSION } from '../version.js'

export type ErrorCode = keyof typeof ERROR_CODES

/** What each error code means to a client (the README's error table says the same). */
const ERROR_MEANING: Record<ErrorCode, string> = {
  ERR_SPEC_INVALID: 'the joblist (or a value in the body) is invalid; `details` lists each problem at its path',
  ERR_BAD_REQUEST: 'the request is malformed: a field that cannot be changed, an unknown field, a bad parameter',
  ERR_UNAUTHORIZED: 'the bearer token is missing or wrong',
  ERR_NOT_FOUND: 'no such joblist, job, schedule, file or route',
  ERR_ALREADY_ENDED: 'the joblist or job already ended: it can no longer be stopped or changed',
  ERR_NOT_FAILED: 'only a failed joblist can be acknowledged',
  ERR_SCHEDULE_REMOVED: 'the schedule was removed',
  ERR_TOO_LARGE: 'the body is larger than the agent accepts',
  ERR_UNSUPPORTED_TYPE: 'the body is neither JSON nor YAML',
  ERR_UNSATISFIABLE: 'no alive node can run some jobs; `details` says which (or submit with ?unsatisfiable=wait)',
  ERR_INTERNAL: 'a bug: the agent log has the details',
  ERR_NODE_OFFLINE: 'the node that holds the output is not reachable'
}

/** Every route may answer these (the token, the body's size and type, a bug). */
const ALWAYS: ErrorCode[] = ['ERR_UNAUTHORIZED', 'ERR_INTERNAL']
const WITH_BODY: ErrorCode[] = ['ERR_BAD_REQUEST', 'ERR_TOO_LARGE', 'ERR_UNSUPPORTED_TYPE']

const errorBody = (codes: ErrorCode[]): Record<string, unknown> => ({
  type: 'object',
  required: ['error', 'code'],
  properties: {
    error: { type: 'string', description: 'what went wrong and what to do' },
    code: { type: 'string', enum: codes },
    details: { description: 'the problems one by one ({path, message}), for some codes' }
  },
  additionalProperties: true
})

/** A documented answer: any JSON object (its fields are the handler's; nothing is dropped). */
export const anyObject = (description: string): Record<string, unknown> => ({ description, type: 'object', additionalProperties: true })

const param = (description: string): Record<string, unknown> => ({ type: 'string', description })

/** Path parameters of the routes, by name. */
export const PARAMS = {
  ref: { type: 'object', required: ['ref'], properties: { ref: param('an ID, or a name (the newest one not ended), or the number after the dash') } },
  jobRef: { type: 'object', required: ['ref'], properties: { ref: param('a job ID (`<joblist>.<n>`), or `JOBLIST/JOBNAME`') } },
  name: { type: 'object', required: ['name'], properties: { name: param('a schedule name') } },
  file: { type: 'object', required: ['file'], properties: { file: param('a file name') } }
} as const

export interface RouteDoc {
  summary: string
  description?: string
  tags: string[]
  params?: Record<string, unknown>
  querystring?: Record<string, string>
  body?: Record<string, unknown>
  /** Success answers: status -> description, or a schema with a description. */
  ok: Record<number, string | Record<string, unknown>>
  /** Errors this route answers besides ERR_UNAUTHORIZED and ERR_INTERNAL (and the body's, when it has one). */
  errors?: ErrorCode[]
  /** The answer is not JSON (a file, text, an event stream): its media type. */
  produces?: string
}

/** A route's schema for the document, from a short description of it. */
export function doc (d: RouteDoc): FastifySchema {
  const codes = new Set<ErrorCode>([...(d.body !== undefined ? WITH_BODY : []), ...(d.errors ?? []), ...ALWAYS])
  const response: Record<string, unknown> = {}
  for (const [status, what] of Object.entries(d.ok)) {
    response[status] = typeof what === 'string'
      ? (d.produces !== undefined ? { description: what, content: { [d.produces]: { schema: { type: 'string' } } } } : anyObject(what))
      : what
  }
  const byStatus = new Map<number, ErrorCode[]>()
  for (const c of codes) byStatus.set(ERROR_CODES[c], [...(byStatus.get(ERROR_CODES[c]) ?? []), c])
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    response[String(status)] = { description: list.map(c => `\`${c}\`: ${ERROR_MEANING[c]}`).join('; '), ...errorBody(list) }
  }
  return {
    summary: d.summary,
    ...(d.description !== undefined ? { description: d.description } : {}),
    tags: d.tags,
    ...(d.params !== undefined ? { params: d.params } : {}),
    ...(d.querystring !== undefined
      ? { querystring: { type: 'object', properties: Object.fromEntries(Object.entries(d.querystring).map(([k, v]) => [k, param(v)])) } }
      : {}),
    ...(d.body !== undefined ? { body: d.body } : {}),
    response
  }
}

/** The plugin (CommonJS: its default export is the module). */
const swagger = swaggerModule as unknown as FastifyPluginAsync<SwaggerOptions>
export { swagger }

export const SWAGGER_OPTIONS: SwaggerOptions = {
  openapi: {
    openapi: '3.0.3',
    info: {
      title: 'cisystem agent API',
      version: VERSION,
      description: 'The HTTP API of a cis agent. Every node serves the same cluster state. Errors are `{error, code, details?}`; the codes are listed with the answers. Beyond loopback every request needs `Authorization: Bearer <token>`.'
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    tags: [
      { name: 'joblists', description: 'submit, list, show, change, stop, acknowledge' },
      { name: 'jobs', description: 'one job, its output; the one-job shortcut' },
      { name: 'schedules', description: 'recurring joblists (S-1, S-6)' },
      { name: 'notifications', description: 'webhook deliveries (issue 11)' },
      { name: 'cluster', description: 'health, nodes, counts, the state hash' },
      { name: 'admin', description: 'backup of the store (G-6)' },
      { name: 'accounting', description: 'accounting records and their sums (G-2)' },
      { name: 'records', description: 'the stored event log, for exports (G-5)' },
      { name: 'live', description: 'the live stream (Server-Sent Events)' },
      { name: 'dashboard', description: "the dashboard's page and files" },
      { name: 'meta', description: 'metrics and this document' }
    ]
  }
}
