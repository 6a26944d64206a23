// The agent's config FILE (config/default.yaml) as one zod schema: its settings, their
// defaults and their checks. Objects are strict at every depth, so a misspelt key anywhere
// is an error naming its path and the keys allowed there.
import { availableParallelism, hostname } from 'node:os'
import { z } from 'zod'
import { parseDuration } from '../spec/duration.js'

export const TYPE_RE = /^[a-z][a-z0-9_-]*$/
export const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/
export const MAX_INSTANCES = 4096
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const

/** A resource's instance IDs from a list of IDs or a count (`gpu: 2` → gpu0, gpu1), or an error message. */
export function resourceIds (type: string, v: unknown): string[] | string {
  if (!TYPE_RE.test(type)) return `resource type '${type}': use lower-case letters, digits, '-' and '_', starting with a letter`
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) {
    if (v > MAX_INSTANCES) return `resource ${type}: ${v} instances; at most ${MAX_INSTANCES}`
    return Array.from({ length: v }, (_, i) => `${type}${i}`)
  }
  if (!Array.isArray(v) || v.some(i => typeof i !== 'string' || !ID_RE.test(i))) {
    return `resource ${type}: expected a list of instance IDs (letters, digits, . _ : -) or a count`
  }
  if (v.length > MAX_INSTANCES) return `resource ${type}: ${v.length} instances; at most ${MAX_INSTANCES}`
  if (new Set(v).size !== v.length) return `resource ${type}: instance IDs must be unique`
  return v as string[]
}

/** Resource messages name the resource themselves: they are reported without their path. */
const WHOLE = { whole: true }

export const resourcesSchema = z.record(z.string(), z.unknown(), { error: 'must map a resource type to instance IDs or a count' })
  .transform((res, ctx) => {
    const out: Record<string, string[]> = {}
    for (const [type, v] of Object.entries(res)) {
      const ids = resourceIds(type, v)
      if (typeof ids === 'string') ctx.addIssue({ code: 'custom', message: ids, path: [type], params: WHOLE })
      else out[type] = ids
    }
    return out
  })

/** "200ms", "5s", "1m", "1h30m", or a number of seconds (as parseDuration reads it) → ms. */
const duration = z.union([z.string(), z.number()], { error: 'must be a duration like 200ms, 5s or 1m' })
  .transform((v, ctx) => {
    const ms = parseDuration(v)
    if (typeof ms === 'number') return ms
    ctx.addIssue({ code: 'custom', message: ms.startsWith('must') ? ms : ms.startsWith('at most') ? `must be ${ms}` : `must be a duration: ${ms}` })
    return z.NEVER
  })

/** A retention (store.purgeAfter): a duration of up to ten years, or 0 (off). */
const RETENTION_MAX_MS = 3650 * 86_400_000
const retention = z.union([z.string(), z.number()], { error: 'must be a span like 90d or 12h, or 0 (never)' }).transform((v, ctx) => {
  if (v === 0 || (typeof v === 'string' && /^\s*0+(ms|s|m|h|d)?\s*$/.test(v))) return 0
  const ms = parseDuration(v, RETENTION_MAX_MS)
  if (typeof ms === 'number') return ms
  ctx.addIssue({ code: 'custom', message: `must be a span like 90d or 12h (at most ten years), or 0 (never): ${ms}` })
  return z.NEVER
})

/** A duration, or 0 (written 0, "0" or "0ms": off). */
const durationOrOff = z.union([z.literal(0), z.string().regex(/^\s*0+(ms|s)?\s*$/).transform(() => 0), duration], { error: 'must be a duration like 50ms, or 0 (off)' })

const text = z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' })
const int = (msg: string, min?: number) => {
  const n = z.number({ error: msg }).int({ error: msg })
  return min === undefined ? n : n.min(min, { error: msg })
}
const bool = z.boolean({ error: 'must be true or false' })
const MULTIADDR = 'must be a multiaddr like /ip4/127.0.0.1/tcp/7701'
const multiaddrs = z.preprocess(v => typeof v === 'string' ? [v] : v,
  z.array(z.string({ error: MULTIADDR }).startsWith('/', { error: MULTIADDR }), { error: 'must be a list of multiaddrs like /ip4/127.0.0.1/tcp/7701' }))
const section = <T extends z.core.$ZodLooseShape>(shape: T) => z.strictObject(shape, { error: 'must be a mapping' })

export const configFileSchema = z.strictObject({
  name: text.default(() => hostname()),
  data: text.default('./.cis-data'),
  api: text.default('127.0.0.1:7700'),
  token: text.optional(),
  resources: resourcesSchema.prefault(() => ({ slot: availableParallelism() })),
  profiles: z.array(z.string({ error: 'must be a list of strings' }), { error: 'must be a list of strings' }).default([]),
  priority: int('must be an integer').default(0),
  exec: section({
    killGrace: duration.prefault('5s'),
    forkServer: bool.default(true)
  }).prefault({}),
  scheduler: section({
    policy: z.enum(['fifo', 'priority', 'fairshare'], { error: "must be 'fifo', 'priority' or 'fairshare'" }).default('fifo'),
    aging: z.number({ error: 'must be a number >= 0 (priority points per minute of waiting)' })
      .min(0, { error: 'must be a number >= 0 (priority points per minute of waiting)' }).default(1),
    onLost: z.enum(['retry', 'fail'], { error: "must be 'retry' or 'fail'" }).default('retry'),
    maxLost: int('must be a whole number', 0).default(3),
    lostAfter: duration.prefault('1m'),
    fairShare: section({
      halfLife: duration.prefault('7d'),
      shares: z.record(z.string(), z.number({ error: 'must be a number > 0 (the owner\'s weight)' })
        .positive({ error: 'must be a number > 0 (the owner\'s weight)' }), { error: 'must map an owner to a weight > 0' }).default({})
    }).prefault({})
  }).prefault({}),
  notify: section({
    secret: z.union([text, z.array(text, { error: 'must be a list of secrets' }).min(1, { error: 'give at least one secret' })], { error: 'must be a secret (a string) or a list of them (during a rotation)' }).optional(),
    allowHosts: z.array(z.string({ error: 'must be a list of hosts (host or host:port)' }).min(1, { error: 'must not be empty' }), { error: 'must be a list of hosts (host or host:port)' }).default([]),
    retryFor: duration.prefault('24h'),
    timeout: duration.prefault('10s'),
    digestAt: z.string({ error: 'must be a time of day HH:MM (UTC), e.g. "08:00"' })
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be a time of day HH:MM (UTC), e.g. "08:00"' }).default('08:00'),
    mailEvery: duration.prefault('1m'),
    /** Undocumented, for tests: digests every this long (from the epoch) instead of daily at digestAt. */
    digestEvery: duration.optional()
  }).prefault({}),
  smtp: section({
    host: text,
    port: int('must be a port number', 1).refine(p => p <= 65535, { error: 'must be a port number' }).default(587),
    secure: bool.default(false),
    user: text.optional(),
    pass: text.optional(),
    from: z.string({ error: 'must be an email address like cis@example.org' }).regex(/^(?:[^<>]*<)?[^\s@<>]+@[^\s@<>]+>?$/, { error: 'must be an email address like cis@example.org (or "Name <cis@example.org>")' })
  }).optional(),
  log: section({
    level: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    pretty: z.union([z.boolean(), z.literal('auto')], { error: 'must be true, false or auto' }).default('auto')
  }).prefault({}),
  nodesLogInterval: duration.prefault('60s'),
  snapshotEvery: int('must be a positive integer', 1).default(5000),
  /** G-1: where events and snapshots are spooled: level (on disk, the default) or memory (nothing survives a restart: tests). */
  store: section({
    backend: z.enum(['level', 'memory'], { error: 'must be level (on disk, the default) or memory (nothing survives a restart)' }).default('level'),
    /** How long an ended joblist stays in memory before it moves to the store's archive (0: never). */
    archiveAfter: duration.prefault('10m'),
    /** At most this many ended joblists stay in memory: beyond it the earliest ended are archived sooner (0: no bound). */
    keepEnded: int('must be an integer >= 0 (0: no bound)', 0).default(10_000),
    /** How long after its end an ended joblist is purged from every node by the master (G-6: node/retention.ts; 0: never, the default). */
    purgeAfter: retention.prefault('0')
  }).prefault({}),
  maxBodyBytes: int('must be an integer >= 1024', 1024).default(4 * 1024 * 1024),
  listen: multiaddrs.prefault(['/ip4/0.0.0.0/tcp/7701']),
  peers: multiaddrs.prefault([]),
  mdns: bool.default(true),
  swarmKey: text.optional(),
  heartbeat: section({
    interval: duration.prefault('200ms'),
    timeout: duration.prefault('800ms')
  }).superRefine((hb, ctx) => {
    if (hb.timeout < 2 * hb.interval) ctx.addIssue({ code: 'custom', message: 'must be at least twice heartbeat.interval', path: ['timeout'] })
  }).prefault({}),
  syncInterval: duration.prefault('2s'),
  /**
   * Under load, events a peer does not need at once (neither the master nor named in them) wait
   * up to this long to go to it in one message with those that follow (0: every write batch to
   * every peer at once). Small clusters only; at most a quarter of heartbeat.interval.
   */
  batchWindow: durationOrOff.prefault('50ms'),
  /** Clusters of more nodes than this keep membership by the watch ring (issue 12); up to it, every node heartbeats to every other. */
  watchRingAbove: int('must be a whole number >= 2', 2).default(16)
}, { error: 'must be a mapping of settings' })

/** The file as written (durations as text). */
export type ConfigFileInput = z.input<typeof configFileSchema>
/** The file checked, with its defaults; durations in ms, resources as instance IDs. */
export type ConfigFile = z.output<typeof configFileSchema>

/** The keys of the strict object `s` is (through defaults, optionals and pipes), if it is one. */
function shapeOf (s: unknown): Record<string, unknown> | undefined {
  for (let i = 0; i < 10 && s !== undefined; i++) {
    if (s instanceof z.ZodObject) return s.shape
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodOptional) s = s.unwrap()
    else if (s instanceof z.ZodPipe) s = s.in
    else return undefined
  }
  return undefined
}

function shapeAt (path: ReadonlyArray<PropertyKey>): Record<string, unknown> | undefined {
  let shape = shapeOf(configFileSchema)
  for (const k of path) shape = shape !== undefined && Object.hasOwn(shape, k) ? shapeOf(shape[k as string]) : undefined
  return shape
}

/** The keys allowed at a path of the file ([] = the top level). */
export function allowedKeys (path: ReadonlyArray<PropertyKey> = []): string[] {
  return Object.keys(shapeAt(path) ?? {})
}

/** Every setting's dotted path, nested ones included (`scheduler`, `scheduler.policy`, …). */
export function settingPaths (path: string[] = []): string[] {
  return allowedKeys(path).flatMap(k => [[...path, k].join('.'), ...settingPaths([...path, k])])
}

const isMapping = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `raw` over `base`, both in the file's form: the settings given in raw win, sections merge key by key. */
export function overlay (base: Record<string, unknown>, raw: Record<string, unknown>, path: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue
    const nested = shapeAt([...path, k]) !== undefined && isMapping(v) && isMapping(base[k])
    Object.defineProperty(out, k, { value: nested ? overlay(base[k] as Record<string, unknown>, v, [...path, k]) : v, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function formatPath (path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`).join('')
}

/** One line per problem, each naming the setting's path. */
export function describeIssues (error: z.ZodError): string[] {
  return error.issues.flatMap(i => {
    if (i.code === 'unrecognized_keys') {
      return i.keys.map(k => `unknown setting '${formatPath([...i.path, k])}' (allowed: ${allowedKeys(i.path).join(', ')})`)
    }
    if (i.code === 'custom' && i.params?.whole === true) return [i.message]
    const at = formatPath(i.path)
    return [at === '' ? `the config ${i.message}` : `${at} ${i.message}`]
  })
}
