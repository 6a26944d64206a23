// `cis ack REF`: a person has seen this failed joblist (S-5); it leaves the top of `cis status`.
import type { AckResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'

export async function ack (ctx: Ctx, ref: string): Promise<void> {
  const r = await ctx.client.post<AckResponse>(`/v1/joblists/${encodeURIComponent(ref)}/ack`)
  if (ctx.json) printJson(r)
  else ctx.out(r.request === null ? `joblist ${r.id} was acknowledged already` : `acknowledged the failure of joblist ${r.id}; 'cis status' lists it with the others now`)
}
