// Notifications (issue 11): every webhook delivery joblists and jobs owe, with its attempts, and every
// email item (sent, pending or given up). Derived
// from the state (state/notifications.ts), so any node answers the same.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { allMailItems } from '../../state/mail.js'
import { allDeliveries } from '../../state/notifications.js'
import { findJoblist } from '../../state/views.js'
import { notFound } from '../errors.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

/** Without notify settings (a node that refuses webhooks), deliveries are shown against the defaults. */
const DEFAULT_RETRY_FOR_MS = 24 * 3600 * 1000
const DEFAULT_MAIL = { mailEveryMs: 60_000, digestAt: '08:00' }
const iso = (t: number | null): string | null => t === null ? null : new Date(t).toISOString()

export function notificationRoutes (app: FastifyInstance, node: ApiNode): void {
  app.get('/v1/notifications', {
    schema: doc({
      summary: 'webhook deliveries (each with its attempts, and whether it was delivered, gave up or is disabled by a 410) and email items (sent at, or pending with the time the message is due)',
      tags: ['notifications'],
      querystring: { joblist: 'only the notifications of this joblist and its jobs (ID or name)' },
      ok: { 200: '{notifications: [{id, subject (joblist or job), subjectId, joblistId, name, state, url, attempts: [{at, ok, status, error}], delivered, gaveUp, disabled, nextAt}], emails: [{id, subject, subjectId, joblistId, name, state, email, digest, reachedAt, dueAt, sentAt, failures, lastError, gaveUp, nextAt}]}' },
      errors: ['ERR_NOT_FOUND']
    })
  }, async (req: FastifyRequest<{ Querystring: { joblist?: string } }>) => {
    const v = req.query.joblist !== undefined ? await node.viewOf(req.query.joblist) : node.view()
    let id: string | undefined
    if (req.query.joblist !== undefined) {
      const jl = findJoblist(v.state, req.query.joblist)
      if (jl === undefined) throw notFound('joblist', req.query.joblist)
      id = jl.id
    }
    const list = allDeliveries(v.state, v.now, { retryForMs: node.notify?.retryForMs ?? DEFAULT_RETRY_FOR_MS }, id)
    return {
      notifications: list.map(d => ({
        id: d.id,
        subject: d.subject,
        subjectId: d.subjectId,
        joblistId: d.joblistId,
        name: d.name,
        state: d.state,
        url: d.url,
        reachedAt: new Date(d.reachedAt).toISOString(),
        attempts: d.attempts.map(a => ({ at: new Date(a.at).toISOString(), ok: a.ok, status: a.status ?? null, error: a.error ?? null, ...(a.retryAfterMs !== undefined ? { retryAfterMs: a.retryAfterMs } : {}) })),
        delivered: d.delivered,
        gaveUp: d.gaveUp,
        disabled: d.disabled,
        nextAt: d.nextAt === null ? null : new Date(d.nextAt).toISOString(),
        ...(d.retired === true ? { retired: true } : {})
      })),
      emails: allMailItems(v.state, v.now, { retryForMs: node.notify?.retryForMs ?? DEFAULT_RETRY_FOR_MS, ...(node.notify?.mail ?? DEFAULT_MAIL) }, id).map(m => ({
        id: m.id,
        subject: m.subject,
        subjectId: m.subjectId,
        joblistId: m.joblistId,
        name: m.joblistName,
        state: m.state,
        email: m.to,
        digest: m.digest,
        reachedAt: iso(m.reachedAt),
        dueAt: iso(m.dueAt),
        sentAt: iso(m.sentAt),
        failures: m.failures,
        lastError: m.lastError ?? null,
        gaveUp: m.gaveUp,
        nextAt: iso(m.nextAt)
      }))
    }
  })
}
