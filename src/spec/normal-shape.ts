// A joblist already in the form events carry it (validate.ts built it: every default filled in,
// durations in ms, values as strings), recognised without zod: every node checks the spec of
// every submit it receives (events/check.ts), and zod's parse of a one-job joblist cost ~13 µs
// and ~13 KB of garbage a submit (issue 12, the ingest's profile). This is a fast way to say
// yes, never a way to say no: whatever it does not recognise in full (a field it does not know,
// a value of another form, a schedule, variables, notify) goes to the schema, which says why.
// So it must accept only what joblistSchema accepts and leaves as it is (test/core/normal-shape).
import type { JoblistInputRaw } from './schema.js'
import { ENV_RE, NAME_RE, TYPE_RE } from './schema.js'
import { checkJobFilePath } from './paths.js'
import { MAX_COUNT_PER_TYPE, MAX_DURATION_MS, MAX_FILES_PER_JOB, MAX_NAME_LENGTH, MAX_RETRIES, MAX_RUN_LENGTH, MAX_STAGES } from './limits.js'

type Obj = Record<string, unknown>

/** A plain object, as JSON makes them (not an array, no other prototype). */
const isPlain = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype

/** A plain object whose keys are all in `allowed` and include `required`. */
function shaped (x: unknown, allowed: ReadonlySet<string>, required: readonly string[]): x is Obj {
  if (!isPlain(x)) return false
  for (const k in x) if (!allowed.has(k)) return false
  for (const k of required) if (!Object.hasOwn(x, k)) return false
  return true
}

/** A plain object whose keys pass `key` and values `value` (no `__proto__`: zod's copy would differ). */
function plainMap (x: unknown, key: (k: string) => boolean, value: (v: unknown) => boolean): boolean {
  if (!isPlain(x)) return false
  for (const k of Object.keys(x)) if (k === '__proto__' || !key(k) || !value(x[k])) return false
  return true
}

const isString = (v: unknown): boolean => typeof v === 'string'
/** A map of strings (what the schema's scalars become) whose keys pass `key`. */
const stringMap = (x: unknown, key: (k: string) => boolean): boolean => plainMap(x, key, isString)

const isName = (v: unknown): boolean => typeof v === 'string' && v.length >= 1 && v.length <= MAX_NAME_LENGTH && NAME_RE.test(v)
const isInt = (v: unknown, min: number, max: number): boolean => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max
const isMs = (v: unknown): boolean => v === undefined || isInt(v, 1, MAX_DURATION_MS)
const anyKey = (k: string): boolean => k.length >= 1

const JOBLIST = new Set(['name', 'priority', 'tags', 'replace', 'stages', 'values'])
const JOBLIST_REQUIRED = ['name', 'priority', 'tags', 'replace', 'stages']
const STAGE = new Set(['name', 'jobs'])
const JOB = new Set(['name', 'run', 'needs', 'env', 'timeoutMs', 'lostAfterMs', 'retryLost', 'retries', 'replace', 'files', 'target'])
const JOB_REQUIRED = ['name', 'run', 'needs', 'env', 'retries', 'replace', 'files']
const FILE = new Set(['path', 'content', 'replace', 'mode'])
const FILE_REQUIRED = ['path', 'content', 'replace']

function isTarget (t: unknown): boolean {
  if (!isPlain(t)) return false
  const keys = Object.keys(t)
  if (keys.length !== 1) return false
  const v = t[keys[0]]
  return keys[0] === 'all' ? v === true : (keys[0] === 'node' || keys[0] === 'profile') && isName(v)
}

function isFile (f: unknown): boolean {
  return shaped(f, FILE, FILE_REQUIRED) && typeof f.path === 'string' && checkJobFilePath(f.path) === null &&
    typeof f.content === 'string' && stringMap(f.replace, anyKey) && (f.mode === undefined || isInt(f.mode, 0, 0o7777))
}

function isJob (j: unknown): boolean {
  return shaped(j, JOB, JOB_REQUIRED) && isName(j.name) &&
    typeof j.run === 'string' && j.run.length >= 1 && j.run.length <= MAX_RUN_LENGTH &&
    plainMap(j.needs, k => TYPE_RE.test(k), n => isInt(n, 0, MAX_COUNT_PER_TYPE)) &&
    stringMap(j.env, k => ENV_RE.test(k) && !k.startsWith('CIS_')) &&
    isMs(j.timeoutMs) && isMs(j.lostAfterMs) && (j.retryLost === undefined || typeof j.retryLost === 'boolean') &&
    isInt(j.retries, 0, MAX_RETRIES) && stringMap(j.replace, anyKey) &&
    Array.isArray(j.files) && j.files.length <= MAX_FILES_PER_JOB && j.files.every(isFile) &&
    (j.target === undefined || isTarget(j.target))
}

/**
 * `input` itself if it is a joblist in the form events carry, whole (joblistSchema would accept
 * it and give it back unchanged); undefined if not, or not only: then ask joblistSchema.
 */
export function normalShape (input: unknown): JoblistInputRaw | undefined {
  if (!shaped(input, JOBLIST, JOBLIST_REQUIRED)) return undefined
  const v = input
  const ok = isName(v.name) && isInt(v.priority, -1000, 1000) &&
    Array.isArray(v.tags) && v.tags.length <= 100 && v.tags.every(t => typeof t === 'string' && t.length >= 1 && t.length <= MAX_NAME_LENGTH) &&
    stringMap(v.replace, anyKey) && (v.values === undefined || stringMap(v.values, () => true)) &&
    Array.isArray(v.stages) && v.stages.length >= 1 && v.stages.length <= MAX_STAGES &&
    v.stages.every(s => shaped(s, STAGE, ['name', 'jobs']) && isName(s.name) && Array.isArray(s.jobs) && s.jobs.length >= 1 && s.jobs.every(isJob))
  return ok ? input as unknown as JoblistInputRaw : undefined
}
