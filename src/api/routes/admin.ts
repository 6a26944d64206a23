// Administration (G-6): a consistent backup of this node's store, streamed as JSON Lines
// (src/events/backup-format.ts). `cis admin backup FILE` saves it; `cis admin restore` makes a
// store of it for a stopped agent.
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ApiError } from '../errors.js'
import { parseTimeRef } from '../../spec/time-ref.js'
import { BACKUP_MEDIA_TYPE, backupEventCount, backupLines } from '../../events/backup-format.js'
import type { CisEvent } from '../../events/types.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function adminRoutes (app: FastifyInstance, node: ApiNode): void {
  // G-6: ended joblists older than a time leave every node's state, snapshot and accounting.
  app.post('/v1/admin/purge', {
    schema: doc({
      summary: 'purge ended joblists (G-6): those that ended before a time leave every node (state, snapshot, accounting)',
      description: 'Body `{olderThan: "90d"}` (a span before now: 30m, 12h, 90d, 2w) or `{before: TIME}` (ISO date or time), and `dryRun: true` to only count them. Written as purge events, so every node cuts the same joblists, also one that is away now (it cuts them when it is back). Open joblists are never purged.',
      tags: ['admin'],
      body: { type: 'object', properties: { olderThan: { type: 'string' }, before: { type: 'string' }, dryRun: { type: 'boolean' } }, additionalProperties: false },
      ok: { 202: '{before, joblists, ids, requests}: the purge events written', 200: 'dry run, or nothing to purge: {before, joblists, ids, requests: []}' },
      errors: ['ERR_BAD_REQUEST']
    })
  }, async (req: FastifyRequest, reply: FastifyReply) => {
    const b = req.body
    if (!isObj(b) || (b.olderThan === undefined) === (b.before === undefined)) throw new ApiError(400, 'ERR_BAD_REQUEST', 'give olderThan (a span before now, e.g. "90d") or before (a time, e.g. "2026-09-01"), one of them')
    const unknown = Object.keys(b).filter(k => !['olderThan', 'before', 'dryRun'].includes(k))
    if (unknown.length > 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `unknown field(s) ${unknown.join(', ')}: give olderThan or before, and dryRun`)
    const now = node.view().now
    let before: number | string
    if (b.olderThan !== undefined) {
      const raw = String(b.olderThan)
      before = /^\d+(\.\d+)?(s|m|h|d|w)$/.test(raw.trim()) ? parseTimeRef(raw, now) : `olderThan: '${raw.slice(0, 40)}' is not a span: give e.g. 30m, 12h, 90d or 2w`
    } else before = parseTimeRef(String(b.before), now)
    if (typeof before === 'string') throw new ApiError(400, 'ERR_BAD_REQUEST', before)
    const r = await node.purge(before, b.dryRun === true)
    const out = { before: new Date(before).toISOString(), joblists: r.joblists, ids: r.ids, requests: r.requests, dryRun: b.dryRun === true }
    return reply.code(r.requests.length > 0 ? 202 : 200).send(out)
  })

  app.get('/v1/admin/backup', {
    schema: doc({
      summary: "a consistent backup of this node's store: every origin's events, as JSON Lines (G-6)",
      description: 'The first line is the header `{"cisystem-backup": 1, "schema", "node", "name", "at", "origins": {origin: highestSeq}}`; then one stored event per line, in (origin, seq) order, seq 1 up to the header\'s. What it holds was on disk when it began: a prefix of every origin\'s log, as this node\'s state stood at one instant. The node\'s private key is not in it. Headers: x-cis-events (the number of events that follow the header).',
      tags: ['admin'],
      ok: { 200: 'the backup (JSON Lines)' },
      produces: BACKUP_MEDIA_TYPE
    })
  }, async (_req, reply) => {
    const { header, events } = await node.backup()
    // The answer has begun when a read fails: the client sees it cut short, the log says why.
    const reported = async function * (): AsyncGenerator<CisEvent> {
      try { yield * events } catch (err) { node.reportError(err as Error); throw err }
    }
    const day = header.at.slice(0, 10)
    // Streamed: the file is never whole in memory here; a failed read ends the response
    // short, which the client sees (the header says how many events must follow).
    return await reply
      .type(BACKUP_MEDIA_TYPE)
      .header('x-cis-events', String(backupEventCount(header)))
      .header('content-disposition', `attachment; filename="cisystem-backup-${header.name.replace(/[^A-Za-z0-9._-]/g, '_')}-${day}.jsonl"`)
      .send(Readable.from(backupLines(header, reported()), { objectMode: false }))
  })
}
