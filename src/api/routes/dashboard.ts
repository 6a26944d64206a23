// The dashboard's files (P-5): the page at `/` and its modules under `/assets/`, all from the
// package itself (nothing from a CDN). They hold no data, so they need no token; the page
// asks for the token when the API does, and sends it with every API call.
import { readFile } from 'node:fs/promises'
import { extname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { notFound } from '../errors.js'
import { PARAMS, doc } from '../openapi.js'

/**
 * The package root: above dist/, where this code runs from (dist/src/api/routes/dashboard.js, or
 * a file of the agent's bundle, dist/bundle/).
 */
const HERE = fileURLToPath(import.meta.url)
const ROOT = HERE.slice(0, HERE.lastIndexOf(`${sep}dist${sep}`))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png'
}

/** Where each asset directory's files come from: compiled modules from dist/, the rest from web/. */
function pathOf (dir: 'web' | 'live', file: string): string | undefined {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(file) || file.includes('..')) return undefined
  const ext = extname(file)
  if (TYPES[ext] === undefined) return undefined
  if (dir === 'live') return ext === '.js' || ext === '.map' ? join(ROOT, 'dist', 'src', 'live', file) : undefined
  return ext === '.js' || ext === '.map' ? join(ROOT, 'dist', 'web', file) : join(ROOT, 'web', file)
}

async function send (reply: FastifyReply, path: string | undefined, ref: string): Promise<FastifyReply> {
  if (path === undefined) throw notFound('file', ref)
  let body: Buffer
  try { body = await readFile(path) } catch { throw notFound('file', ref) }
  return await reply.header('content-type', TYPES[extname(path)]).header('cache-control', 'no-cache').send(body)
}

export function dashboardRoutes (app: FastifyInstance): void {
  app.get('/', { schema: doc({ summary: "the dashboard's page (no token needed)", tags: ['dashboard'], ok: { 200: 'the page' }, produces: 'text/html' }) }, async (_req, reply) => await send(reply, join(ROOT, 'web', 'index.html'), 'index.html'))
  app.get('/assets/web/:file', { schema: doc({ summary: "one of the dashboard's files (no token needed)", tags: ['dashboard'], params: PARAMS.file, ok: { 200: 'the file' }, produces: 'application/octet-stream', errors: ['ERR_NOT_FOUND'] }) }, async (req: FastifyRequest<{ Params: { file: string } }>, reply) => await send(reply, pathOf('web', req.params.file), req.params.file))
  app.get('/assets/src/live/:file', { schema: doc({ summary: "one of the live-stream client's modules for the dashboard (no token needed)", tags: ['dashboard'], params: PARAMS.file, ok: { 200: 'the module' }, produces: 'text/javascript', errors: ['ERR_NOT_FOUND'] }) }, async (req: FastifyRequest<{ Params: { file: string } }>, reply) => await send(reply, pathOf('live', req.params.file), req.params.file))
}

/** Requests for the dashboard's files: served without a token. */
export const isDashboardFile = (url: string): boolean => { const path = url.split('?')[0]; return path === '/' || path.startsWith('/assets/') }
