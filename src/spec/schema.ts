// The joblist file format as a zod schema: the TypeScript types and the checks in one place.
import { z } from 'zod'
import { parseDuration } from './duration.js'
import { MAX_DURATION_MS, MAX_COUNT_PER_TYPE, MAX_FILES_PER_JOB, MAX_NAME_LENGTH, MAX_RETRIES, MAX_RUN_LENGTH, MAX_STAGES } from './limits.js'
import { checkCron, checkTimezone } from './cron.js'
import { checkJobFilePath } from './paths.js'
import type { NotifySpec } from './types.js'

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
export const TYPE_RE = /^[a-z][a-z0-9_-]*$/
export const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string' }).transform(v => String(v))

export const name = z.string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty' })
  .max(MAX_NAME_LENGTH, { error: `at most ${MAX_NAME_LENGTH} characters` })
  .regex(NAME_RE, { error: "use letters, digits, '.', '_' and '-', starting with a letter or digit" })

export const replaceMap = z.record(
  z.string().min(1, { error: 'a pattern must not be empty' }),
  scalar,
  { error: 'must be a mapping of pattern to value' }
).default({})

const mode = z.union([
  z.number().int().min(0).max(0o7777),
  z.string().regex(/^0?[0-7]{3,4}$/, { error: "must be an octal mode like '0755'" }).transform(s => parseInt(s, 8))
], { error: "must be a file mode like '0644'" })

export const fileSchema = z.strictObject({
  path: z.string({ error: 'must be a string' }).superRefine((p, ctx) => {
    const problem = checkJobFilePath(p)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
  }),
  content: z.string({ error: 'must be a string' }).optional(),
  source: z.string({ error: 'must be a string' }).min(1).optional(),
  replace: replaceMap,
  mode: mode.optional()
})

export const targetSchema = z.union([
  z.strictObject({ node: name }),
  z.strictObject({ all: z.literal(true, { error: 'all must be true' }) }),
  z.strictObject({ profile: name })
], { error: 'target must be one of {node: NAME}, {all: true} or {profile: NAME}' })

const durationSchema = z.union([z.string(), z.number()], { error: 'must be a duration like 30s or 10m' }).transform((v, ctx) => {
  const ms = parseDuration(v)
  if (typeof ms === 'string') { ctx.addIssue({ code: 'custom', message: ms }); return z.NEVER }
  return ms
})
const msSchema = z.number({ error: 'must be milliseconds' }).int().positive().max(MAX_DURATION_MS, { error: 'at most 30 days' })

/** The joblist states a webhook can be told about (`queued` is not one: it is the submit's answer). */
export const NOTIFY_STATES = ['running', 'succeeded', 'failed', 'stopped'] as const
export const MAX_NOTIFY = 10

/** Why `v` is not a webhook URL (http: or https:), or null. */
export function webhookUrlProblem (v: string): string | null {
  let u: URL
  try { u = new URL(v) } catch { return 'must be an http: or https: URL, e.g. https://hooks.example.com/cis' }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `must be an http: or https: URL, not ${u.protocol}`
  if (u.username !== '' || u.password !== '') return 'must not carry a user name or password (the requests are signed with notify.secret)'
  return null
}

/** Why `v` is not an email address (a plain local@domain, no display name), or null. */
export function emailProblem (v: string): string | null {
  if (v.length > 254) return 'at most 254 characters'
  return /^[^\s@<>(),;:"[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(v)
    ? null
    : 'must be an email address like alice@example.org'
}

export const DIGESTS = ['now', 'daily'] as const
/** The states an email subscription is told about when `on` is left out: how the joblist ended. */
export const EMAIL_DEFAULT_STATES = ['succeeded', 'failed', 'stopped'] as const

/**
 * One subscription (issue 11): a webhook or an email address, and the states it is told about
 * (default: all of them for a webhook, the final ones for an email).
 */
export const notifySchema = z.strictObject({
  webhook: z.string({ error: 'must be a URL' }).max(2000, { error: 'at most 2000 characters' }).optional(),
  email: z.string({ error: 'must be an email address like alice@example.org' }).optional(),
  digest: z.enum(DIGESTS, { error: 'must be now (a message as soon as the storm bound allows) or daily (one digest a day at notify.digestAt)' }).optional(),
  on: z.array(z.enum(NOTIFY_STATES, { error: `must be one of ${NOTIFY_STATES.join(', ')}` }), { error: `must be a list of states: ${NOTIFY_STATES.join(', ')}` })
    .min(1, { error: 'give at least one state (or leave on out: every state)' }).optional()
}, { error: 'must be a mapping like {webhook: https://…, on: [failed]} or {email: alice@example.org, on: [failed]}' }).superRefine((n, ctx) => {
  if (n.email !== undefined) {
    if (n.webhook !== undefined) ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'give either webhook or email in one subscription, not both' })
    const problem = emailProblem(n.email)
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['email'], message: problem })
  } else if (n.digest !== undefined) ctx.addIssue({ code: 'custom', path: ['digest'], message: 'only an email subscription has a digest' })
  else if (n.webhook === undefined) ctx.addIssue({ code: 'custom', path: ['webhook'], message: 'required (the URL to POST to, or give email: an address)' })
  else {
    const problem = webhookUrlProblem(n.webhook)
    if (problem !== null) ctx.addIssue({ code: 'custom', path: ['webhook'], message: problem })
  }
}).transform((n): NotifySpec => n.email !== undefined
  ? { email: n.email.toLowerCase(), digest: n.digest ?? 'daily', on: n.on === undefined ? [...EMAIL_DEFAULT_STATES] : NOTIFY_STATES.filter(s => n.on?.includes(s) === true) }
  : { webhook: n.webhook ?? '', on: n.on === undefined ? [...NOTIFY_STATES] : NOTIFY_STATES.filter(s => n.on?.includes(s) === true) })

/** A notify list: at most MAX_NOTIFY subscriptions. */
export const notifyListSchema = z.array(notifySchema, { error: 'must be a list like [{webhook: https://…, on: [failed]}]' }).max(MAX_NOTIFY, { error: `at most ${MAX_NOTIFY} subscriptions` })

export const jobSchema = z.strictObject({
  name,
  run: z.string({ error: 'must be a string (the command)' }).min(1, { error: 'must not be empty' }).max(MAX_RUN_LENGTH, { error: `at most ${MAX_RUN_LENGTH} characters` }),
  needs: z.record(
    z.string().regex(TYPE_RE, { error: "a resource type uses lower-case letters, digits, '-' and '_', starting with a letter" }),
    z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).max(MAX_COUNT_PER_TYPE, { error: `at most ${MAX_COUNT_PER_TYPE}` }),
    { error: 'must map a resource type to a count, e.g. {slot: 1}' }
  ).default({ slot: 1 }),
  env: z.record(
    z.string().regex(ENV_RE, { error: 'an environment variable name uses letters, digits and _' }).refine(k => !k.startsWith('CIS_'), { error: 'names starting with CIS_ are reserved' }),
    scalar,
    { error: 'must be a mapping of NAME to value' }
  ).default({}),
  timeout: durationSchema.optional(),
  /** The resolved form of `timeout` (what the CLI sends and events carry). */
  timeoutMs: msSchema.optional(),
  /** How long this job's running attempt on a disconnected node stays unknown before it is lost. */
  lostAfter: durationSchema.optional(),
  lostAfterMs: msSchema.optional(),
  /** false: a lost attempt fails the job instead of running it again (at most once). */
  retryLost: z.boolean({ error: 'must be true or false' }).optional(),
  retries: z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).max(MAX_RETRIES, { error: `at most ${MAX_RETRIES}` }).default(0),
  replace: replaceMap,
  files: z.array(fileSchema, { error: 'must be a list of files' }).max(MAX_FILES_PER_JOB, { error: `at most ${MAX_FILES_PER_JOB} files per job` }).default([]),
  target: targetSchema.optional(),
  /** Told when this job reaches a state (issue 11), like a joblist's notify. */
  notify: notifyListSchema.optional()
})

export const stageSchema = z.strictObject({
  name,
  jobs: z.array(jobSchema, { error: 'must be a list of jobs' }).min(1, { error: 'a stage needs at least one job' })
})

const VAR_RE = /^[A-Za-z_][A-Za-z0-9_]*$/

export const scheduleSchema = z.strictObject({
  cron: z.string({ error: 'must be a cron expression like "0 2 * * *"' }).min(1, { error: 'must not be empty' }).max(200),
  timezone: z.string({ error: 'must be an IANA time zone name like Europe/Berlin' }).max(100).default('UTC').superRefine((tz, ctx) => {
    const problem = checkTimezone(tz)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
  }),
  onFailure: z.enum(['pause', 'continue'], { error: 'must be pause or continue' }).default('pause'),
  overlap: z.enum(['skip', 'allow'], { error: 'must be skip or allow' }).default('skip'),
  catchUp: z.enum(['one', 'none', 'all'], { error: 'must be one, none or all' }).default('one'),
  maxCatchUp: z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(1, { error: 'at least 1' }).max(10_000, { error: 'at most 10000' }).default(100)
}, { error: 'must be a mapping with cron (and timezone, onFailure, overlap, catchUp)' }).superRefine((s, ctx) => {
  const problem = checkCron(s.cron, checkTimezone(s.timezone) === null ? s.timezone : 'UTC')
  if (problem !== null) ctx.addIssue({ code: 'custom', path: ['cron'], message: problem })
})

export const varSchema = z.strictObject({
  name: z.string({ error: 'must be a string' }).regex(VAR_RE, { error: 'a variable name uses letters, digits and _, starting with a letter or _' }).max(MAX_NAME_LENGTH),
  description: z.string({ error: 'must be a string' }).max(1000).optional(),
  default: scalar.optional(),
  required: z.boolean({ error: 'must be true or false' }).optional(),
  pattern: z.string({ error: 'must be a regular expression' }).max(1000).superRefine((p, ctx) => {
    try { new RegExp(p) } catch (err) { ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` }) }
  }).optional(),
  choices: z.array(scalar, { error: 'must be a list of values' }).min(1, { error: 'give at least one choice' }).max(1000).optional()
})

export const joblistSchema = z.strictObject({
  name,
  priority: z.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(-1000, { error: 'at least -1000' }).max(1000, { error: 'at most 1000' }).default(0),
  tags: z.array(z.string({ error: 'must be a string' }).min(1).max(MAX_NAME_LENGTH), { error: 'must be a list of strings' }).max(100, { error: 'at most 100 tags' }).default([]),
  replace: replaceMap,
  stages: z.array(stageSchema, { error: 'must be a list of stages' }).min(1, { error: 'a joblist needs at least one stage' }).max(MAX_STAGES, { error: `at most ${MAX_STAGES} stages` }),
  schedule: scheduleSchema.optional(),
  notify: notifyListSchema.optional(),
  vars: z.array(varSchema, { error: 'must be a list of variables' }).max(100, { error: 'at most 100 variables' }).optional(),
  /** The values variables were filled in with (set by the node that filled them). */
  values: z.record(z.string(), z.string({ error: 'must be a string' }), { error: 'must be a mapping of name to value' }).optional()
})

export type JoblistInputRaw = z.output<typeof joblistSchema>

/** The allowed keys of the object at a path, for did-you-mean suggestions. */
export function allowedKeys (path: ReadonlyArray<PropertyKey>): string[] {
  const kinds = path.filter(p => typeof p === 'string')
  const last = kinds[kinds.length - 1]
  const shape = last === undefined ? joblistSchema.shape : last === 'stages' ? stageSchema.shape : last === 'jobs' ? jobSchema.shape : last === 'files' ? fileSchema.shape : last === 'schedule' ? scheduleSchema.shape : last === 'vars' ? varSchema.shape : last === 'notify' ? notifySchema.in.shape : undefined
  return shape === undefined ? [] : Object.keys(shape)
}
