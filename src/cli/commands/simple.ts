// stop, nodes, validate, keygen.
import { resolve } from 'node:path'
import { writeNewSwarmKey } from '../../net/swarm-key.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, paint, table } from '../format.js'
import { loadOrExit } from './submit.js'

export async function stop (ctx: Ctx, ref: string, o: { job?: boolean }): Promise<void> {
  const path = o.job === true ? `/v1/jobs/${encodeURIComponent(ref)}/stop` : `/v1/joblists/${encodeURIComponent(ref)}/stop`
  const r = await ctx.client.post(path)
  if (ctx.json) printJson(r)
  else ctx.out(`asked to stop ${o.job === true ? 'job' : 'joblist'} ${r.id as string}; its running processes get TERM, then KILL after the grace period`)
}

export async function nodes (ctx: Ctx): Promise<void> {
  const { nodes } = await ctx.client.get('/v1/nodes')
  if (ctx.json) { printJson({ nodes }); return }
  const rows = nodes.map((n: any) => [
    n.name + (n.self === true ? ' (this)' : ''),
    String(n.id).slice(-10),
    n.master === true ? paint('master', 'bold') : '',
    n.alive === true ? paint('alive', 'green') : paint('offline', 'red'),
    String(n.priority),
    Object.entries(n.resources as Record<string, string[]>).map(([t, ids]) => `${t}:${ids.length}`).join(' '),
    (n.profiles as string[]).join(',') || '-',
    n.lastSeen === null ? '-' : `${age(n.lastSeen)} ago`
  ])
  ctx.out(table(['NAME', 'ID', 'ROLE', 'STATE', 'PRIORITY', 'RESOURCES', 'PROFILES', 'SEEN'], rows))
}

export async function validate (ctx: Ctx, file: string): Promise<void> {
  const spec = await loadOrExit(ctx, file)
  const jobs = spec.stages.reduce((n, s) => n + s.jobs.length, 0)
  if (ctx.json) printJson({ ok: true, name: spec.name, stages: spec.stages.length, jobs })
  else ctx.out(`ok: ${spec.name}: ${spec.stages.length} stage(s), ${jobs} job(s)`)
}

export async function keygen (ctx: Ctx, file: string): Promise<void> {
  try {
    await writeNewSwarmKey(file)
  } catch (err) {
    if (ctx.json) printJson({ error: (err as Error).message, code: 'ERR_SWARM_KEY' })
    else ctx.err(`cis: ${(err as Error).message}`)
    throw new CliExit(2)
  }
  if (ctx.json) printJson({ file: resolve(file) })
  else ctx.out(`wrote a new private network key to ${file}: copy it to every machine and start each agent with --swarm-key ${file}`)
}
