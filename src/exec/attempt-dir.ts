// An attempt's work directory (jobs/JOBLIST/JOB/ATTEMPT under the data directory, files.ts
// attemptPaths): made by the fork server just before it starts the job (spawner-main.ts), or
// by the agent when it writes the job's files into it first or runs jobs without a fork server
// (executor.ts). Synchronous: a few syscalls, where the asynchronous form takes a thread-pool
// round trip for each directory. Each level with one mkdir, not mkdirSync's recursive form,
// which took three times as long for the same three directories (0.49-0.69 vs 0.16-0.26 ms an
// attempt, 3,000 in a loop on a 2-core VM). No dependencies beyond node:fs and node:path: the
// fork server loads it.
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'

/** The directories of an attempt's work directory to make, outermost first (the last is the work directory). */
export function attemptDirLevels (dataDir: string, joblistId: string, jobId: string, attempt: number): string[] {
  const joblist = join(dataDir, 'jobs', joblistId)
  const job = join(joblist, jobId)
  return [joblist, job, join(job, String(attempt))]
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

/** Make the work directory `levels` ends with, empty: one a crash left is removed and made again. */
export function freshDir (levels: readonly string[]): void {
  if (makeDirs(levels)) return
  const last = levels[levels.length - 1]
  rmSync(last, { recursive: true, force: true })
  mkdirSync(last)
}
