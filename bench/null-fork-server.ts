// A fork server that starts nothing (roles-core's `executor-nofork`, issue 12): it speaks the
// fork server's protocol (src/exec/spawner-main.ts) and answers each request as if its job had
// run and ended at once (its pid and exit lines, code 0 and a usage, in the turn after the
// request's, as the real one answers a job that ends within the request's `hold`; without
// `hold` the pid line in the request's turn) — so the agent does for each job all it does with
// the real one: the request written to the pipe, both answers read, the job's end told. What is left out is the
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
  let r: { id?: unknown, hold?: unknown }
  try { r = JSON.parse(line) as { id?: unknown, hold?: unknown } } catch { return }
  if (typeof r.id !== 'number') return
  const id = r.id
  const pid = pids++
  const exit = { id, exit: true, code: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 0 } }
  // (Its start held for its end, as the real one does with `hold`: both answers in one write.)
  if (typeof r.hold === 'number' && r.hold > 0) { setImmediate(() => { send({ id, pid, since: 0, ending: true }); send(exit) }); return }
  send({ id, pid })
  setImmediate(() => send(exit))
}).on('close', () => process.exit(0))
process.stdout.on('error', () => process.exit(0))
