// Run one command in its own process group; end the whole group on timeout or stop
// (TERM, then KILL after a grace period). With a usage file, measure what it used (G-2).
import { spawn } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import type { AttemptUsage } from '../events/types.js'
import { watchPeakRss } from './group-memory.js'
import { attemptUsage, readCpuTimes, timedShell } from './usage.js'

export interface ProcessResult {
  exitCode: number | null
  signal: string | null
  /** Why we ended it, if we did. */
  endedBy?: 'timeout' | 'stop'
  /** A spawn error (e.g. the work directory vanished). */
  error?: string
  /** The job could not be followed to its end (its fork server died): it counts as lost. */
  lost?: string
  /** What it used (G-2), if usageFile was given and anything could be measured. */
  usage?: AttemptUsage
}

export interface RunningProcess {
  pid: number
  done: Promise<ProcessResult>
  stop: () => void
}

export interface ProcessOptions {
  command: string
  cwd: string
  env: NodeJS.ProcessEnv
  stdoutFile: string
  stderrFile: string
  timeoutMs?: number
  graceMs: number
  /** Measure CPU and peak memory (G-2); the job's shell writes its CPU times to this file. */
  usageFile?: string
  /**
   * The fork server makes `cwd` (an attempt's work directory: these directories, outermost
   * first, attempt-dir.ts) just before it starts the job, empty. Without it `cwd` must exist.
   */
  makeCwd?: string[]
  /**
   * Through a fork server: it holds the job's pid answer this long (ms) for the job's end, so a
   * short job's start and end reach the agent in one write (spawner-main.ts; StartHeld).
   */
  holdStartMs?: number
}

/**
 * A start the fork server held (ProcessOptions.holdStartMs): it answered `sinceMs` after the
 * job started; `ending`: the job ended within the hold, its end is told in the same turn.
 */
export interface StartHeld { sinceMs: number, ending: boolean }

export function killGroup (pid: number, signal: NodeJS.Signals): void {
  try { process.kill(-pid, signal) } catch { /* already gone */ }
}

/** End a process group: TERM now, KILL after `graceMs` (the returned timer; clear it when the group exits). */
export function terminateGroup (pid: number, graceMs: number): NodeJS.Timeout {
  killGroup(pid, 'SIGTERM')
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs)
  timer.unref()
  return timer
}

export function startProcess (o: ProcessOptions): RunningProcess {
  const out = openSync(o.stdoutFile, 'a')
  const err = openSync(o.stderrFile, 'a')
  let child
  try {
    const sh = o.usageFile !== undefined ? timedShell(o.command, o.env, o.usageFile) : { args: ['-c', o.command], env: o.env }
    child = spawn('/bin/sh', sh.args, { cwd: o.cwd, env: sh.env, detached: true, stdio: ['ignore', out, err] })
  } finally {
    closeSync(out)
    closeSync(err)
  }
  const pid = child.pid ?? -1
  const peakRss = o.usageFile !== undefined ? watchPeakRss(pid) : undefined
  let endedBy: ProcessResult['endedBy']
  let graceTimer: NodeJS.Timeout | undefined
  const end = (why: 'timeout' | 'stop'): void => {
    if (endedBy !== undefined || pid < 0) return
    endedBy = why
    graceTimer = terminateGroup(pid, o.graceMs)
  }
  const timer = o.timeoutMs !== undefined ? setTimeout(() => end('timeout'), o.timeoutMs) : undefined
  const done = new Promise<ProcessResult>(resolve => {
    child.once('error', e => {
      if (timer !== undefined) clearTimeout(timer)
      peakRss?.()
      resolve({ exitCode: null, signal: null, error: e.message })
    })
    child.once('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      if (graceTimer !== undefined) clearTimeout(graceTimer)
      const maxRssKb = peakRss?.()
      // Whatever the job left behind in its group ends with it.
      if (pid > 0) killGroup(pid, 'SIGKILL')
      const result: ProcessResult = { exitCode: code, signal, ...(endedBy !== undefined ? { endedBy } : {}) }
      if (o.usageFile === undefined) { resolve(result); return }
      const usage = attemptUsage(readCpuTimes(o.usageFile), maxRssKb)
      resolve(usage !== undefined ? { ...result, usage } : result)
    })
  })
  return { pid, done, stop: () => end('stop') }
}
