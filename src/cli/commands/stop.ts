// `cis stop REF [--job]`: ask the cluster to stop a joblist or one job.
import type { StopResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'

export async function stop (ctx: Ctx, ref: string, o: { job?: boolean }): Promise<void> {
  const path = o.job === true ? `/v1/jobs/${encodeURIComponent(ref)}/stop` : `/v1/joblists/${encodeURIComponent(ref)}/stop`
  const r = await ctx.client.post<StopResponse>(path)
  if (ctx.json) printJson(r)
  else ctx.out(`asked to stop ${o.job === true ? 'job' : 'joblist'} ${r.id}; its running processes get TERM, then KILL after the grace period`)
}
