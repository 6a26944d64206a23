// `cis ack REF` / `cis ack --all [NAME]`: a person has seen these failed joblists (S-5); they
// leave the top of `cis status`.
import type { AckResponse, JoblistsResponse } from '../api-types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export async function ack (ctx: Ctx, ref: string | undefined, o: { all?: boolean } = {}): Promise<void> {
  if (o.all === true) {
    // Every failure nobody acknowledged yet (a schedule with onFailure: continue makes many).
    const q = ref === undefined ? '' : `&name=${encodeURIComponent(ref)}`
    const { joblists } = await ctx.client.get<JoblistsResponse>(`/v1/joblists?unacked=true${q}`)
    const done: AckResponse[] = []
    for (const j of joblists) done.push(await ctx.client.post<AckResponse>(`/v1/joblists/${encodeURIComponent(j.id)}/ack`))
    if (ctx.json) printJson({ acked: done })
    else ctx.out(done.length === 0 ? 'no failures to acknowledge' : `acknowledged ${done.length} failure(s): ${done.map(d => d.id).join(', ')}`)
    return
  }
  if (ref === undefined) throw new CliExit(2, "give a joblist ID or name, or --all: 'cis ack ID' or 'cis ack --all [NAME]'")
  const r = await ctx.client.post<AckResponse>(`/v1/joblists/${encodeURIComponent(ref)}/ack`)
  if (ctx.json) printJson(r)
  else ctx.out(r.request === null ? `joblist ${r.id} was acknowledged already` : `acknowledged the failure of joblist ${r.id}; 'cis status' lists it with the others now`)
}
