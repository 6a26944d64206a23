// The values of a joblist's variables for `cis submit` (S-7): `--var NAME=VALUE`, then, on a
// terminal, one prompt for each required variable still without a value; checked here as the
// node will check them, so a bad value is exit 2 before anything is sent.
// Loads spec/vars.js (pure, no zod or yaml of its own): import it from submit only.
import { createInterface } from 'node:readline/promises'
import { fillVars, missingVars, parseVarAssignments, valueProblem } from '../spec/vars.js'
import type { JoblistSpec, SpecIssue, VarSpec } from '../spec/types.js'
import { CliExit, printJson } from './context.js'
import type { Ctx } from './context.js'

/** How many answers a prompt takes before it gives up. */
export const MAX_TRIES = 3

export interface PromptIo { input: NodeJS.ReadableStream, output: NodeJS.WritableStream }

/** A person is there to ask: stdin and stderr (where the prompt goes) are terminals. */
export const canPrompt = (): boolean => process.stdin.isTTY === true && process.stderr.isTTY === true

const withVar = (v: VarSpec): string => `give it with --var ${v.name}=VALUE`

/** The one prompt of a variable: `version (Release to build; one of 1.0, 1.1) [1.1]: `. */
export function promptText (v: VarSpec): string {
  const about = [
    v.description,
    v.choices !== undefined ? `one of ${v.choices.join(', ')}` : undefined,
    v.pattern !== undefined ? `matching ${v.pattern}` : undefined
  ].filter((x): x is string => x !== undefined && x !== '')
  return `${v.name}${about.length > 0 ? ` (${about.join('; ')})` : ''}${v.default !== undefined ? ` [${v.default}]` : ''}: `
}

/**
 * Ask for each variable in turn; a bad answer says why and asks again, at most MAX_TRIES
 * times. An empty answer takes the default if there is one. Exit 2 when the answers run out
 * (end of input) or stay bad; exit 130 on Ctrl-C.
 */
export async function askVars (vars: VarSpec[], io: PromptIo): Promise<Record<string, string>> {
  const rl = createInterface({ input: io.input, output: io.output })
  let cancelled = false
  rl.on('SIGINT', () => { cancelled = true; rl.close() })
  // The iterator keeps lines that arrive before they are asked for (piped input).
  const lines = rl[Symbol.asyncIterator]()
  const out: Record<string, string> = {}
  try {
    for (const v of vars) {
      for (let tries = 1; ; tries++) {
        rl.setPrompt(promptText(v))
        rl.prompt()
        const answer = await lines.next()
        if (answer.done === true) {
          io.output.write('\n')
          if (cancelled) throw new CliExit(130, 'cancelled')
          throw new CliExit(2, `no value for variable '${v.name}': ${withVar(v)}`)
        }
        const value = answer.value === '' && v.default !== undefined ? v.default : answer.value
        const problem = value === '' && v.required ? 'a value is required' : valueProblem(v, value)
        if (problem === null) { out[v.name] = value; break }
        if (tries >= MAX_TRIES) throw new CliExit(2, `variable '${v.name}': ${problem}; gave up after ${MAX_TRIES} tries: ${withVar(v)}`)
        io.output.write(`  ${problem}; try again\n`)
      }
    }
  } finally { rl.close() }
  return out
}

function refuse (ctx: Ctx, file: string, issues: SpecIssue[]): never {
  if (ctx.json) printJson({ error: `variables of ${file}: ${issues.map(i => i.message).join('; ')}`, code: 'ERR_SPEC_INVALID', details: issues })
  else for (const i of issues) ctx.err(`cis: ${i.message}`)
  throw new CliExit(2)
}

/**
 * The values to send with `spec`: the `--var` pairs, plus answers to prompts on a terminal.
 * Without a terminal a missing required variable is exit 2 naming it; so is a value the
 * variable does not allow, or a name the joblist does not declare.
 */
export async function varValues (ctx: Ctx, file: string, spec: JoblistSpec, pairs: string[]): Promise<Record<string, string>> {
  const parsed = parseVarAssignments(pairs)
  if (!parsed.ok) refuse(ctx, file, [{ path: 'vars', message: parsed.message }])
  const given = parsed.values
  const missing = missingVars(spec, given)
  if (missing.length > 0) {
    if (!canPrompt()) {
      refuse(ctx, file, missing.map(v => ({ path: `vars.${v.name}`, message: `missing variable '${v.name}'${v.description !== undefined ? ` (${v.description})` : ''}: ${withVar(v)}` })))
    }
    Object.assign(given, await askVars(missing, { input: process.stdin, output: process.stderr }))
  }
  const filled = fillVars(spec, given)
  if (!filled.ok) refuse(ctx, file, filled.issues)
  return given
}
