// `cis submit FILE [--var NAME=VALUE ...] [--wait]` and `cis plan FILE`.
import type { JoblistView, PlanResponse, ScheduleDefinedResponse, SubmitResponse } from '../api-types.js'
import type { JoblistSpec } from '../../spec/types.js'
import { endsFollowing } from '../client.js'
import { FINAL_JOBLIST_STATES } from '../../state/types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { instant, paint } from '../format.js'
import { defaultOwner } from '../owner.js'
import { Progress } from '../progress.js'
import { loadOrExit } from '../spec-file.js'
import { varValues } from '../var-values.js'

export async function submit (ctx: Ctx, file: string, o: { wait?: boolean, owner?: string, waitForNodes?: boolean, var?: string[] }): Promise<void> {
  const spec = await loadOrExit(ctx, file)
  if (spec.schedule !== undefined && o.wait === true) {
    throw new CliExit(2, `--wait does not apply to schedules: ${file} defines the schedule ${spec.name}, whose runs start at their times. Submit it without --wait and follow its runs with 'cis schedule ${spec.name}'`)
  }
  const vars = await varValues(ctx, file, spec, o.var ?? [])
  // S-7: the values go with the joblist; the node fills them in (and checks them again).
  const body = Object.keys(vars).length > 0 ? { joblist: spec, vars } : spec
  const path = o.waitForNodes === true ? '/v1/joblists?unsatisfiable=wait' : '/v1/joblists'
  const answer = await ctx.client.post<SubmitResponse | ScheduleDefinedResponse>(path, body, { 'x-cis-owner': o.owner ?? defaultOwner() })
  if ('schedule' in answer) { scheduleDefined(ctx, spec, answer); return }
  const r = answer
  if (r.id === null) {
    if (ctx.json) printJson(r)
    else ctx.err(`submitted ${r.name} (request ${r.request}); no master has accepted it yet: it will run once one does. See 'cis status'.`)
    return
  }
  if (o.wait !== true) {
    if (ctx.json) printJson(r)
    else {
      ctx.out(r.id)
      ctx.err(`submitted ${r.name} as ${r.id}: follow it with 'cis status ${r.id}'`)
    }
    return
  }
  if (!ctx.json) ctx.err(`submitted ${r.name} as ${r.id}`)
  const jl = await waitForEnd(ctx, r.id, ctx.json ? undefined : new Progress())
  if (ctx.json) printJson(jl)
  else {
    ctx.out(r.id)
    summarize(ctx, jl)
  }
  if (jl.state !== 'succeeded') throw new CliExit(1)
}

/** S-1: the file defined (or replaced) a schedule rather than submitting one joblist. */
function scheduleDefined (ctx: Ctx, spec: JoblistSpec, r: ScheduleDefinedResponse): void {
  if (ctx.json) { printJson(r); return }
  const tz = spec.schedule?.timezone ?? 'UTC'
  const next = r.next === null ? `no next run now: see 'cis schedule ${r.schedule}'` : `next run ${instant(r.next)} (${tz})`
  ctx.out(`schedule ${r.schedule} ${r.replaced ? 'replaced, its history kept' : 'created'}; ${next}`)
  ctx.err(`follow its runs with 'cis schedule ${r.schedule}'; stop them with 'cis pause ${r.schedule}' or 'cis unschedule ${r.schedule}'`)
}

/** `cis plan FILE`: where the first stage would run now, or why it would wait. */
export async function plan (ctx: Ctx, file: string): Promise<void> {
  const spec = await loadOrExit(ctx, file)
  const r = await ctx.client.post<PlanResponse>('/v1/plan', spec)
  if (ctx.json) { printJson(r); return }
  ctx.out(`${spec.name}: stage ${r.stage}, if submitted now:`)
  for (const j of r.jobs) {
    if (j.node !== null) ctx.out(`  ${j.name}: runs on ${j.node} with ${Object.entries(j.resources).map(([t, ids]) => `${t}:${ids.join(',')}`).join(' ') || 'no resources'}`)
    else ctx.out(`  ${j.name}: waits: ${j.waiting ?? 'unknown'}`)
  }
}

/**
 * Follow one joblist on the live stream (`/v1/events?joblist=ID`: no polling) until it ends.
 * A dropped connection is resumed (the stream sends the joblist afresh); bounded to a week.
 */
async function waitForEnd (ctx: Ctx, id: string, progress?: Progress): Promise<JoblistView> {
  const { LiveClient } = await import('../../live/client.js')
  let ended: JoblistView | undefined
  let connected = false
  let lost = false
  const live = new LiveClient({
    onOpen: () => {
      if (lost) ctx.err(`connected to ${ctx.client.addr} again: following ${id}`)
      connected = true
      lost = false
    },
    // A drop (the agent stopped or restarts): said once, then retried until it is back.
    onError: err => {
      if (!connected || lost) return
      lost = true
      ctx.err(`lost the connection to ${ctx.client.addr} (${err.message}); retrying every few seconds. The joblist ${id} runs on in the cluster: Ctrl-C, and see it later with 'cis status ${id}' (or --addr another node)`)
    },
    base: ctx.client.addr,
    joblist: id,
    open: async (path, headers, signal) => await ctx.client.openStream(path, headers, signal),
    onUpdate: copy => {
      const jl = copy.joblist as JoblistView | null
      if (jl === null) return
      progress?.update(jl)
      if (FINAL_JOBLIST_STATES.has(jl.state)) { ended = jl; live.close() }
    }
  })
  const week = setTimeout(() => live.close(), 7 * 24 * 3600 * 1000)
  try {
    await live.run(err => endsFollowing(err, connected))
  } finally {
    clearTimeout(week)
  }
  if (ended === undefined) throw new CliExit(1, 'gave up waiting')
  return ended
}

function summarize (ctx: Ctx, jl: JoblistView): void {
  const jobs = jl.stages.flatMap(s => s.jobs)
  const ok = jobs.filter(j => j.state === 'succeeded').length
  ctx.err(`${jl.name} ${jl.id}: ${paint(jl.state, jl.state === 'succeeded' ? 'green' : 'red', process.stderr.isTTY === true)} (${ok}/${jobs.length} jobs succeeded)`)
  for (const j of jobs) {
    if (j.state !== 'failed' && j.state !== 'lost') continue
    const a = j.attempts[j.attempts.length - 1]
    ctx.err(`  ${j.name} (${j.id}) ${j.state}${a?.reason != null ? `: ${a.reason}` : ''}`)
    if (a?.tail != null) for (const line of a.tail.trimEnd().split('\n').slice(-10)) ctx.err(`    | ${line}`)
    ctx.err(`    see the whole output with 'cis logs ${j.id}'`)
  }
}
