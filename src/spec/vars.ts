// Variables (S-7): a joblist declares them, uses them as `{{name}}` in run, env values, file
// content and replacement values, and they are filled in once, at submit (or when a schedule
// is created). Pure.
import type { JoblistSpec, SpecIssue, VarSpec } from './types.js'

/** `{{name}}` with no spaces: other template languages' `{{ x }}` and `{{.X}}` are left alone. */
const REF = /\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}/g

/** Where variables may be used, as [path, text] pairs. */
function usePlaces (spec: JoblistSpec): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(spec.replace)) out.push([`replace.${k}`, v])
  spec.stages.forEach((stage, si) => stage.jobs.forEach((job, ji) => {
    const at = `stages[${si}].jobs[${ji}]`
    out.push([`${at}.run`, job.run])
    for (const [k, v] of Object.entries(job.env)) out.push([`${at}.env.${k}`, v])
    for (const [k, v] of Object.entries(job.replace)) out.push([`${at}.replace.${k}`, v])
    job.files.forEach((f, fi) => {
      out.push([`${at}.files[${fi}].content`, f.content])
      for (const [k, v] of Object.entries(f.replace)) out.push([`${at}.files[${fi}].replace.${k}`, v])
    })
  }))
  return out
}

/** Patterns of the literal replacement maps (R6): a `{{x}}` that is one of them is theirs, not a variable. */
function replacePatterns (spec: JoblistSpec): Set<string> {
  const out = new Set(Object.keys(spec.replace))
  for (const s of spec.stages) for (const j of s.jobs) {
    for (const k of Object.keys(j.replace)) out.add(k)
    for (const f of j.files) for (const k of Object.keys(f.replace)) out.add(k)
  }
  return out
}

/** Every `{{name}}` used that is not declared: one issue each, at the first place it is used. */
export function undeclaredVars (spec: JoblistSpec): SpecIssue[] {
  if (spec.values !== undefined) return [] // already filled
  const declared = new Set((spec.vars ?? []).map(v => v.name))
  const literal = replacePatterns(spec)
  const seen = new Set<string>()
  const issues: SpecIssue[] = []
  for (const [path, text] of usePlaces(spec)) {
    for (const m of text.matchAll(REF)) {
      const name = m[1]
      if (declared.has(name) || literal.has(m[0]) || seen.has(name)) continue
      seen.add(name)
      issues.push({ path, message: `{{${name}}} is not a declared variable: declare it under vars (name: ${name})` })
    }
  }
  return issues
}

/** Cross-field rules of the declarations themselves (the shape is the schema's). */
export function varDeclarationIssues (vars: VarSpec[]): SpecIssue[] {
  const issues: SpecIssue[] = []
  const names = new Set<string>()
  vars.forEach((v, i) => {
    if (names.has(v.name)) issues.push({ path: `vars[${i}].name`, message: `duplicate variable '${v.name}'` })
    names.add(v.name)
    if (v.default !== undefined) {
      const bad = valueProblem(v, v.default)
      if (bad !== null) issues.push({ path: `vars[${i}].default`, message: bad })
    }
  })
  return issues
}

/** Why `value` is not allowed for `v`, or null. */
export function valueProblem (v: VarSpec, value: string): string | null {
  if (v.pattern !== undefined && !new RegExp(v.pattern).test(value)) return `'${value}' does not match the pattern ${v.pattern}`
  if (v.choices !== undefined && !v.choices.includes(value)) return `'${value}' is not one of ${v.choices.join(', ')}`
  return null
}

/** `map[key]` if it is the map's own (a variable may be called `constructor` or `toString`). */
const own = (map: Record<string, string>, key: string): string | undefined => Object.hasOwn(map, key) ? map[key] : undefined

/** The declared variables that have no value given and no default, and are required. */
export function missingVars (spec: JoblistSpec, given: Record<string, string>): VarSpec[] {
  return (spec.vars ?? []).filter(v => own(given, v.name) === undefined && v.default === undefined && v.required)
}

export type FillResult = { ok: true, spec: JoblistSpec } | { ok: false, issues: SpecIssue[] }

/**
 * Fill in the variables: given values, else defaults; a value that breaks its rules, an unknown
 * name or a missing required variable is refused with the variable's name. One pass: a value
 * is never scanned again. The result records the values used and has no `{{name}}` left of
 * the declared ones.
 */
export function fillVars (spec: JoblistSpec, given: Record<string, string>): FillResult {
  if (spec.values !== undefined) {
    return Object.keys(given).length === 0 ? { ok: true, spec } : { ok: false, issues: [{ path: 'vars', message: 'this joblist was filled in already' }] }
  }
  const decl = spec.vars ?? []
  const issues: SpecIssue[] = []
  const known = new Set(decl.map(v => v.name))
  for (const name of Object.keys(given)) {
    if (!known.has(name)) issues.push({ path: `vars.${name}`, message: `unknown variable '${name}'${decl.length > 0 ? ` (declared: ${decl.map(v => v.name).join(', ')})` : ' (the joblist declares none)'}` })
  }
  const used: Array<[string, string]> = []
  for (const v of decl) {
    const value = own(given, v.name) ?? v.default
    if (value === undefined) {
      if (v.required) issues.push({ path: `vars.${v.name}`, message: `variable '${v.name}' is required${v.description !== undefined ? ` (${v.description})` : ''}: give it with --var ${v.name}=VALUE` })
      else used.push([v.name, ''])
      continue
    }
    const bad = valueProblem(v, value)
    if (bad !== null) issues.push({ path: `vars.${v.name}`, message: `variable '${v.name}': ${bad}` })
    else used.push([v.name, value])
  }
  if (issues.length > 0) return { ok: false, issues }
  const values: Record<string, string> = Object.fromEntries(used)
  const sub = (text: string): string => text.replace(REF, (m, name: string) => own(values, name) ?? m)
  const subMap = (map: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(map).map(([k, v]) => [k, sub(v)]))
  const filled: JoblistSpec = {
    ...spec,
    replace: subMap(spec.replace),
    stages: spec.stages.map(s => ({
      ...s,
      jobs: s.jobs.map(j => ({
        ...j,
        run: sub(j.run),
        env: subMap(j.env),
        replace: subMap(j.replace),
        files: j.files.map(f => ({ ...f, content: sub(f.content), replace: subMap(f.replace) }))
      }))
    })),
    values
  }
  return { ok: true, spec: filled }
}

/** `k=v` strings (as `--var` gives them) to a map; the first `=` splits. */
export function parseVarAssignments (pairs: string[]): { ok: true, values: Record<string, string> } | { ok: false, message: string } {
  const values: Record<string, string> = {}
  for (const p of pairs) {
    const i = p.indexOf('=')
    if (i <= 0) return { ok: false, message: `--var ${p}: use NAME=VALUE` }
    values[p.slice(0, i)] = p.slice(i + 1)
  }
  return { ok: true, values }
}
