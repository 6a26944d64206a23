// `cis history REF`: every change of a joblist and its jobs (G-3), from the events: when, the
// node that wrote it, and what changed, in clock order.
import type { HistoryResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { paint, table } from '../format.js'

export async function history (ctx: Ctx, ref: string): Promise<void> {
  const r = await ctx.client.get<HistoryResponse>(`/v1/joblists/${encodeURIComponent(ref)}/history`)
  if (ctx.json) { printJson(r); return }
  ctx.out(`${paint(r.name, 'bold')} ${r.id}: ${r.events.length} event(s)`)
  ctx.out(table(['TIME', 'NODE', 'EVENT', 'WHAT'], r.events.map(e => [e.at, e.node, `${e.type} ${e.origin.slice(-6)}:${e.seq}`, e.text])))
}
