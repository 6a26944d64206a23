// `cis context add|use|list|remove` (P-7): named agents to talk to. The file and the precedence
// are in ../contexts.ts. A token is never printed: it shows as `set` or `none`.
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { ContextError, NAME_RE, contextsPath, loadContexts, saveContexts, unknownContext, withScheme } from '../contexts.js'
import type { ContextEntry, ContextsFile } from '../contexts.js'
import { table } from '../format.js'

const tokenState = (c: ContextEntry): 'set' | 'none' => c.token !== undefined && c.token !== '' ? 'set' : 'none'

/** What may be shown of a context: everything but its token. */
function view (name: string, c: ContextEntry, data: ContextsFile): Record<string, unknown> {
  return { name, addr: c.addr, token: tokenState(c), current: data.current === name, lastNodes: c.lastNodes ?? [], ...(c.lastNodesAt !== undefined ? { lastNodesAt: c.lastNodesAt } : {}) }
}

/** The address as stored: a URL, or a bare host:port taken as http://host:port (as --addr takes it). */
function checkAddr (given: string): string {
  const addr = withScheme(given)
  let url: URL
  try { url = new URL(addr) } catch { throw new CliExit(2, `--addr ${given} is not a URL or HOST:PORT (e.g. http://10.0.0.5:7700, or 10.0.0.5:7700)`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliExit(2, `--addr ${given}: only http: and https: URLs`)
  return addr.replace(/\/+$/, '')
}

function save (data: ContextsFile): void {
  try { saveContexts(data) } catch (err) { throw new ContextError(`cannot write ${contextsPath()}: ${(err as Error).message}`, 'ERR_CONTEXT_FILE') }
}

export function contextAdd (ctx: Ctx, name: string, o: { addr: string, token?: string }): void {
  if (!NAME_RE.test(name)) throw new CliExit(2, `bad context name '${name}': letters, digits, '.', '_' and '-', starting with a letter or digit`)
  const addr = checkAddr(o.addr)
  const data = loadContexts()
  const old = Object.hasOwn(data.contexts, name) ? data.contexts[name] : undefined
  const entry: ContextEntry = { addr, ...(o.token !== undefined && o.token !== '' ? { token: o.token } : {}) }
  // The nodes last seen stay while the address does (the same cluster).
  if (old?.addr === addr && old.lastNodes !== undefined) { entry.lastNodes = old.lastNodes; if (old.lastNodesAt !== undefined) entry.lastNodesAt = old.lastNodesAt }
  data.contexts[name] = entry
  save(data)
  if (ctx.json) { printJson({ ...view(name, entry, data), replaced: old !== undefined }); return }
  ctx.out(`context ${name} ${old !== undefined ? 'replaced' : 'added'}: ${addr} (token ${tokenState(entry)})${data.current === name ? ' (current)' : `; use it with --context ${name} or 'cis context use ${name}'`}`)
}

export function contextUse (ctx: Ctx, name: string | undefined, o: { none?: boolean }): void {
  const data = loadContexts()
  if (o.none === true) {
    if (name !== undefined) throw new CliExit(2, 'give a NAME or --none, not both')
    const was = data.current
    delete data.current
    if (was !== undefined) save(data)
    if (ctx.json) { printJson({ current: null }); return }
    ctx.out('no current context: commands talk to $CIS_ADDR or http://127.0.0.1:7700 unless told otherwise')
    return
  }
  if (name === undefined) throw new CliExit(2, `give a context NAME (known: ${Object.keys(data.contexts).sort().join(', ') || 'none'}) or --none`)
  const c = Object.hasOwn(data.contexts, name) ? data.contexts[name] : undefined
  if (c === undefined) throw unknownContext(name, data, '')
  data.current = name
  save(data)
  if (ctx.json) { printJson({ current: name, ...view(name, c, data) }); return }
  ctx.out(`current context: ${name} (${c.addr}, token ${tokenState(c)})`)
  if (process.env.CIS_CONTEXT !== undefined && process.env.CIS_CONTEXT !== '' && process.env.CIS_CONTEXT !== name) ctx.err(`cis: note: CIS_CONTEXT=${process.env.CIS_CONTEXT} is set and comes first`)
}

export function contextList (ctx: Ctx): void {
  const data = loadContexts()
  const names = Object.keys(data.contexts).sort()
  if (ctx.json) { printJson({ current: data.current ?? null, file: contextsPath(), contexts: names.map(n => view(n, data.contexts[n], data)) }); return }
  if (names.length === 0) { ctx.out("no contexts; add one with 'cis context add NAME --addr URL [--token TOKEN]'"); return }
  ctx.out(table(['CURRENT', 'NAME', 'ADDR', 'TOKEN', 'NODES SEEN'], names.map(n => {
    const c = data.contexts[n]
    return [data.current === n ? '*' : '', n, c.addr, tokenState(c), String(c.lastNodes?.length ?? 0)]
  })))
}

export function contextRemove (ctx: Ctx, name: string): void {
  const data = loadContexts()
  if (!Object.hasOwn(data.contexts, name)) throw unknownContext(name, data, '')
  delete data.contexts[name]
  const wasCurrent = data.current === name
  if (wasCurrent) delete data.current
  save(data)
  if (ctx.json) { printJson({ removed: name, wasCurrent }); return }
  ctx.out(`context ${name} removed${wasCurrent ? '; there is no current context now' : ''}`)
}
