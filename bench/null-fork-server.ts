// A fork server that starts nothing (roles-core's `executor-nofork`, issue 12): it speaks the
// fork server's protocol (src/exec/spawner-main.ts) and answers each request as if its job had
// run and ended at once — its pid line in the turn the request came, its exit line (code 0, a
// usage) in the next — so the agent does for each job all it does with the real one: the
// request written to the pipe, both answers read, the job's end told. What is left out is the
// operating system's work for a job (fork, exec, the job itself), which on a 2-core VM took
// five to ten times the agent's CPU a job and competed with it for the cores: the executor's own
// path, measured hot, as the master's and the observer's are.
import { createInterface } from 'node:readline'

let answers: string[] = []
const send = (m: unknown): void => {
  if (answers.length === 0) setImmediate(() => { const text = answers.join(''); answers = []; process.stdout.write(text) })
  answers.push(JSON.stringify(m) + '\n')
}

let pids = 1_000_000
createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', line => {
  let r: { id?: unknown }
  try { r = JSON.parse(line) as { id?: unknown } } catch { return }
  if (typeof r.id !== 'number') return
  const id = r.id
  send({ id, pid: pids++ })
  setImmediate(() => send({ id, exit: true, code: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 0 } }))
}).on('close', () => process.exit(0))
process.stdout.on('error', () => process.exit(0))
