// The fork server: a small process that starts the agent's jobs, so that forking happens in
// a process of a few tens of MB (fast) and off the agent's main thread. It reads one JSON
// request per line on stdin and answers on stdout: {id, pid, since?, ending?}, {id, error} and,
// when the job ends, {id, exit: true, code, signal, usage?}. With `hold` (ms) in the request the
// pid answer waits that long for the job's end (the agent's START_HOLD_MS, node/start-hold.ts):
// a job that ends within it has its pid and exit answers in one write, `ending: true` (one
// wake-up of the agent, not two); one still running then has its pid answered alone. `since`:
// ms from the job's start to that answer. It ends when its stdin closes (the agent is
// gone), and ends the jobs it started with it: a dead agent's work does not run on unseen.
// With `usage` (a file) in the request it measures the job as startProcess does (G-2): the
// memory samples are taken here, off the agent's main thread. With `mkdirs` it makes the job's
// work directory first (attempt-dir.ts: each level, the last one empty): mkdir on a busy disk
// took ~0.3 ms a directory, three an attempt, which blocked the agent's event loop.
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { watchPeakRss } from './group-memory.js'
import { attemptUsage, readCpuTimes, timedShell } from './usage.js'
import { freshDir } from './attempt-dir.js'

/** The longest a pid answer is held for its job's end, whatever a request asks. */
const MAX_HOLD_MS = 10_000

interface Request { id: number, cmd: string, cwd: string, env: Record<string, string>, out: string, err: string, usage?: string, mkdirs?: string[], hold?: number }

/**
 * This process's environment (the agent's, as it was at the start), copied once: each read of
 * `process.env` asks the C++ side for every variable, and a job's environment is laid over it.
 */
const baseEnv: NodeJS.ProcessEnv = { ...process.env }

/** Process groups of the jobs running now. */
const groups = new Set<number>()

/**
 * Answers of a turn go in one write: each write wakes the agent's event loop, and a wake-up
 * costs the agent more than the answer itself (roles-core's executor).
 */
let answers: string[] = []
const send = (m: unknown): void => {
  if (answers.length === 0) setImmediate(() => { const text = answers.join(''); answers = []; process.stdout.write(text) })
  answers.push(JSON.stringify(m) + '\n')
}

/**
 * The agent is gone (its pipe closed, or an answer could not be written to it: EPIPE when it
 * died with answers unread): its jobs cannot be followed or reported, and it will count them
 * lost, so they end with it rather than run on unseen (and run again elsewhere).
 */
function endAll (): never {
  process.exit(0) // (its jobs end in the exit hook below)
}
process.stdout.on('error', endAll)
// Whatever ends this process, its jobs end with it.
process.on('exit', () => { for (const pid of groups) { try { process.kill(-pid, 'SIGKILL') } catch { /* gone */ } } })

createInterface({ input: process.stdin, crlfDelay: Infinity }).on('line', line => {
  let r: Request
  try { r = JSON.parse(line) as Request } catch { return }
  let out: number | undefined
  let err: number | undefined
  try {
    if (Array.isArray(r.mkdirs) && r.mkdirs.length > 0) freshDir(r.mkdirs)
    out = openSync(r.out, 'a')
    err = openSync(r.err, 'a')
    const env = { ...baseEnv, ...r.env }
    const usageFile = r.usage
    const sh = usageFile !== undefined ? timedShell(r.cmd, env, usageFile) : { args: ['-c', r.cmd], env }
    const child = spawn('/bin/sh', sh.args, { cwd: r.cwd, env: sh.env, detached: true, stdio: ['ignore', out, err] })
    let peakRss: (() => number | undefined) | undefined
    const hold = typeof r.hold === 'number' && r.hold > 0 ? Math.min(r.hold, MAX_HOLD_MS) : 0
    let startedAt = 0
    /** The pid answer while it is held for the job's end (`hold`). */
    let held: NodeJS.Timeout | undefined
    const answerPid = (ending: boolean): void => {
      held = undefined
      send({ id: r.id, pid: child.pid, ...(hold > 0 ? { since: Math.round(performance.now() - startedAt) } : {}), ...(ending ? { ending } : {}) })
    }
    child.once('error', e => send({ id: r.id, error: e.message }))
    child.once('spawn', () => {
      if (child.pid !== undefined) groups.add(child.pid)
      if (usageFile !== undefined && child.pid !== undefined) peakRss = watchPeakRss(child.pid)
      startedAt = performance.now() // (a monotonic clock: `since` is a duration)
      if (hold > 0) held = setTimeout(() => answerPid(false), hold)
      else answerPid(false)
    })
    child.once('exit', (code, signal) => {
      const maxRssKb = peakRss?.()
      // Whatever the job left behind in its group ends with it.
      try { process.kill(-(child.pid as number), 'SIGKILL') } catch { /* gone */ }
      groups.delete(child.pid as number)
      // Ended within the hold: the pid answer goes with the exit's, in its write.
      const ending = held !== undefined
      if (ending) clearTimeout(held)
      if (usageFile === undefined) { if (ending) answerPid(true); send({ id: r.id, exit: true, code, signal }); return }
      const usage = attemptUsage(readCpuTimes(usageFile), maxRssKb)
      if (ending) answerPid(true)
      send({ id: r.id, exit: true, code, signal, ...(usage !== undefined ? { usage } : {}) })
    })
  } catch (e) {
    send({ id: r.id, error: (e as Error).message })
  } finally {
    if (out !== undefined) closeSync(out)
    if (err !== undefined) closeSync(err)
  }
}).on('close', endAll).on('error', endAll)
