// Write a job's rendered files inside its work directory, and nowhere else.
import { mkdir, open } from 'node:fs/promises'
import { constants } from 'node:fs'
import { attemptDirLevels } from './attempt-dir.js'
import { dirname, relative, resolve, sep } from 'node:path'
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

/**
 * An attempt's files: its work directory (the last of `levels`, the directories to make for it:
 * attempt-dir.ts), its output beside it in the job's directory, and where its shell writes its
 * CPU times (G-2).
 */
export function attemptPaths (dataDir: string, joblistId: string, jobId: string, attempt: number): { levels: string[], workdir: string, stdout: string, stderr: string, times: string } {
  const levels = attemptDirLevels(dataDir, joblistId, jobId, attempt)
  const base = levels[levels.length - 2]
  // (Appended, not joined: attemptDirLevels says why.)
  return { levels, workdir: levels[levels.length - 1], stdout: `${base}${sep}${attempt}.stdout`, stderr: `${base}${sep}${attempt}.stderr`, times: `${base}${sep}${attempt}.times` }
}
