// The fork server: a small process that starts the agent's jobs, so that forking happens in
// a process of a few tens of MB (fast) and off the agent's main thread. It reads one JSON
// request per line on stdin and answers on stdout: {id, pid}, {id, error} and, when the job
// ends, {id, exit: true, code, signal}. It ends when its stdin closes (the agent is gone);
// the jobs, each in its own process group, are left for the restarted agent to clean up.
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'

interface Request { id: number, cmd: string, cwd: string, env: Record<string, string>, out: string, err: string }

const send = (m: unknown): void => { process.stdout.write(JSON.stringify(m) + '\n') }

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', line => {
  let r: Request
  try { r = JSON.parse(line) as Request } catch { return }
  let out: number | undefined
  let err: number | undefined
  try {
    out = openSync(r.out, 'a')
    err = openSync(r.err, 'a')
    const child = spawn('/bin/sh', ['-c', r.cmd], { cwd: r.cwd, env: { ...process.env, ...r.env }, detached: true, stdio: ['ignore', out, err] })
    child.once('error', e => send({ id: r.id, error: e.message }))
    child.once('spawn', () => send({ id: r.id, pid: child.pid }))
    child.once('exit', (code, signal) => {
      // Whatever the job left behind in its group ends with it.
      try { process.kill(-(child.pid as number), 'SIGKILL') } catch { /* gone */ }
      send({ id: r.id, exit: true, code, signal })
    })
  } catch (e) {
    send({ id: r.id, error: (e as Error).message })
  } finally {
    if (out !== undefined) closeSync(out)
    if (err !== undefined) closeSync(err)
  }
}).on('close', () => process.exit(0))
