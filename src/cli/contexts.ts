// Remote contexts (P-7): named agent addresses (and tokens) in the user's config directory,
// so `cis --context prod status` or `cis context use prod` replace typing --addr and --token.
// The file: $CIS_CONFIG_DIR/contexts.json, else $XDG_CONFIG_HOME/cisystem/contexts.json, else
// ~/.config/cisystem/contexts.json; mode 0600 in a 0700 directory, replaced atomically
// (a temporary file renamed over it). Each context also keeps the API URLs of its cluster's
// nodes from the last `GET /v1/nodes` answer (`lastNodes`), to suggest another node when its
// own is down. Only node builtins here: every client command loads this module.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join } from 'node:path'

export interface ContextEntry {
  addr: string
  token?: string
  /** The nodes' API URLs from the last successful GET /v1/nodes through this context. */
  lastNodes?: string[]
  /** When lastNodes was recorded (ISO time). */
  lastNodesAt?: string
}

export interface ContextsFile {
  current?: string
  contexts: Record<string, ContextEntry>
}

export const DEFAULT_ADDR = 'http://127.0.0.1:7700'

/** A problem with the contexts the user named or the file: exit 2. */
export class ContextError extends Error {
  override name = 'ContextError'
  constructor (message: string, readonly code = 'ERR_CONTEXT', readonly known?: string[]) { super(message) }
}

export function configDir (env: NodeJS.ProcessEnv = process.env): string {
  if (env.CIS_CONFIG_DIR !== undefined && env.CIS_CONFIG_DIR !== '') return env.CIS_CONFIG_DIR
  const xdg = env.XDG_CONFIG_HOME
  // The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored.
  const base = xdg !== undefined && xdg !== '' && isAbsolute(xdg) ? xdg : join(env.HOME ?? homedir(), '.config')
  return join(base, 'cisystem')
}

export function contextsPath (env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'contexts.json')
}

/** The contexts; an empty set if there is no file yet. A ContextError if it cannot be read. */
export function loadContexts (env: NodeJS.ProcessEnv = process.env): ContextsFile {
  const file = contextsPath(env)
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} }
    throw new ContextError(`cannot read ${file}: ${(err as Error).message}`, 'ERR_CONTEXT_FILE')
  }
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch (err) { throw new ContextError(`${file} is not valid JSON: ${(err as Error).message}`, 'ERR_CONTEXT_FILE') }
  const o = typeof parsed === 'object' && parsed !== null ? parsed as Partial<ContextsFile> : {}
  const contexts: Record<string, ContextEntry> = {}
  for (const [name, c] of Object.entries(typeof o.contexts === 'object' && o.contexts !== null ? o.contexts : {})) {
    if (typeof c !== 'object' || c === null || typeof c.addr !== 'string') continue
    contexts[name] = {
      addr: c.addr,
      ...(typeof c.token === 'string' ? { token: c.token } : {}),
      ...(Array.isArray(c.lastNodes) ? { lastNodes: c.lastNodes.filter((u): u is string => typeof u === 'string') } : {}),
      ...(typeof c.lastNodesAt === 'string' ? { lastNodesAt: c.lastNodesAt } : {})
    }
  }
  return { ...(typeof o.current === 'string' ? { current: o.current } : {}), contexts }
}

/** Write the file atomically: mode 0600, its directory 0700. */
export function saveContexts (data: ContextsFile, env: NodeJS.ProcessEnv = process.env): void {
  const dir = configDir(env)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  // A directory made before (or by mkdir under an odd umask) is closed to others too.
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700)
  const file = join(dir, 'contexts.json')
  const tmp = join(dir, `.contexts.json.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`)
  try {
    writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
    chmodSync(tmp, 0o600)
    renameSync(tmp, file)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw err
  }
}

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function knownList (data: ContextsFile): string {
  const names = Object.keys(data.contexts).sort()
  return names.length === 0 ? "none; add one with 'cis context add NAME --addr URL'" : names.join(', ')
}

export function unknownContext (name: string, data: ContextsFile, how: string): ContextError {
  return new ContextError(`unknown context '${name}'${how} (known: ${knownList(data)})`, 'ERR_UNKNOWN_CONTEXT', Object.keys(data.contexts).sort())
}

/** Where a client command sends its requests, and which context (if any) that address is. */
export interface Target {
  addr: string
  token?: string
  /** The context whose address is used (its lastNodes are kept, its name is in errors). */
  context?: string
  /** Its other nodes last seen, for the error when it is unreachable. */
  lastNodes?: string[]
  /** Whether that context has a token (never the token itself). */
  contextToken?: boolean
}

/**
 * The address and token, by precedence: --addr/--token > --context/CIS_CONTEXT > CIS_ADDR/CIS_TOKEN >
 * the current context > http://127.0.0.1:7700. A context named with --context or CIS_CONTEXT gives
 * its token even with --addr (another node of the same cluster); the current context is used only
 * when neither --addr nor CIS_ADDR names an address, so its token never goes elsewhere.
 * The file is read only when it can matter.
 */
export function resolveTarget (o: { addr?: string, token?: string, context?: string }, env: NodeJS.ProcessEnv = process.env): Target {
  const envAddr = env.CIS_ADDR !== undefined && env.CIS_ADDR !== '' ? env.CIS_ADDR : undefined
  const envToken = env.CIS_TOKEN !== undefined && env.CIS_TOKEN !== '' ? env.CIS_TOKEN : undefined
  const named = o.context !== undefined && o.context !== '' ? { name: o.context, how: '' } : env.CIS_CONTEXT !== undefined && env.CIS_CONTEXT !== '' ? { name: env.CIS_CONTEXT, how: ' (from CIS_CONTEXT)' } : undefined
  const tok = (t: string | undefined): { token?: string } => t !== undefined ? { token: t } : {}
  if (named !== undefined) {
    const data = loadContexts(env)
    const c = Object.hasOwn(data.contexts, named.name) ? data.contexts[named.name] : undefined
    if (c === undefined) throw unknownContext(named.name, data, named.how)
    const token = o.token ?? c.token
    if (o.addr !== undefined) return { addr: withScheme(o.addr), ...tok(token) }
    return { addr: c.addr, ...tok(token), context: named.name, lastNodes: c.lastNodes ?? [], contextToken: c.token !== undefined }
  }
  if (o.addr !== undefined) return { addr: withScheme(o.addr), ...tok(o.token ?? envToken) }
  if (envAddr !== undefined) return { addr: withScheme(envAddr), ...tok(o.token ?? envToken) }
  const data = loadContexts(env)
  if (data.current !== undefined) {
    const c = Object.hasOwn(data.contexts, data.current) ? data.contexts[data.current] : undefined
    if (c === undefined) throw unknownContext(data.current, data, " (the current one, in contexts.json; 'cis context use NAME' or 'cis context use --none')")
    return { addr: c.addr, ...tok(o.token ?? envToken ?? c.token), context: data.current, lastNodes: c.lastNodes ?? [], contextToken: c.token !== undefined }
  }
  return { addr: DEFAULT_ADDR, ...tok(o.token ?? envToken) }
}

/** An address given as host:port (what the agent's --api flag takes) is http://host:port. */
export const withScheme = (a: string): string => /^[a-z][a-z0-9+.-]*:\/\//i.test(a) ? a : `http://${a}`

const trim = (u: string): string => u.replace(/\/+$/, '')

/**
 * Keep the nodes' API URLs of the answer to GET /v1/nodes in the context (only when they
 * changed: no write on every command). Best effort: a file that cannot be written is no error.
 */
export function rememberNodes (context: string, urls: string[], env: NodeJS.ProcessEnv = process.env): void {
  try {
    const nodes = [...new Set(urls.filter(u => typeof u === 'string' && u !== '').map(trim))]
    const data = loadContexts(env)
    const c = Object.hasOwn(data.contexts, context) ? data.contexts[context] : undefined
    if (c === undefined || nodes.length === 0) return
    const old = c.lastNodes ?? []
    if (old.length === nodes.length && old.every((u, i) => u === nodes[i])) return
    c.lastNodes = nodes
    c.lastNodesAt = new Date().toISOString()
    saveContexts(data, env)
  } catch { /* best effort */ }
}

/** A name for a new context that is not taken: prod-b, prod-c, ... */
function freeName (base: string, taken: (name: string) => boolean): string {
  for (const s of 'bcdefghijklmnopqrstuvwxyz') if (!taken(`${base}-${s}`)) return `${base}-${s}`
  for (let i = 2; ; i++) if (!taken(`${base}-${i}`)) return `${base}-${i}`
}

/**
 * The error for a context whose node did not answer: which address failed, and another node of
 * the same cluster (from lastNodes) to try. One or two lines.
 */
export function unreachableInContext (t: Target & { context: string }, url: string, reason: string, env: NodeJS.ProcessEnv = process.env): { message: string, others: string[] } {
  const others = (t.lastNodes ?? []).map(trim).filter(u => u !== trim(url))
  const first = `cannot reach the cis agent at ${url} (context ${t.context}): ${reason}.`
  if (others.length === 0) return { message: `${first} Is 'cis agent' running there? Use --addr, or 'cis context add' another node of this cluster.`, others }
  let taken = (_: string): boolean => false
  try { const data = loadContexts(env); taken = name => Object.hasOwn(data.contexts, name) } catch { /* the name is only a suggestion */ }
  const shown = others.slice(0, 3).join(', ') + (others.length > 3 ? ` (+${others.length - 3} more)` : '')
  const suggestion = `cis context add ${freeName(t.context, taken)} --addr ${others[0]}${t.contextToken === true ? ' --token TOKEN' : ''}`
  return { message: `${first}\nother nodes of this cluster last seen: ${shown} — try: ${suggestion}`, others }
}
