// `cis usage`: fair share (P-4) per owner: usage, share, and the factor its priority counts with.
import type { UsageResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { duration, table } from '../format.js'

const num = (x: number): string => x === 0 ? '0' : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toPrecision(2)
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`

export async function usage (ctx: Ctx): Promise<void> {
  const u = await ctx.client.get<UsageResponse>('/v1/usage')
  if (ctx.json) { printJson(u); return }
  const rows = u.owners.map(o => [o.owner, num(o.usage), num(o.resourceSeconds), pct(o.share), num(o.target), o.factor.toFixed(2)])
  ctx.out(`policy ${u.policy}; usage halves every ${duration(u.halfLifeMs)}; priority p counts as p x FACTOR under fairshare`)
  ctx.out(u.owners.length === 0 ? 'no owner has work queued, running or done' : table(['OWNER', 'USAGE', 'RESOURCE-S', 'SHARE', 'TARGET', 'FACTOR'], rows))
}
