// What every command gets: the client, output mode, and a way to end with an exit code.
import { Client } from './client.js'

export interface GlobalOptions { addr?: string, token?: string, json?: boolean }

export class CliExit extends Error {
  override name = 'CliExit'
  constructor (readonly exitCode: number, message = '') { super(message) }
}

export interface Ctx {
  client: Client
  json: boolean
  out: (line: string) => void
  err: (line: string) => void
}

export function makeCtx (o: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Ctx {
  const addr = o.addr ?? env.CIS_ADDR ?? 'http://127.0.0.1:7700'
  const token = o.token ?? env.CIS_TOKEN
  return {
    client: new Client({ addr, ...(token !== undefined ? { token } : {}) }),
    json: o.json === true,
    out: line => { process.stdout.write(line + '\n') },
    err: line => { process.stderr.write(line + '\n') }
  }
}

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}
