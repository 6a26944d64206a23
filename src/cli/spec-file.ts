// Read and check a joblist file for submit, plan and validate: exit 2 naming every problem.
// Loads the spec modules (zod, yaml): import it only from the commands that read a file.
import { SpecError, formatIssues } from '../spec/errors.js'
import { loadJoblistFile } from '../spec/load.js'
import type { JoblistSpec } from '../spec/types.js'
import { CliExit, printJson } from './context.js'
import type { Ctx } from './context.js'

export async function loadOrExit (ctx: Ctx, file: string): Promise<JoblistSpec> {
  try {
    return await loadJoblistFile(file)
  } catch (err) {
    if (!(err instanceof SpecError)) throw err
    if (ctx.json) printJson({ error: `invalid joblist ${file}`, code: err.code, details: err.issues })
    else {
      ctx.err(`cis: ${file}: invalid joblist`)
      for (const line of formatIssues(err.issues).split('\n')) ctx.err(`  ${line}`)
    }
    throw new CliExit(2)
  }
}
