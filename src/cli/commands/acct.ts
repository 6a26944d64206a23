// `cis acct`: accounting (G-2), like qacct/sacct: the ended attempts that RAN in a range
// (default the last 7 days; overlap, not start time), summed per owner, node, joblist or day,
// or the records themselves (--records); --json and --csv for scripts.
import type { AccountingResponse } from '../api-types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { table } from '../format.js'

export interface AcctOptions {
  owner?: string
  node?: string
  joblist?: string
  tag?: string
  since?: string
  until?: string
  by?: string
  records?: boolean
  csv?: boolean
}

const secs = (s: number): string => s >= 100 ? s.toFixed(0) : s.toFixed(s >= 1 ? 1 : 3)
const mib = (kb: number | undefined | null): string => kb === undefined || kb === null ? '-' : `${(kb / 1024).toFixed(kb >= 10 * 1024 ? 0 : 1)}M`

/** One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180). */
export function csvField (v: unknown): string {
  const s = v === undefined || v === null ? '' : Array.isArray(v) ? v.join(' ') : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

const RECORD_COLUMNS = ['joblistId', 'joblistName', 'jobId', 'jobName', 'owner', 'tags', 'node', 'attempt', 'state', 'exitCode', 'signal', 'submittedAt', 'startedAt', 'endedAt', 'wallS', 'cpuUserS', 'cpuSysS', 'maxRssKb', 'duplicate', 'resources'] as const
const GROUP_COLUMNS = ['group', 'jobs', 'failed', 'wallS', 'cpuUserS', 'cpuSysS', 'maxRssKb'] as const

export async function acct (ctx: Ctx, o: AcctOptions): Promise<void> {
  if (o.by !== undefined && !['owner', 'node', 'joblist', 'day'].includes(o.by)) throw new CliExit(2, `--by '${o.by}': use owner, node, joblist or day`)
  const q = new URLSearchParams()
  for (const k of ['owner', 'node', 'joblist', 'tag', 'since', 'until', 'by'] as const) if (o[k] !== undefined) q.set(k, o[k] as string)
  if (o.records === true) q.set('records', 'true')
  const r = await ctx.client.get<AccountingResponse>(`/v1/accounting?${q.toString()}`)
  if (ctx.json) { printJson(r); return }
  if (o.csv === true) {
    const cols = o.records === true ? RECORD_COLUMNS : GROUP_COLUMNS
    const rows = (o.records === true ? r.records ?? [] : r.groups) as unknown as Array<Record<string, unknown>>
    ctx.out([cols.join(','), ...rows.map(row => cols.map(c => csvField(row[c])).join(','))].join('\n'))
    return
  }
  ctx.out(`attempts that ran from ${r.since} to ${r.until}${o.owner !== undefined ? `, owner ${o.owner}` : ''}${o.node !== undefined ? `, node ${o.node}` : ''}${o.joblist !== undefined ? `, joblist ${o.joblist}` : ''}${o.tag !== undefined ? `, tag ${o.tag}` : ''}`)
  if (o.records === true) {
    const recs = r.records ?? []
    if (recs.length === 0) { ctx.out('no records (widen the range with --since, e.g. --since 30d)'); return }
    ctx.out(table(['ENDED', 'JOB', 'ATTEMPT', 'OWNER', 'NODE', 'STATE', 'EXIT', 'WALL-S', 'CPU-S', 'MAXRSS'], recs.map(x => [
      x.endedAt ?? '-', `${x.joblistName}/${x.jobName} (${x.jobId})`, String(x.attempt), x.owner, x.node, x.state + (x.duplicate ? ' (dup)' : ''),
      x.signal ?? (x.exitCode === null ? '-' : String(x.exitCode)), secs(x.wallS), x.cpuUserS === undefined ? '-' : secs((x.cpuUserS ?? 0) + (x.cpuSysS ?? 0)), mib(x.maxRssKb)
    ])))
    if (r.truncated === true) ctx.out('(more records than one answer carries: narrow the range)')
    return
  }
  if (r.groups.length === 1) { ctx.out('no attempts ran in this range (widen it with --since, e.g. --since 30d)'); return }
  ctx.out(table([r.by.toUpperCase(), 'JOBS', 'FAILED', 'WALL-S', 'CPU-USER-S', 'CPU-SYS-S', 'MAXRSS'], r.groups.map(g => [g.group, String(g.jobs), String(g.failed), secs(g.wallS), secs(g.cpuUserS), secs(g.cpuSysS), mib(g.maxRssKb)])))
}
