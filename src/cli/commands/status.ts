// `cis status [REF] [--hash]`: the joblists, one joblist with its stages and jobs, or the state hash.
import type { JobView, JoblistView, JoblistsResponse, StateHashResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, duration, jobCounts, paint, resources, stateColor, table } from '../format.js'

export async function status (ctx: Ctx, ref: string | undefined, o: { hash?: boolean }): Promise<void> {
  if (o.hash === true) {
    const s = await ctx.client.get<StateHashResponse>('/v1/state')
    if (ctx.json) printJson(s)
    else ctx.out(`${s.hash}  (${s.events} events from ${Object.keys(s.origins).length} nodes)`)
    return
  }
  if (ref === undefined) { await list(ctx); return }
  const jl = await ctx.client.get<JoblistView>(`/v1/joblists/${encodeURIComponent(ref)}`)
  if (ctx.json) { printJson(jl); return }
  ctx.out(`${paint(jl.name, 'bold')} ${jl.id}  ${paint(jl.state, stateColor(jl.state))}  owner ${jl.owner}  priority ${jl.priority}  submitted ${age(jl.submittedAt)} ago${jl.endedAt !== null ? `, took ${duration(new Date(jl.endedAt).getTime() - new Date(jl.submittedAt).getTime())}` : ''}`)
  if (jl.duplicates > 0) ctx.out(paint(`  ${jl.duplicates} duplicate attempt(s): a node thought lost finished its work too`, 'yellow'))
  for (const st of jl.stages) {
    ctx.out(`\n  stage ${paint(st.name, 'bold')}: ${paint(st.state, stateColor(st.state))}`)
    const row = (j: JobView, indent: string): string[] => {
      const a = j.attempts[j.attempts.length - 1]
      const took = a?.startedAt != null && a?.endedAt != null ? duration(new Date(a.endedAt).getTime() - new Date(a.startedAt).getTime()) : a?.startedAt != null ? `${age(a.startedAt)}…` : '-'
      const info = j.waiting !== undefined
        ? `waits: ${j.waiting}`
        : a === undefined ? '' : a.lostInMs !== undefined ? `its node is disconnected; lost in ${duration(a.lostInMs)} unless it comes back` : a.exitCode !== null && a.exitCode !== undefined ? `exit ${String(a.exitCode)}` : (a.reason ?? '')
      const target = j.physical !== undefined ? `logical: ${j.physical.filter(p => p.state === 'succeeded').length}/${j.physical.length} nodes ok` : ''
      return [indent + j.id, j.name, paint(j.state, stateColor(j.state)), j.node ?? '-', resources(j.resources), String(j.attempts.length), took, j.state === 'succeeded' ? target : [target, info].filter(x => x !== '').join('; ')]
    }
    const rows = st.jobs.flatMap(j => [row(j, '  '), ...(j.physical ?? []).map(p => row(p, '    '))])
    ctx.out(table(['  ID', 'JOB', 'STATE', 'NODE', 'RESOURCES', 'TRIES', 'TIME', 'INFO'], rows))
  }
}

async function list (ctx: Ctx): Promise<void> {
  const { joblists } = await ctx.client.get<JoblistsResponse>('/v1/joblists')
  if (ctx.json) { printJson({ joblists }); return }
  if (joblists.length === 0) { ctx.out("no joblists yet: submit one with 'cis submit FILE'"); return }
  const failed = joblists.filter(j => j.state === 'failed')
  if (failed.length > 0) {
    ctx.out(paint(`${failed.length} failed joblist(s): ${failed.slice(-5).map(j => `${j.name} (${j.id})`).join(', ')}`, 'red'))
    ctx.out(paint("  see why with 'cis status ID'", 'dim'))
  }
  const rows = joblists.map(j => [j.id, j.name, paint(j.state, stateColor(j.state)), j.currentStage ?? '-', jobCounts(j.jobs), j.owner, age(j.submittedAt)])
  ctx.out(table(['ID', 'NAME', 'STATE', 'STAGE', 'JOBS', 'OWNER', 'AGE'], rows))
}
