// Administration (G-6): a consistent backup of this node's store, streamed as JSON Lines
// (src/events/backup-format.ts). `cis admin backup FILE` saves it; `cis admin restore` makes a
// store of it for a stopped agent.
import { Readable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { BACKUP_MEDIA_TYPE, backupEventCount, backupLines } from '../../events/backup-format.js'
import type { CisEvent } from '../../events/types.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

export function adminRoutes (app: FastifyInstance, node: ApiNode): void {
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
