// `cis keygen FILE`: a new private network key (loads libp2p's pnet, so only this command does).
import { resolve } from 'node:path'
import { writeNewSwarmKey } from '../../net/swarm-key.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export async function keygen (ctx: Ctx, file: string): Promise<void> {
  try {
    await writeNewSwarmKey(file)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const message = e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EACCES'
      ? `cannot write ${file}: ${e.code === 'EACCES' ? 'permission denied' : 'no such directory'}; choose a FILE in a directory you can write`
      : e.message
    if (ctx.json) printJson({ error: message, code: 'ERR_SWARM_KEY' })
    else ctx.err(`cis: ${message}`)
    throw new CliExit(2)
  }
  if (ctx.json) printJson({ file: resolve(file) })
  else ctx.out(`wrote a new private network key to ${file}: copy it to every machine and start each agent with --swarm-key ${file}`)
}
