// `cis validate FILE`: check a joblist file without a node.
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { loadOrExit } from '../spec-file.js'

export async function validate (ctx: Ctx, file: string): Promise<void> {
  const spec = await loadOrExit(ctx, file)
  const jobs = spec.stages.reduce((n, s) => n + s.jobs.length, 0)
  if (ctx.json) printJson({ ok: true, name: spec.name, stages: spec.stages.length, jobs })
  else ctx.out(`ok: ${spec.name}: ${spec.stages.length} stage(s), ${jobs} job(s)`)
}
