// `cis status [REF] [--hash]`: the joblists (what needs a person first), one joblist with its
// stages and jobs, or the state hash.
import type { JobView, JoblistSummary, JoblistView, JoblistsResponse, SchedulesResponse, StateHashResponse } from '../api-types.js'
import { FINAL_JOBLIST_STATES } from '../../state/types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, duration, instant, jobCounts, paint, resources, scheduleState, stateColor, table } from '../format.js'

export async function status (ctx: Ctx, ref: string | undefined, o: { hash?: boolean, at?: string }): Promise<void> {
  // --at: as it was then (G-3), replayed by the node from its stored events.
  const at = o.at === undefined ? '' : `?at=${encodeURIComponent(o.at)}`
  if (o.hash === true) {
    const s = await ctx.client.get<StateHashResponse>(`/v1/state${at}`)
    if (ctx.json) printJson(s)
    else ctx.out(`${s.hash}  (${s.events} events from ${Object.keys(s.origins).length} nodes)${s.at !== undefined ? ` at ${s.at}` : ''}`)
    return
  }
  if (ref === undefined) { await (o.at !== undefined ? listAt(ctx, at) : list(ctx)); return }
  const jl = await ctx.client.get<JoblistView>(`/v1/joblists/${encodeURIComponent(ref)}${at}`)
  if (ctx.json) { printJson(jl); return }
  if (o.at !== undefined) ctx.out(paint(`as it was at ${o.at}:`, 'dim'))
  ctx.out(`${paint(jl.name, 'bold')} ${jl.id}  ${paint(jl.state, stateColor(jl.state))}  owner ${jl.owner}  priority ${jl.priority}  submitted ${age(jl.submittedAt)} ago${jl.endedAt !== null ? `, took ${duration(new Date(jl.endedAt).getTime() - new Date(jl.submittedAt).getTime())}` : ''}`)
  if (jl.values !== undefined && Object.keys(jl.values).length > 0) ctx.out(`  vars: ${Object.entries(jl.values).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  if (jl.schedule !== undefined) {
    ctx.out(jl.schedule.manual === true
      ? `  manual run of ${jl.schedule.name} ('cis trigger') at ${instant(jl.schedule.instant)}`
      : `  run of ${jl.schedule.name} for ${instant(jl.schedule.instant)}`)
  }
  if (jl.duplicateOf !== undefined) ctx.out(paint(`  duplicate of ${jl.duplicateOf}: a second run for the same instant (launched on both sides of a partition)`, 'yellow'))
  if (jl.failure !== undefined) {
    ctx.out(paint(`  failed: ${jl.failure}`, 'red'))
    ctx.out(paint(jl.acked === true ? '  (acknowledged)' : `  once seen, take it off the top of 'cis status' with 'cis ack ${jl.id}'`, 'dim'))
  }
  if (jl.duplicates > 0) ctx.out(paint(`  ${jl.duplicates} duplicate attempt(s): a node thought lost finished its work too`, 'yellow'))
  if (jl.missingJobs !== undefined) ctx.out(paint(`  this node's state has no record of job(s) ${jl.missingJobs.join(', ')} (a defect of cis: please report it, with this node's log); another node may show them`, 'red'))
  for (const st of jl.stages) {
    ctx.out(`\n  stage ${paint(st.name, 'bold')}: ${paint(st.state, stateColor(st.state))}`)
    const row = (j: JobView, indent: string): string[] => {
      const a = j.attempts[j.attempts.length - 1]
      const took = a?.startedAt != null && a?.endedAt != null ? duration(new Date(a.endedAt).getTime() - new Date(a.startedAt).getTime()) : a?.startedAt != null ? `${age(a.startedAt)}…` : '-'
      const info = j.waiting !== undefined
        ? `waits: ${j.waiting}`
        : a === undefined ? '' : a.lostInMs !== undefined ? `its node is disconnected; lost in ${duration(a.lostInMs)} unless it comes back` : a.exitCode !== null && a.exitCode !== undefined ? `exit ${String(a.exitCode)}` : (a.reason ?? '')
      const target = j.physical !== undefined ? j.summary ?? `logical: ${j.physical.filter(p => p.state === 'succeeded').length}/${j.physical.length} nodes ok` : ''
      return [indent + j.id, j.name, paint(j.state, stateColor(j.state)), j.node ?? '-', resources(j.resources), String(j.attempts.length), took, j.state === 'succeeded' ? target : [target, info].filter(x => x !== '').join('; ')]
    }
    const rows = st.jobs.flatMap(j => [row(j, '  '), ...(j.physical ?? []).map(p => row(p, '    '))])
    ctx.out(table(['  ID', 'JOB', 'STATE', 'NODE', 'RESOURCES', 'TRIES', 'TIME', 'INFO'], rows))
  }
}

/** The joblists as they were at a time (G-3): every one, in queue order. */
async function listAt (ctx: Ctx, at: string): Promise<void> {
  const r = await ctx.client.get<JoblistsResponse & { at?: string }>(`/v1/joblists${at}`)
  if (ctx.json) { printJson(r); return }
  ctx.out(paint(`as it was at ${r.at ?? '?'}:`, 'dim'))
  if (r.joblists.length === 0) { ctx.out('no joblists then'); return }
  ctx.out(table(['ID', 'NAME', 'STATE', 'STAGE', 'JOBS', 'OWNER', 'SUBMITTED'], r.joblists.map(j => [j.id, j.name, paint(j.state, stateColor(j.state)), j.currentStage ?? '-', jobCounts(j.jobs), j.owner, j.submittedAt])))
}

/** At most this many unacknowledged failures at the top of the list. */
const SHOWN_FAILURES = 10
/** At most this many ended joblists in the table. */
const SHOWN_ENDED = 50

/** Rows padded like a table's, without its header, indented. */
const block = (rows: string[][]): string => table(rows[0].map(() => ''), rows).split('\n').slice(1).map(l => `  ${l}`).join('\n')

/**
 * The joblists: first what needs a person (failed joblists not yet acknowledged, paused
 * schedules), then running and queued ones in queue order, then the ended ones, oldest first.
 */
async function list (ctx: Ctx): Promise<void> {
  if (ctx.json) { printJson({ joblists: (await ctx.client.get<JoblistsResponse>('/v1/joblists')).joblists }); return }
  const [{ joblists }, { schedules }] = await Promise.all([
    ctx.client.get<JoblistsResponse>('/v1/joblists'),
    ctx.client.get<SchedulesResponse>('/v1/schedules')
  ])
  const byTime = (key: 'submittedAt' | 'endedAt') => (a: JoblistSummary, b: JoblistSummary): number => (a[key] ?? '').localeCompare(b[key] ?? '')
  const unseen = joblists.filter(j => j.state === 'failed' && j.acked !== true).sort(byTime('endedAt'))
  const paused = schedules.filter(s => s.paused && !s.removed)
  if (unseen.length > 0) {
    const shown = unseen.slice(-SHOWN_FAILURES)
    ctx.out(paint(`${unseen.length} failed joblist(s) not acknowledged yet${unseen.length > shown.length ? ` (the newest ${shown.length})` : ''}:`, 'red'))
    ctx.out(block(shown.map(j => [j.id, j.name, `${age(j.endedAt)} ago`, j.failure ?? 'failed'])))
    const id = shown.length === 1 ? shown[0].id : 'ID'
    ctx.out(paint(`  see why with 'cis status ${id}'; once seen, acknowledge it with 'cis ack ${id}'${unseen.length > 1 ? " (or all of them with 'cis ack --all')" : ''}`, 'dim'))
  }
  if (paused.length > 0) {
    ctx.out(paint(`${paused.length} paused schedule(s):`, 'yellow'))
    ctx.out(block(paused.map(s => [s.name, scheduleState(s), s.pausedBy !== null && s.pausedBy !== 'user' ? 'its run failed' : ''])))
    ctx.out(paint(`  see its runs with 'cis schedule ${paused.length === 1 ? paused[0].name : 'NAME'}'; resume it with 'cis resume ${paused.length === 1 ? paused[0].name : 'NAME'}'`, 'dim'))
  }
  if (joblists.length === 0) { ctx.out("no joblists yet: submit one with 'cis submit FILE'"); return }
  const active = joblists.filter(j => !FINAL_JOBLIST_STATES.has(j.state))
  const rest = joblists.filter(j => FINAL_JOBLIST_STATES.has(j.state) && !(j.state === 'failed' && j.acked !== true)).sort(byTime('submittedAt'))
  // Schedules add a joblist a run: of the ended ones, the newest only.
  const restShown = rest.slice(-SHOWN_ENDED)
  const rows = [...active, ...restShown].map((j: JoblistSummary) => [j.id, j.name, paint(j.state, stateColor(j.state)), j.currentStage ?? '-', jobCounts(j.jobs), j.owner, age(j.submittedAt)])
  if (rows.length === 0) return
  if (unseen.length > 0 || paused.length > 0) ctx.out('')
  ctx.out(table(['ID', 'NAME', 'STATE', 'STAGE', 'JOBS', 'OWNER', 'AGE'], rows))
  if (rest.length > restShown.length) ctx.out(paint(`(the newest ${restShown.length} of ${rest.length} ended joblists; 'cis status --json' lists them all)`, 'dim'))
}
