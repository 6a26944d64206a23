// An attempt's work directory (jobs/JOBLIST/JOB/ATTEMPT under the data directory; files.ts
// attemptPaths puts the attempt's output beside it): made by the fork server just before it starts the job (spawner-main.ts), or
// by the agent when it writes the job's files into it first or runs jobs without a fork server
// (executor.ts). Synchronous: a few syscalls, where the asynchronous form takes a thread-pool
// round trip for each directory. Each level with one mkdir, not mkdirSync's recursive form,
// which took three times as long for the same three directories (0.49-0.69 vs 0.16-0.26 ms an
// attempt, 3,000 in a loop on a 2-core VM). One a crash left is renamed aside and removed in
// the background, so a large left tree holds up neither the agent nor the fork server's other
// starts. No dependencies beyond node:fs and node:path: the fork server loads it.
import { mkdirSync, renameSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join, sep } from 'node:path'

/** `jobs` under the last data directory asked for, normalized once (attemptDirLevels). */
let jobsRoot: { dataDir: string, root: string } | undefined

/**
 * The directories of an attempt's work directory to make, outermost first (the last is the work
 * directory). Appended to the normalized `jobs` directory, not joined: a joblist's ID is letters,
 * digits, `_` and `-`, a job's that with `.<n>` (events/check.ts), so there is nothing to
 * normalize, and `join`'s normalizing of each path was 4 KB of an executor's allocations a job.
 */
export function attemptDirLevels (dataDir: string, joblistId: string, jobId: string, attempt: number): string[] {
  if (jobsRoot?.dataDir !== dataDir) jobsRoot = { dataDir, root: join(dataDir, 'jobs') }
  const joblist = `${jobsRoot.root}${sep}${joblistId}`
  const job = `${joblist}${sep}${jobId}`
  return [joblist, job, `${job}${sep}${attempt}`]
}

/** mkdir(2) of one directory: true if made, false if it was there; other errors (a parent missing: ENOENT) thrown. */
function makeDir (path: string): boolean {
  try {
    mkdirSync(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

/**
 * Make each directory of `levels` (outermost first) that is not there: true if the last one
 * was made, false if it was there already (an attempt a crash left). A missing parent of the
 * first (the first job of a data directory) is made too.
 */
export function makeDirs (levels: readonly string[]): boolean {
  const last = levels[levels.length - 1]
  try {
    for (let i = 0; i < levels.length - 1; i++) makeDir(levels[i])
    return makeDir(last)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return mkdirSync(last, { recursive: true }) !== undefined
  }
}

/**
 * Make the work directory `levels` ends with, empty: one a crash left is renamed aside (beside
 * it, `ATTEMPT.left-PID-TIME`), made again, and the old one removed in the background (its
 * removal's failure only leaves it for the joblist's purge). Returns the aside path, if any.
 */
export function freshDir (levels: readonly string[]): string | undefined {
  if (makeDirs(levels)) return undefined
  const last = levels[levels.length - 1]
  const aside = `${last}.left-${process.pid}-${Date.now()}`
  renameSync(last, aside)
  mkdirSync(last)
  rm(aside, { recursive: true, force: true }).catch(() => { /* left for the purge */ })
  return aside
}
