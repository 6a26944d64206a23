// Write a job's rendered files inside its work directory, and nowhere else.
import { mkdir, open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { attemptDirLevels, makeDirs } from './attempt-dir.js'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { checkJobFilePath } from '../spec/paths.js'

export class UnsafePathError extends Error {
  override name = 'UnsafePathError'
  readonly code = 'ERR_UNSAFE_PATH'
}

export async function writeJobFiles (workdir: string, files: Array<{ path: string, content: string, mode: number }>): Promise<void> {
  const root = resolve(workdir)
  for (const f of files) {
    const problem = checkJobFilePath(f.path)
    if (problem !== null) throw new UnsafePathError(`file '${f.path}': ${problem}`)
    const target = resolve(root, f.path)
    const rel = relative(root, target)
    if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) throw new UnsafePathError(`file '${f.path}' would be written outside the work directory`)
    await mkdir(dirname(target), { recursive: true })
    // O_NOFOLLOW + O_EXCL: never follow a link, never overwrite what is there.
    const fh = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, f.mode)
    try { await fh.writeFile(f.content) } finally { await fh.close() }
  }
}

/** An attempt's files: its work directory, its output, and where its shell writes its CPU times (G-2). */
export function attemptPaths (dataDir: string, joblistId: string, jobId: string, attempt: number): { workdir: string, stdout: string, stderr: string, times: string } {
  const base = join(dataDir, 'jobs', joblistId, jobId)
  return { workdir: join(base, String(attempt)), stdout: join(base, `${attempt}.stdout`), stderr: join(base, `${attempt}.stderr`), times: join(base, `${attempt}.times`) }
}

/**
 * Make an attempt's work directory where attemptPaths puts it (attempt-dir.ts): true if it was
 * made, false if it was there already (an attempt a crash left: the caller clears it).
 */
export function makeAttemptDir (dataDir: string, joblistId: string, jobId: string, attempt: number): boolean {
  return makeDirs(attemptDirLevels(dataDir, joblistId, jobId, attempt))
}
