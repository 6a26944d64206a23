// What every command gets: the client, output mode, and a way to end with an exit code.
import { Client } from './client.js'
import { rememberNodes, resolveTarget } from './contexts.js'
import type { Target } from './contexts.js'

export interface GlobalOptions { addr?: string, token?: string, context?: string, json?: boolean }

export class CliExit extends Error {
  override name = 'CliExit'
  /** `code`: the error's code in the --json document (default ERR_BAD_INPUT for exit 2, else ERR_FAILED). */
  constructor (readonly exitCode: number, message = '', readonly code?: string) { super(message) }
}

export interface Ctx {
  /** Built on first use (commands that talk to no agent never read the contexts file). */
  readonly client: Client
  /** Where the client talks, and through which context (resolved with the client). */
  readonly target: Target
  json: boolean
  out: (line: string) => void
  err: (line: string) => void
  /** Keep the nodes' API URLs of a GET /v1/nodes answer in the context in use, if any (P-7). */
  /** Through a context: its cluster's nodes (the master and the alive ones first: the first is what an unreachable context suggests). */
  rememberNodes: (nodes: ReadonlyArray<{ api: string, alive: boolean, master: boolean }>) => void
}

export function makeCtx (o: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Ctx {
  let target: Target | undefined
  let client: Client | undefined
  const resolve = (): Target => {
    if (target !== undefined) return target
    // (A ContextError, e.g. an unknown name, is exit 2: see main.ts.)
    target = resolveTarget(o, env)
    return target
  }
  return {
    get target () { return resolve() },
    get client () {
      if (client !== undefined) return client
      const t = resolve()
      client = new Client({ addr: t.addr, ...(t.token !== undefined ? { token: t.token } : {}) })
      return client
    },
    json: o.json === true,
    out: line => { process.stdout.write(line + '\n') },
    err: line => { process.stderr.write(line + '\n') },
    rememberNodes: nodes => {
      const name = target?.context
      const rank = (n: { alive: boolean, master: boolean }): number => n.master ? 0 : n.alive ? 1 : 2
      if (name !== undefined) rememberNodes(name, [...nodes].sort((a, b) => rank(a) - rank(b)).map(n => n.api), env)
    }
  }
}

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

/**
 * End the command with `exitCode`: the message on stderr, or with --json `{error, code}` on
 * stdout (as the API's errors look).
 */
export function failWith (ctx: Pick<Ctx, 'json'>, exitCode: number, code: string, message: string): never {
  if (ctx.json) {
    printJson({ error: message, code })
    throw new CliExit(exitCode)
  }
  throw new CliExit(exitCode, message)
}
