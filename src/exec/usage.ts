// CPU time of a job attempt (G-2), measured by the job's own shell: the user's command runs
// under `eval` in a shell whose EXIT trap writes POSIX `times` to a file when it ends. The
// kernel adds a child's CPU to its parent's only when the parent waits for it, and nothing
// outside the shell can read those totals after the shell is reaped (Node reaps at once), so
// the shell itself has to report them. Used by both ways of starting a job (process.ts and
// the fork server, spawner-main.ts), so both measure the same.
import { closeSync, constants, openSync, readSync, rmSync } from 'node:fs'
import type { AttemptUsage } from '../events/types.js'

/**
 * The script /bin/sh runs instead of the command. `eval` in the same shell keeps the command's
 * meaning: `exit N`, `return N`, syntax errors and a shell killed by a signal end the job as
 * before, and the trap only runs `times`, so the exit status stays the command's. One line, so
 * that the shell's messages name the command's own line numbers (`sh: 3: foo: not found`);
 * dash adds `eval: ` to some of them. A shell that execs a lone command (bash as /bin/sh;
 * dash 0.5.12 does not) no longer does, so a signal that kills only that command shows as
 * exit code 128+n, as it does with dash anyway.
 */
export const TIMED_SCRIPT = 'trap \'times > "$CIS_TIMES_FILE"\' EXIT; eval "$CIS_RUN"'

export interface CpuTimes { cpuUserMs: number, cpuSysMs: number }

/**
 * The arguments for /bin/sh and the environment to run `command` with its CPU times written
 * to `timesFile` (CIS_RUN and CIS_TIMES_FILE are visible to the job). A file left by an
 * earlier run of the same attempt (an agent crash) is removed first, so that it is not read
 * as this run's.
 */
export function timedShell (command: string, env: NodeJS.ProcessEnv, timesFile: string): { args: string[], env: NodeJS.ProcessEnv } {
  rmSync(timesFile, { force: true })
  return { args: ['-c', TIMED_SCRIPT], env: { ...env, CIS_RUN: command, CIS_TIMES_FILE: timesFile } }
}

/** One `times` duration: `1m2.345s` (dash prints 6 decimals, bash 3). */
const DURATION = /^(\d+)m(\d+(?:\.\d+)?)s$/

function durationMs (text: string): number | undefined {
  const m = DURATION.exec(text)
  if (m === null) return undefined
  const ms = Math.round((Number(m[1]) * 60 + Number(m[2])) * 1000)
  return Number.isSafeInteger(ms) ? ms : undefined
}

/**
 * The CPU times in POSIX `times` output: two lines of `user sys`, the shell's own and then its
 * waited-for children's, summed. Anything else (empty, cut short, garbage) is undefined.
 */
export function parseTimes (text: string): CpuTimes | undefined {
  const lines = text.trim().split('\n')
  if (lines.length !== 2) return undefined
  let cpuUserMs = 0
  let cpuSysMs = 0
  for (const line of lines) {
    const fields = line.trim().split(/\s+/)
    if (fields.length !== 2) return undefined
    const user = durationMs(fields[0])
    const sys = durationMs(fields[1])
    if (user === undefined || sys === undefined) return undefined
    cpuUserMs += user
    cpuSysMs += sys
  }
  return { cpuUserMs, cpuSysMs }
}

/** The most a times file holds (`times` writes two short lines): a larger one is not the shell's. */
const MAX_TIMES_BYTES = 4096

/**
 * The CPU times the job's shell wrote, or undefined if it wrote none (killed, `exec`, its own
 * EXIT trap) or the file is not what `times` writes (the job can write it too: read at most
 * MAX_TIMES_BYTES, and a FIFO is not waited for). Read synchronously: a small file in the page cache, three system calls;
 * `readFile` of fs/promises made each of open, stat, read and close a round trip through
 * libuv's thread pool, each waking a worker and then the event loop, for every job.
 */
export function readCpuTimes (timesFile: string): CpuTimes | undefined {
  let fd: number | undefined
  try {
    // (Non-blocking: a FIFO the job left in its place must not hold the reader.)
    fd = openSync(timesFile, constants.O_RDONLY | constants.O_NONBLOCK)
    const buf = Buffer.alloc(MAX_TIMES_BYTES + 1)
    let n = 0
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null)
      if (got === 0) break
      n += got
    }
    return n > MAX_TIMES_BYTES ? undefined : parseTimes(buf.toString('utf8', 0, n))
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) { try { closeSync(fd) } catch { /* closed */ } }
  }
}

/** The usage to report: what was measured, or undefined if nothing was. */
export function attemptUsage (cpu: CpuTimes | undefined, maxRssKb: number | undefined): AttemptUsage | undefined {
  if (cpu === undefined && maxRssKb === undefined) return undefined
  return { ...(cpu !== undefined ? { cpuUserMs: cpu.cpuUserMs, cpuSysMs: cpu.cpuSysMs } : {}), ...(maxRssKb !== undefined ? { maxRssKb } : {}) }
}
