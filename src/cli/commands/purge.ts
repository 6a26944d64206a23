// `cis admin purge --older-than 90d` (G-6): ended joblists that ended before a time leave every
// node's state, snapshot and accounting. --dry-run counts them first.
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

interface PurgeResponse { before: string, joblists: number, ids: string[], requests: string[], dryRun: boolean }

export async function purge (ctx: Ctx, o: { olderThan?: string, before?: string, dryRun?: boolean }): Promise<void> {
  if ((o.olderThan === undefined) === (o.before === undefined)) throw new CliExit(2, 'give --older-than SPAN (e.g. 90d) or --before TIME (e.g. 2026-09-01), one of them')
  const r = await ctx.client.json<PurgeResponse>('POST', '/v1/admin/purge', {
    ...(o.olderThan !== undefined ? { olderThan: o.olderThan } : { before: o.before }),
    ...(o.dryRun === true ? { dryRun: true } : {})
  })
  if (ctx.json) { printJson(r); return }
  if (r.joblists === 0) { ctx.out(`no ended joblist ended before ${r.before}: nothing to purge`); return }
  ctx.out(r.dryRun
    ? `${r.joblists} ended joblist(s) ended before ${r.before} would be purged (run again without --dry-run to purge them)`
    : `purged ${r.joblists} ended joblist(s) that ended before ${r.before} (${r.requests.length} purge event(s); every node cuts the same, one that is away when it is back)`)
}
