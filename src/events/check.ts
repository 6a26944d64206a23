// Shape checks for events that arrive from peers: anything malformed is refused before it
// can reach the reducer. (Signatures are checked by the shell, which has the keys.)
import { MAX_NAME_LENGTH } from '../spec/limits.js'
import { isCut } from '../state/cuts.js'
import { validateJoblist } from '../spec/validate.js'
import { notifyListSchema } from '../spec/schema.js'
import type { CisEvent } from './types.js'
import { EVENT_TYPES } from './types.js'

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length <= max
const isInt = (v: unknown, min = 0): v is number => Number.isSafeInteger(v) && (v as number) >= min
/**
 * The latest instant a JavaScript Date holds (ms since 1970, the year 275,760): an event's clock
 * or a time in its body past it made every view of it throw (a RangeError at toISOString): the
 * API's, the live feed's, and the master's webhook payload, which ended the master's agent (and
 * the next master's: the event is in everyone's state).
 */
export const MAX_TIME = 8.64e15
const isTime = (v: unknown): v is number => isInt(v) && (v as number) <= MAX_TIME
const isStrList = (v: unknown, max = 1000): v is string[] => Array.isArray(v) && v.length <= max && v.every(x => isStr(x))
const isResources = (v: unknown): boolean => isObj(v) && Object.keys(v).length <= 256 && Object.values(v).every(ids => isStrList(ids, 4096))
/**
 * An assign carried by the accept of joblist `id`: of one of that joblist's jobs only
 * (`<id>.<n>` or `<id>.<n>.<k>`), so the event is about its own joblist alone, for the
 * subjects, the cuts of a purge and the archive as for any accept.
 */
const isCarriedAssign = (a: unknown, id: string): boolean => isObj(a) && Object.keys(a).length === 4 && isStr(a.jobId) &&
  a.jobId.startsWith(id + '.') && BODY.assign({ ...a, term: 0 }) === null
/** A delivery or email item ID: `<joblist or job ID>.<state>.<subscription key>` (subscriptions.ts). */
const NOTIFICATION_ID = /^[^.]+(\.\d+)?\.(running|succeeded|failed|stopped)\.(\d+|h[0-9a-f]{8})$/
/** The most joblists (and requests) one purge event names; a larger purge is several events. */
export const MAX_PURGE = 2000
const optStr = (v: unknown, max = 256): boolean => v === undefined || isStr(v, max)
/**
 * A joblist ID as masters make them (`<code>-<n>`: schedule.ts), or any name of letters, digits,
 * `_` and `-`: never `/`, `.` or `..`, since an executor makes its jobs' work directories from it
 * (jobs/JOBLIST/JOB/ATTEMPT) and a job's ID is the joblist's with `.<n>` after it.
 */
const JOBLIST_ID = /^[A-Za-z0-9_-]{1,128}$/
/** 10^15 ms: over 30,000 CPU-years, far beyond any real attempt, still exact as a number. */
const MAX_CPU_MS = 1e15
/** 2^40 kB: a pebibyte of resident memory. */
const MAX_RSS_KB = 2 ** 40
const isBounded = (v: unknown, max: number): boolean => isInt(v) && (v as number) <= max
/**
 * An attempt's usage (G-2): the CPU pair both present or both absent, maxRssKb optional, at
 * least one of them (no usage is sent as no field). Unknown fields are let through (and
 * dropped by the reducer) so that a newer node's finished events still count here.
 */
const isUsage = (v: unknown): boolean => isObj(v) &&
  (v.cpuUserMs === undefined) === (v.cpuSysMs === undefined) &&
  (v.cpuUserMs === undefined || (isBounded(v.cpuUserMs, MAX_CPU_MS) && isBounded(v.cpuSysMs, MAX_CPU_MS))) &&
  (v.maxRssKb === undefined || isBounded(v.maxRssKb, MAX_RSS_KB)) &&
  (v.cpuUserMs !== undefined || v.maxRssKb !== undefined)

const BODY: Record<string, (b: Record<string, unknown>) => string | null> = {
  node: b => isStr(b.name) && isInt(b.priority, -1e9) && isStrList(b.profiles) && isResources(b.resources) && isStr(b.api) && isStrList(b.addresses) && isStr(b.version) ? null : 'bad node info',
  submit: b => {
    if (!isStr(b.owner)) return 'bad owner'
    if (b.schedule !== undefined && !(isObj(b.schedule) && isStr(b.schedule.name) && isTime(b.schedule.instant) && (b.schedule.manual === undefined || b.schedule.manual === true))) return 'bad schedule run'
    // A submit made on the master, with its accept: an accept's body but the request, which is the submit itself.
    if (b.accept !== undefined && !(isObj(b.accept) && b.accept.request === undefined && BODY.accept({ ...b.accept, request: '' }) === null)) return 'bad accept carried by a submit'
    return specProblem(b.spec)
  },
  schedule: b => {
    if (!isStr(b.owner)) return 'bad owner'
    if (!isObj(b.spec) || !isObj(b.spec.schedule)) return 'bad schedule: no schedule in the joblist'
    return specProblem(b.spec)
  },
  control: b => isStr(b.name) && ['pause', 'resume', 'delete'].includes(b.op as string) ? null : 'bad control',
  skip: b => isStr(b.name) && isTime(b.from) && isTime(b.to) && (b.to as number) >= (b.from as number) && isInt(b.count, 1) &&
    ['overlap', 'missed', 'caught-up', 'paused', 'over-limit'].includes(b.reason as string) && isInt(b.term)
    ? null
    : 'bad skip',
  ack: b => isStr(b.joblistId) ? null : 'bad ack',
  update: b => isStr(b.joblistId) &&
    (b.jobId === undefined || (isStr(b.jobId) && b.priority === undefined && b.tags === undefined && b.notify !== undefined)) &&
    (b.notify === undefined || notifyListSchema.safeParse(b.notify).success) &&
    (b.priority === undefined || (isInt(b.priority, -1000) && (b.priority as number) <= 1000)) &&
    (b.tags === undefined || (isStrList(b.tags, 100) && b.tags.every(t => t.length >= 1 && t.length <= MAX_NAME_LENGTH)))
    ? null
    : 'bad update',
  delivery: b => isStr(b.id) && NOTIFICATION_ID.test(b.id as string) && isInt(b.attempt, 1) && typeof b.ok === 'boolean' &&
    (b.status === undefined || (isInt(b.status, 100) && (b.status as number) <= 999)) && optStr(b.error, 1024) &&
    (b.retryAfterMs === undefined || isInt(b.retryAfterMs)) && (b.gone === undefined || b.gone === true) && isInt(b.term)
    ? null
    : 'bad delivery',
  purge: b => {
    if (!isTime(b.before) || !isStrList(b.ids, MAX_PURGE) || !isStrList(b.requests, MAX_PURGE)) return 'bad purge'
    if (b.cut !== undefined && !isCut(b.cut)) return 'bad purge cut'
    if (b.counters !== undefined && !(isObj(b.counters) && Object.keys(b.counters).length <= 10_000 && Object.values(b.counters).every(n => isInt(n)))) return 'bad purge counters'
    const ranges = b.cut === undefined ? 0 : Object.values(b.cut as Record<string, unknown[]>).reduce((n, r) => n + r.length, 0)
    return (b.ids as string[]).length + (b.requests as string[]).length + ranges > 0 ? null : 'bad purge: names nothing'
  },
  mail: b => isStr(b.to, 254) && /^[^\s@]+@[^\s@]+$/.test(b.to as string) && Array.isArray(b.ids) && b.ids.length >= 1 && b.ids.length <= 10_000 &&
    b.ids.every(id => isStr(id) && NOTIFICATION_ID.test(id)) && typeof b.ok === 'boolean' && optStr(b.error, 1024) && isInt(b.term)
    ? null
    : 'bad mail',
  stop: b => isStr(b.joblistId) && optStr(b.jobId) ? null : 'bad stop',
  master: b => isInt(b.term, 1) ? null : 'bad term',
  accept: b => isStr(b.request) && isStr(b.id) && JOBLIST_ID.test(b.id) && isInt(b.term) && (b.onLost === 'retry' || b.onLost === 'fail') && isInt(b.maxLost) &&
    (b.expand === undefined || (isObj(b.expand) && Object.keys(b.expand).length <= 1000 && Object.values(b.expand).every(ids => isStrList(ids, 10_000)))) &&
    (b.assign === undefined || (Array.isArray(b.assign) && b.assign.length >= 1 && b.assign.length <= 10_000 && b.assign.every(a => isCarriedAssign(a, b.id as string))))
    ? null
    : 'bad accept',
  assign: b => isStr(b.jobId) && isInt(b.attempt, 1) && isStr(b.node) && isResources(b.resources) && isInt(b.term) ? null : 'bad assign',
  cancel: b => isStr(b.joblistId) && optStr(b.jobId) && isStr(b.request) && isInt(b.term) ? null : 'bad cancel',
  lose: b => isStr(b.jobId) && isInt(b.attempt, 1) && isStr(b.reason, 4096) && isInt(b.term) ? null : 'bad lose',
  started: b => isStr(b.jobId) && isInt(b.attempt, 1) && Number.isSafeInteger(b.pid) ? null : 'bad started',
  finished: b => isStr(b.jobId) && isInt(b.attempt, 1) && ['succeeded', 'failed', 'stopped', 'lost'].includes(b.state as string) &&
    (b.exitCode === null || Number.isSafeInteger(b.exitCode)) && (b.signal === null || isStr(b.signal)) && optStr(b.reason, 4096) && optStr(b.tail, 8192) &&
    (b.usage === undefined || isUsage(b.usage)) &&
    (b.started === undefined || (isObj(b.started) && isTime(b.started.at) && Number.isSafeInteger(b.started.pid)))
    ? null
    : 'bad finished'
}

function specProblem (spec: unknown): string | null {
  const r = validateJoblist(spec)
  return r.ok ? null : `bad joblist: ${r.issues[0]?.path ?? ''} ${r.issues[0]?.message ?? ''}`
}

/** Why `x` is not a well-formed event, or null if it is one. */
export function checkEvent (x: unknown): string | null {
  if (!isObj(x)) return 'not an object'
  if (!isStr(x.origin, 128) || x.origin === '') return 'bad origin'
  if (!isInt(x.seq, 1)) return 'bad seq'
  if (!isTime(x.ts) || !isInt(x.lc)) return 'bad clock'
  if (!isStr(x.sig, 1024)) return 'bad signature field' // (a batch signature carries its Merkle proof: keys.ts)
  if (!EVENT_TYPES.includes(x.type as never)) return `unknown type ${String(x.type).slice(0, 32)}`
  if (!isObj(x.body)) return 'bad body'
  return BODY[x.type as string](x.body)
}

export function asEvent (x: unknown): CisEvent | string {
  const problem = checkEvent(x)
  return problem === null ? x as CisEvent : problem
}
