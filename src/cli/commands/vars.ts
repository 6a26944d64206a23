// `cis vars FILE`: the variables a joblist file declares (S-7), without a node.
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { table } from '../format.js'
import { loadOrExit } from '../spec-file.js'

export async function vars (ctx: Ctx, file: string): Promise<void> {
  const spec = await loadOrExit(ctx, file)
  const list = spec.vars ?? []
  if (ctx.json) { printJson({ name: spec.name, vars: list }); return }
  if (list.length === 0) { ctx.out(`${spec.name}: no variables declared`); return }
  const rows = list.map(v => [
    v.name,
    v.required && v.default === undefined ? 'yes' : 'no',
    v.default ?? '-',
    [v.choices !== undefined ? `one of ${v.choices.join(', ')}` : '', v.pattern !== undefined ? `matching ${v.pattern}` : ''].filter(x => x !== '').join('; ') || '-',
    v.description ?? ''
  ])
  ctx.out(table(['NAME', 'REQUIRED', 'DEFAULT', 'ALLOWED', 'DESCRIPTION'], rows))
  ctx.err(`give values with 'cis submit ${file} --var NAME=VALUE'`)
}
