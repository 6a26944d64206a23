// Validation of joblists: the zod schema for the shape, then the rules across fields
// (unique names, content or source, limits), every problem reported with its path.
import type { JoblistSpec, NotifySpec, SpecIssue, SpecResult } from './types.js'
import { allowedKeys, joblistSchema } from './schema.js'
import type { JoblistInputRaw } from './schema.js'
import { undeclaredVars, varDeclarationIssues } from './vars.js'
import { normalShape } from './normal-shape.js'
import { MAX_FILE_BYTES, MAX_JOBS, MAX_TOTAL_FILE_BYTES, kib } from './limits.js'

export type JoblistInput = JoblistInputRaw

export function formatPath (path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`
    else out += out === '' ? String(p) : `.${String(p)}`
  }
  return out
}

function editDistance (a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
  }
  return d[a.length][b.length]
}

function suggest (key: string, allowed: string[]): string {
  let best: string | undefined
  let bestD = 3
  for (const k of allowed) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase())
    if (dist < bestD) { best = k; bestD = dist }
  }
  return best !== undefined ? ` (did you mean '${best}'?)` : ` (allowed: ${allowed.join(', ')})`
}

function shapeIssues (input: unknown): { ok: true, value: JoblistInputRaw } | { ok: false, issues: SpecIssue[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ path: '', message: 'a joblist must be a mapping with name and stages' }] }
  }
  const r = joblistSchema.safeParse(input, { reportInput: true })
  if (r.success) return { ok: true, value: r.data }
  const issues: SpecIssue[] = []
  for (const i of r.error.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys) issues.push({ path: formatPath([...i.path, k]), message: `unknown field '${k}'${suggest(k, allowedKeys(i.path))}` })
    } else if (i.code === 'invalid_key') {
      // A bad key of a map (needs, env, replace): the key's own check says why.
      const inner = (i as { issues?: Array<{ message: string }> }).issues?.[0]?.message
      issues.push({ path: formatPath(i.path), message: inner ?? i.message })
    } else if (i.code === 'invalid_type' && (i as { input?: unknown }).input === undefined) {
      issues.push({ path: formatPath(i.path), message: 'required' })
    } else {
      issues.push({ path: formatPath(i.path), message: i.message })
    }
  }
  return { ok: false, issues }
}

function crossIssues (v: JoblistInputRaw, allowSource: boolean): SpecIssue[] {
  const issues: SpecIssue[] = []
  const stageNames = new Set<string>()
  const jobNames = new Set<string>()
  let jobs = 0
  let totalBytes = 0
  v.stages.forEach((stage, si) => {
    if (stageNames.has(stage.name)) issues.push({ path: `stages[${si}].name`, message: `duplicate stage name '${stage.name}'` })
    stageNames.add(stage.name)
    stage.jobs.forEach((job, ji) => {
      jobs++
      const at = `stages[${si}].jobs[${ji}]`
      if (job.timeout !== undefined && job.timeoutMs !== undefined) issues.push({ path: `${at}.timeoutMs`, message: 'give timeout or timeoutMs, not both' })
      if (job.lostAfter !== undefined && job.lostAfterMs !== undefined) issues.push({ path: `${at}.lostAfterMs`, message: 'give lostAfter or lostAfterMs, not both' })
      if (jobNames.has(job.name)) issues.push({ path: `${at}.name`, message: `duplicate job name '${job.name}': job names are unique in a joblist` })
      jobNames.add(job.name)
      const paths = new Set<string>()
      job.files.forEach((f, fi) => {
        const fat = `${at}.files[${fi}]`
        if (paths.has(f.path)) issues.push({ path: `${fat}.path`, message: `duplicate file path '${f.path}'` })
        paths.add(f.path)
        if (f.source !== undefined && !allowSource) {
          issues.push({ path: `${fat}.source`, message: 'source must be resolved by the client (the cis CLI reads it); send content instead' })
        } else if ((f.content === undefined) === (f.source === undefined)) {
          issues.push({ path: fat, message: 'give exactly one of content or source' })
        }
        if (f.content !== undefined) {
          const bytes = Buffer.byteLength(f.content)
          totalBytes += bytes
          if (bytes > MAX_FILE_BYTES) issues.push({ path: `${fat}.content`, message: `file content is ${kib(bytes)}; at most ${kib(MAX_FILE_BYTES)}` })
        }
      })
    })
  })
  if (jobs > MAX_JOBS) issues.push({ path: 'stages', message: `${jobs} jobs; at most ${MAX_JOBS} jobs per joblist` })
  if (v.vars !== undefined) {
    issues.push(...varDeclarationIssues(v.vars.map(d => ({ ...d, required: d.required ?? d.default === undefined }))))
  }
  if (totalBytes > MAX_TOTAL_FILE_BYTES) issues.push({ path: 'stages', message: `files add up to ${kib(totalBytes)}; at most ${kib(MAX_TOTAL_FILE_BYTES)} per joblist` })
  return issues
}

/** Validate a joblist as a file gives it: `source` allowed (the CLI reads it next). */
export function validateJoblistInput (input: unknown): { ok: true, spec: JoblistInput } | { ok: false, issues: SpecIssue[] } {
  const shape = shapeIssues(input)
  if (!shape.ok) return shape
  const issues = crossIssues(shape.value, true)
  return issues.length > 0 ? { ok: false, issues } : { ok: true, spec: shape.value }
}

/** A subscription as events carry it (fields in one order). */
export const normalNotify = (n: NotifySpec): NotifySpec => 'email' in n ? { email: n.email, digest: n.digest, on: n.on } : { webhook: n.webhook, on: n.on }

/** Validate a resolved joblist (every file has content): what the API and events accept. */
export function validateJoblist (input: unknown): SpecResult {
  // (A joblist in the form events carry it needs no schema to say so: normal-shape.ts.)
  const normal = normalShape(input)
  const shape = normal !== undefined ? { ok: true as const, value: normal } : shapeIssues(input)
  if (!shape.ok) return shape
  const issues = crossIssues(shape.value, false)
  if (issues.length > 0) return { ok: false, issues }
  const v = shape.value
  const spec: JoblistSpec = {
    name: v.name,
    priority: v.priority,
    tags: v.tags,
    replace: v.replace,
    stages: v.stages.map(s => ({
      name: s.name,
      jobs: s.jobs.map(j => ({
        name: j.name,
        run: j.run,
        needs: j.needs,
        env: j.env,
        ...(j.timeout !== undefined || j.timeoutMs !== undefined ? { timeoutMs: j.timeout ?? j.timeoutMs } : {}),
        ...(j.lostAfter !== undefined || j.lostAfterMs !== undefined ? { lostAfterMs: j.lostAfter ?? j.lostAfterMs } : {}),
        ...(j.retryLost === false ? { retryLost: false } : {}),
        retries: j.retries,
        replace: j.replace,
        files: j.files.map(f => ({ path: f.path, content: f.content ?? '', replace: f.replace, ...(f.mode !== undefined ? { mode: f.mode } : {}) })),
        ...(j.target !== undefined ? { target: j.target } : {}),
        ...(j.notify !== undefined && j.notify.length > 0 ? { notify: j.notify.map(normalNotify) } : {})
      }))
    })),
    ...(v.schedule !== undefined ? { schedule: v.schedule } : {}),
    ...(v.notify !== undefined && v.notify.length > 0 ? { notify: v.notify.map(normalNotify) } : {}),
    ...(v.vars !== undefined
      ? {
          vars: v.vars.map(d => ({
            name: d.name,
            ...(d.description !== undefined ? { description: d.description } : {}),
            ...(d.default !== undefined ? { default: d.default } : {}),
            required: d.required ?? d.default === undefined,
            ...(d.pattern !== undefined ? { pattern: d.pattern } : {}),
            ...(d.choices !== undefined ? { choices: d.choices } : {})
          }))
        }
      : {}),
    ...(v.values !== undefined ? { values: v.values } : {})
  }
  const refs = undeclaredVars(spec)
  if (refs.length > 0) return { ok: false, issues: refs }
  return { ok: true, spec }
}
