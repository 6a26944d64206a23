// Schedules (S-1, S-6): `cis schedules`, `cis schedule NAME`, and `cis pause`, `resume`,
// `trigger`, `unschedule`. A schedule is created by `cis submit` of a joblist with `schedule`.
import type { RunView, ScheduleControlResponse, ScheduleSummary, ScheduleView, SchedulesResponse, TriggerResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, instant, paint, scheduleState, stateColor, table, until } from '../format.js'

const at = (name: string): string => `/v1/schedules/${encodeURIComponent(name)}`

const values = (v: Record<string, string> | undefined): string => Object.entries(v ?? {}).map(([k, x]) => `${k}=${x}`).join(' ')

function next (s: ScheduleSummary): string {
  if (s.next !== null) return `${instant(s.next)} (in ${until(s.next)})`
  if (s.removed) return '-'
  if (s.paused) return 'none while paused'
  return 'none'
}

const lastRun = (r: RunView | null): string => r === null ? '-' : `${r.id ?? '-'} ${paint(r.state, stateColor(r.state))} ${age(r.instant)} ago`

/** `cis schedules [--all]`: paused and failing first (the API's order). */
export async function schedules (ctx: Ctx, o: { all?: boolean }): Promise<void> {
  const { schedules } = await ctx.client.get<SchedulesResponse>(`/v1/schedules${o.all === true ? '?all=true' : ''}`)
  if (ctx.json) { printJson({ schedules }); return }
  if (schedules.length === 0) {
    ctx.out(`no schedules${o.all === true ? '' : " (removed ones show with --all)"}: submit a joblist with a schedule to create one`)
    return
  }
  const rows = schedules.map(s => [s.name, s.cron, s.timezone, next(s), lastRun(s.last), scheduleState(s)])
  ctx.out(table(['NAME', 'CRON', 'TZ', 'NEXT', 'LAST', 'STATE'], rows))
}

/** `cis schedule NAME [--limit N]`: the definition, then its runs and skipped instants, newest first. */
export async function schedule (ctx: Ctx, name: string, o: { limit?: string }): Promise<void> {
  const q = o.limit !== undefined ? `?limit=${encodeURIComponent(o.limit)}` : ''
  const s = await ctx.client.get<ScheduleView>(at(name) + q)
  if (ctx.json) { printJson(s); return }
  ctx.out(`${paint(s.name, 'bold')}  ${scheduleState(s)}  owner ${s.owner}`)
  const field = (k: string, v: string): void => { ctx.out(`  ${k.padEnd(10)} ${v}`) }
  field('cron', `${s.cron} (${s.timezone})`)
  field('next', next(s))
  field('onFailure', s.onFailure)
  field('overlap', s.overlap)
  field('catchUp', s.catchUp === 'all' ? `all (at most ${s.maxCatchUp})` : s.catchUp)
  if (s.values !== undefined) field('values', values(s.values))
  field('history', `${s.runCount} run(s), ${s.skippedCount} instant(s) skipped`)
  if (s.paused && !s.removed) ctx.out(paint(`  paused${s.pausedBy !== null && s.pausedBy !== 'user' ? ` since its run ${s.pausedBy} failed` : ''}: resume it with 'cis resume ${s.name}'`, 'yellow'))
  ctx.out('')
  if (s.runs.length === 0) ctx.out('no runs yet')
  else {
    const rows = s.runs.map(r => [
      r.id ?? '-',
      instant(r.instant),
      paint(r.state, stateColor(r.state)),
      r.endedAt === null ? '-' : `${age(r.endedAt)} ago`,
      [r.manual === true ? 'manual' : '', r.duplicateOf !== undefined ? `duplicate of ${r.duplicateOf}` : ''].filter(x => x !== '').join(', ')
    ])
    ctx.out(table(['ID', 'INSTANT', 'STATE', 'ENDED', 'NOTES'], rows))
    if (s.runs.length < s.runCount) ctx.out(paint(`(the newest ${s.runs.length} of ${s.runCount} runs; more with --limit N)`, 'dim'))
  }
  if (s.skipped.length > 0) {
    ctx.out('\nskipped:')
    const rows = s.skipped.map(k => [k.from === k.to ? instant(k.from) : `${instant(k.from)} .. ${instant(k.to)}`, String(k.count), k.why])
    ctx.out(table(['INSTANTS', 'COUNT', 'WHY'], rows))
  }
}

/** `cis pause|resume|unschedule NAME`. */
export async function control (ctx: Ctx, name: string, op: 'pause' | 'resume' | 'delete'): Promise<void> {
  const r = op === 'delete'
    ? await ctx.client.delete<ScheduleControlResponse>(at(name))
    : await ctx.client.post<ScheduleControlResponse>(`${at(name)}/${op}`)
  if (ctx.json) { printJson(r); return }
  if (op === 'pause') ctx.out(`schedule ${r.name} paused: no new runs until 'cis resume ${r.name}' (runs under way go on)`)
  else if (op === 'delete') ctx.out(`schedule ${r.name} removed: no new runs (runs under way go on); its history stays ('cis schedule ${r.name}'); submit its joblist again to re-create it`)
  else {
    const s = await ctx.client.get<ScheduleView>(`${at(r.name)}?limit=1`)
    const when = s.next !== null ? `next run ${instant(s.next)} (${s.timezone})` : `no next run now: see 'cis schedule ${r.name}'`
    ctx.out(`schedule ${r.name} resumed; ${when}; the instants it missed while paused are skipped, not caught up`)
  }
}

/** `cis trigger NAME`: one run now, outside the cron; prints its ID. */
export async function trigger (ctx: Ctx, name: string): Promise<void> {
  const r = await ctx.client.post<TriggerResponse>(`${at(name)}/trigger`)
  if (ctx.json) { printJson(r); return }
  if (r.id === null) {
    ctx.err(`triggered a run of ${r.name} (request ${r.request}); no master has accepted it yet: it runs once one does. See 'cis schedule ${r.name}'.`)
    return
  }
  ctx.out(r.id)
  ctx.err(`triggered a run of ${r.name} as ${r.id}: follow it with 'cis status ${r.id}'`)
}
