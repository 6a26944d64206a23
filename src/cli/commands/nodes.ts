// `cis nodes`: the nodes, their resources, and the master.
import type { NodesResponse } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, paint, table } from '../format.js'

export async function nodes (ctx: Ctx): Promise<void> {
  const { nodes } = await ctx.client.get<NodesResponse>('/v1/nodes')
  // Through a context: its cluster's nodes, to suggest one when this one is down (P-7).
  ctx.rememberNodes(nodes)
  if (ctx.json) { printJson({ nodes }); return }
  const rows = nodes.map(n => [
    n.name + (n.self ? ' (this)' : ''),
    String(n.id).slice(-10),
    n.master ? paint('master', 'bold') : '',
    n.alive ? paint('alive', 'green') : paint('offline', 'red'),
    String(n.priority),
    Object.entries(n.resources).map(([t, ids]) => `${t}:${ids.length}`).join(' '),
    n.profiles.join(',') || '-',
    n.lastSeen === null ? '-' : `${age(n.lastSeen)} ago`
  ])
  ctx.out(table(['NAME', 'ID', 'ROLE', 'STATE', 'PRIORITY', 'RESOURCES', 'PROFILES', 'SEEN'], rows))
}
