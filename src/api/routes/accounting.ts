// Accounting (G-2): GET /v1/accounting — the records of ended attempts and their summary per
// owner, node, joblist or day, from the node's index (cost: what the query returns).
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { summarize } from '../../state/accounting.js'
import type { GroupBy } from '../../state/accounting.js'
import { findJoblist } from '../../state/views.js'
import { parseTimeRef } from '../../spec/time-ref.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

/** Without --since, the last 7 days; a job counts if it ran in the range (overlap). */
export const DEFAULT_SINCE = '7d'
const GROUPS: readonly GroupBy[] = ['owner', 'node', 'joblist', 'day']
/** The most records one answer carries (a larger range: narrow it, or page with since/until). */
export const MAX_RECORDS = 100_000

type Query = { owner?: string, node?: string, joblist?: string, tag?: string, since?: string, until?: string, by?: string, records?: string }

export function accountingRoutes (app: FastifyInstance, node: ApiNode): void {
  app.get('/v1/accounting', {
    schema: doc({
      summary: 'accounting (G-2): one record per ended attempt, summed per owner, node, joblist or day',
      description: 'A record counts if its attempt ran in [since, until] (overlap, not start time). The summary has one row per group and a last row `total`. With `records=true`, the records themselves (at most 100000).',
      tags: ['accounting'],
      querystring: {
        owner: 'only this owner',
        node: 'only attempts that ran on this node (name)',
        joblist: 'only this joblist (ID or name)',
        tag: 'only joblists with this tag',
        since: 'from this time: ISO date or time, or a span before now (7d, 12h); default 7d',
        until: 'to this time (same forms); default now',
        by: 'group by owner (default), node, joblist or day (UTC; a job spanning midnight counts in each day it ran)',
        records: '`true`: also the records'
      },
      ok: { 200: '{since, until, by, groups: [{group, jobs, failed, wallS, cpuUserS, cpuSysS, maxRssKb}], records?: [...], scanned}' },
      errors: ['ERR_BAD_REQUEST', 'ERR_NOT_FOUND']
    })
  }, async (req: FastifyRequest<{ Querystring: Query }>) => {
    const q = req.query
    const v = node.view()
    const time = (name: 'since' | 'until', raw: string): number => {
      const t = parseTimeRef(raw, v.now)
      if (typeof t === 'string') throw new ApiError(400, 'ERR_BAD_REQUEST', `${name}: ${t}`)
      return t
    }
    const since = time('since', q.since ?? DEFAULT_SINCE)
    const until = time('until', q.until ?? 'now')
    if (until < since) throw new ApiError(400, 'ERR_BAD_REQUEST', `until (${new Date(until).toISOString()}) is before since (${new Date(since).toISOString()}): swap them`)
    const by = (q.by ?? 'owner') as GroupBy
    if (!GROUPS.includes(by)) throw new ApiError(400, 'ERR_BAD_REQUEST', `by: '${String(q.by).slice(0, 40)}' is not a grouping; use ${GROUPS.join(', ')}`)
    let joblistId: string | undefined
    if (q.joblist !== undefined) {
      const jl = findJoblist((await node.viewOf(q.joblist)).state, q.joblist)
      if (jl === undefined) throw notFound('joblist', q.joblist)
      joblistId = jl.id
    }
    const { records, scanned } = await node.accounting({
      since,
      until,
      ...(q.owner !== undefined ? { owner: q.owner } : {}),
      ...(q.node !== undefined ? { node: q.node } : {}),
      ...(joblistId !== undefined ? { joblistId } : {}),
      ...(q.tag !== undefined ? { tag: q.tag } : {})
    })
    const iso = (t: number | undefined): string | null => t === undefined ? null : new Date(t).toISOString()
    return {
      since: iso(since),
      until: iso(until),
      by,
      groups: summarize(records, by, { since, until }),
      ...(q.records === 'true'
        ? { records: records.slice(0, MAX_RECORDS).map(r => ({ ...r, submittedAt: iso(r.submittedAt), startedAt: iso(r.startedAt), endedAt: iso(r.endedAt) })), truncated: records.length > MAX_RECORDS }
        : {}),
      scanned
    }
  })
}
