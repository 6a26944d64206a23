// The one I/O door of spec/: read a joblist file and the `source` files it names.
import { readFile, stat } from 'node:fs/promises'
import { dirname, extname, resolve } from 'node:path'
import { SpecError } from './errors.js'
import { MAX_FILE_BYTES, kib } from './limits.js'
import { parseJoblistText } from './parse.js'
import type { JoblistSpec, SpecIssue } from './types.js'
import { validateJoblist, validateJoblistInput } from './validate.js'
import type { JoblistInput } from './validate.js'

export async function loadJoblistFile (file: string): Promise<JoblistSpec> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new SpecError([{ path: '', message: code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${code ?? (err as Error).message}` }], file)
  }
  const parsed = parseJoblistText(text, extname(file).toLowerCase() === '.json' ? 'json' : 'yaml')
  if (!parsed.ok) throw new SpecError(parsed.issues, file)
  const input = validateJoblistInput(parsed.value)
  if (!input.ok) throw new SpecError(input.issues, file)
  const resolved = await resolveSources(input.spec, dirname(resolve(file)))
  const result = validateJoblist(resolved)
  if (!result.ok) throw new SpecError(result.issues, file)
  return result.spec
}

/** Replace every `source` by the content of that file (relative to `baseDir`). */
export async function resolveSources (input: JoblistInput, baseDir: string): Promise<unknown> {
  const issues: SpecIssue[] = []
  const out = structuredClone(input) as JoblistInput
  for (const [si, stage] of out.stages.entries()) {
    for (const [ji, job] of stage.jobs.entries()) {
      for (const [fi, f] of job.files.entries()) {
        if (f.source === undefined) continue
        const at = `stages[${si}].jobs[${ji}].files[${fi}].source`
        const path = resolve(baseDir, f.source)
        try {
          const size = (await stat(path)).size
          if (size > MAX_FILE_BYTES) { issues.push({ path: at, message: `${f.source} is ${kib(size)}; at most ${kib(MAX_FILE_BYTES)}` }); continue }
          f.content = await readFile(path, 'utf8')
          delete f.source
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code
          issues.push({ path: at, message: `cannot read ${f.source}: ${code === 'ENOENT' ? 'no such file' : code ?? (err as Error).message}` })
        }
      }
    }
  }
  if (issues.length > 0) throw new SpecError(issues)
  // Back to the wire form: a resolved job carries timeoutMs and lostAfterMs, not timeout and lostAfter.
  for (const stage of out.stages) {
    for (const job of stage.jobs as Array<Record<string, unknown>>) {
      if (job.timeout !== undefined) { job.timeoutMs = job.timeout; delete job.timeout }
      if (job.lostAfter !== undefined) { job.lostAfterMs = job.lostAfter; delete job.lostAfter }
    }
  }
  return out
}
