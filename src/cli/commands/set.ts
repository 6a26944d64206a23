// `cis set REF --priority N --tag T [--tag T2]`: change a joblist that has not ended (D-1).
// The tags given replace the joblist's tags; `--no-tags` clears them.
import type { UpdateResponse } from '../api-types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export async function set (ctx: Ctx, ref: string, o: { priority?: string, tag?: string[], tags?: boolean }): Promise<void> {
  const change: { priority?: number, tags?: string[] } = {}
  if (o.priority !== undefined) {
    const n = Number(o.priority.trim())
    if (!/^[+-]?\d+$/.test(o.priority.trim()) || !Number.isSafeInteger(n)) throw new CliExit(2, `--priority '${o.priority}': expected a whole number from -1000 to 1000`)
    change.priority = n
  }
  if (o.tag !== undefined) change.tags = o.tag
  else if (o.tags === false) change.tags = []
  if (Object.keys(change).length === 0) throw new CliExit(2, "nothing to change: give --priority N and/or --tag T (repeatable; replaces the tags), or --no-tags")
  const r = await ctx.client.json<UpdateResponse>('PATCH', `/v1/joblists/${encodeURIComponent(ref)}`, change)
  if (ctx.json) printJson(r)
  else ctx.out(`joblist ${r.id}: priority ${r.priority}, tags ${r.tags.length > 0 ? r.tags.join(', ') : '(none)'}`)
}
