// A bench's part run in a child process started with the agent's node flags (bin/cis.js: V8's
// young generation and worker threads as an agent has them): its `bench: ` lines on stderr are
// progress, its last line on stdout the figures as JSON.
import { spawn } from 'node:child_process'
import { CIS_NODE_FLAGS } from '../test/helpers/agent.js'

export async function childRun<T> (script: string, args: string[], what: string, progress: (m: string) => void): Promise<T> {
  const child = spawn(process.execPath, [...CIS_NODE_FLAGS, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  child.stderr.on('data', (b: Buffer) => {
    err += b.toString()
    for (const line of b.toString().split('\n')) if (line.startsWith('bench: ')) progress(line.slice(7))
  })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`${what} failed (exit ${String(code)}): ${err.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(out.trim().split('\n').at(-1) ?? '') as T
}
