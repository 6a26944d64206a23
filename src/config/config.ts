// Agent configuration: defaults, then the YAML file, then command-line flags.
import { readFileSync } from 'node:fs'
import { availableParallelism, hostname } from 'node:os'
import { parse } from 'yaml'
import { parseDuration } from '../spec/duration.js'

export interface AgentConfig {
  name: string
  data: string
  /** HTTP API address, host:port. */
  api: string
  /** Bearer token; required when the API listens beyond loopback. */
  token?: string
  resources: Record<string, string[]>
  profiles: string[]
  priority: number
  exec: { killGraceMs: number, forkServer: boolean }
  scheduler: { onLost: 'retry' | 'fail', maxLost: number, policy: 'fifo' | 'priority', agingPerMinute: number }
  log: { level: string, pretty: boolean | 'auto' }
  nodesLogIntervalMs: number
  snapshotEvery: number
  /** libp2p listen addresses. */
  listen: string[]
  /** Bootstrap peers: multiaddrs with /p2p/<peer id>. */
  peers: string[]
  mdns: boolean
  /** The private network key file; default <data>/swarm.key, created if missing. */
  swarmKey?: string
  heartbeat: { intervalMs: number, timeoutMs: number }
  syncIntervalMs: number
  /** POST /v1/debug/partition, for tests only. */
  enableTestGate: boolean
  api_limits: { bodyBytes: number }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly code = 'ERR_CONFIG'
}

export function defaultConfig (): AgentConfig {
  const cores = availableParallelism()
  return {
    name: hostname(),
    data: './.cis-data',
    api: '127.0.0.1:7700',
    resources: { slot: Array.from({ length: cores }, (_, i) => `slot${i}`) },
    profiles: [],
    priority: 0,
    exec: { killGraceMs: 5000, forkServer: true },
    scheduler: { onLost: 'retry', maxLost: 3, policy: 'fifo', agingPerMinute: 1 },
    log: { level: 'info', pretty: 'auto' },
    nodesLogIntervalMs: 60_000,
    snapshotEvery: 5000,
    listen: ['/ip4/0.0.0.0/tcp/7701'],
    peers: [],
    mdns: true,
    heartbeat: { intervalMs: 200, timeoutMs: 800 },
    syncIntervalMs: 2000,
    enableTestGate: false,
    api_limits: { bodyBytes: 4 * 1024 * 1024 }
  }
}

const TYPE_RE = /^[a-z][a-z0-9_-]*$/
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/

/** `gpu=gpu0,gpu1` or `gpu=2` (two instances named gpu0, gpu1). */
export function parseResourceFlag (flag: string): [string, string[]] {
  const eq = flag.indexOf('=')
  if (eq <= 0) throw new ConfigError(`--resource '${flag}': expected TYPE=ID,ID or TYPE=COUNT, e.g. gpu=gpu0,gpu1`)
  const type = flag.slice(0, eq).trim()
  const rest = flag.slice(eq + 1).trim()
  return [type, /^\d+$/.test(rest) ? countInstances(type, Number(rest)) : rest.split(',').map(s => s.trim()).filter(s => s !== '')]
}

function countInstances (type: string, n: number): string[] {
  if (n > 4096) throw new ConfigError(`resource ${type}: ${n} instances; at most 4096`)
  return Array.from({ length: n }, (_, i) => `${type}${i}`)
}

export function validateResources (res: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [type, v] of Object.entries(res)) {
    if (!TYPE_RE.test(type)) throw new ConfigError(`resource type '${type}': use lower-case letters, digits, '-' and '_', starting with a letter`)
    const ids = typeof v === 'number' ? countInstances(type, v) : v
    if (!Array.isArray(ids) || ids.some(i => typeof i !== 'string' || !ID_RE.test(i))) {
      throw new ConfigError(`resource ${type}: expected a list of instance IDs (letters, digits, . _ : -) or a count`)
    }
    if (new Set(ids).size !== ids.length) throw new ConfigError(`resource ${type}: instance IDs must be unique`)
    out[type] = ids as string[]
  }
  return out
}

function durationMs (v: unknown, what: string): number {
  const ms = parseDuration(v)
  if (typeof ms === 'string') throw new ConfigError(`${what}: ${ms}`)
  return ms
}

/** Merge a parsed YAML config object over the defaults, checking every field. */
export function mergeConfig (base: AgentConfig, raw: unknown, source: string): AgentConfig {
  if (raw === null || raw === undefined) return base
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: the config must be a mapping of settings`)
  const c = structuredClone(base)
  const r = raw as Record<string, unknown>
  const known = new Set(['name', 'data', 'api', 'token', 'resources', 'profiles', 'priority', 'exec', 'scheduler', 'log', 'nodesLogInterval', 'snapshotEvery', 'maxBodyBytes', 'listen', 'peers', 'mdns', 'swarmKey', 'heartbeat', 'syncInterval'])
  for (const k of Object.keys(r)) if (!known.has(k)) throw new ConfigError(`${source}: unknown setting '${k}' (known: ${[...known].join(', ')})`)
  const str = (k: string): string | undefined => {
    if (r[k] === undefined) return undefined
    if (typeof r[k] !== 'string' || r[k] === '') throw new ConfigError(`${source}: ${k} must be a non-empty string`)
    return r[k] as string
  }
  c.name = str('name') ?? c.name
  c.data = str('data') ?? c.data
  c.api = str('api') ?? c.api
  const token = str('token')
  if (token !== undefined) c.token = token
  if (r.resources !== undefined) {
    if (typeof r.resources !== 'object' || r.resources === null) throw new ConfigError(`${source}: resources must map a type to instance IDs`)
    c.resources = validateResources(r.resources as Record<string, unknown>)
  }
  if (r.profiles !== undefined) {
    if (!Array.isArray(r.profiles) || r.profiles.some(p => typeof p !== 'string')) throw new ConfigError(`${source}: profiles must be a list of strings`)
    c.profiles = r.profiles as string[]
  }
  if (r.priority !== undefined) {
    if (!Number.isInteger(r.priority)) throw new ConfigError(`${source}: priority must be an integer`)
    c.priority = r.priority as number
  }
  const sub = (k: string): Record<string, unknown> => {
    const v = r[k]
    if (v === undefined) return {}
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${source}: ${k} must be a mapping`)
    return v as Record<string, unknown>
  }
  const exec = sub('exec')
  if (exec.killGrace !== undefined) c.exec.killGraceMs = durationMs(exec.killGrace, `${source}: exec.killGrace`)
  if (exec.forkServer !== undefined) {
    if (typeof exec.forkServer !== 'boolean') throw new ConfigError(`${source}: exec.forkServer must be true or false`)
    c.exec.forkServer = exec.forkServer
  }
  const sched = sub('scheduler')
  if (sched.onLost !== undefined) {
    if (sched.onLost !== 'retry' && sched.onLost !== 'fail') throw new ConfigError(`${source}: scheduler.onLost must be 'retry' or 'fail'`)
    c.scheduler.onLost = sched.onLost
  }
  if (sched.policy !== undefined) {
    if (sched.policy !== 'fifo' && sched.policy !== 'priority') throw new ConfigError(`${source}: scheduler.policy must be 'fifo' or 'priority'`)
    c.scheduler.policy = sched.policy
  }
  if (sched.aging !== undefined) {
    if (typeof sched.aging !== 'number' || sched.aging < 0) throw new ConfigError(`${source}: scheduler.aging must be a number >= 0 (priority points per minute of waiting)`)
    c.scheduler.agingPerMinute = sched.aging
  }
  if (sched.maxLost !== undefined) {
    if (!Number.isInteger(sched.maxLost) || (sched.maxLost as number) < 0) throw new ConfigError(`${source}: scheduler.maxLost must be a whole number`)
    c.scheduler.maxLost = sched.maxLost as number
  }
  const log = sub('log')
  if (log.level !== undefined) {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(log.level as string)) throw new ConfigError(`${source}: log.level must be one of trace, debug, info, warn, error, fatal, silent`)
    c.log.level = log.level as string
  }
  if (log.pretty !== undefined) {
    if (log.pretty !== 'auto' && typeof log.pretty !== 'boolean') throw new ConfigError(`${source}: log.pretty must be true, false or auto`)
    c.log.pretty = log.pretty as boolean | 'auto'
  }
  if (r.nodesLogInterval !== undefined) c.nodesLogIntervalMs = durationMs(r.nodesLogInterval, `${source}: nodesLogInterval`)
  if (r.snapshotEvery !== undefined) {
    if (!Number.isInteger(r.snapshotEvery) || (r.snapshotEvery as number) < 1) throw new ConfigError(`${source}: snapshotEvery must be a positive integer`)
    c.snapshotEvery = r.snapshotEvery as number
  }
  const strList = (k: string): string[] | undefined => {
    const v = r[k]
    if (v === undefined) return undefined
    const list = typeof v === 'string' ? [v] : v
    if (!Array.isArray(list) || list.some(x => typeof x !== 'string' || !x.startsWith('/'))) throw new ConfigError(`${source}: ${k} must be a list of multiaddrs like /ip4/127.0.0.1/tcp/7701`)
    return list as string[]
  }
  c.listen = strList('listen') ?? c.listen
  c.peers = strList('peers') ?? c.peers
  if (r.mdns !== undefined) {
    if (typeof r.mdns !== 'boolean') throw new ConfigError(`${source}: mdns must be true or false`)
    c.mdns = r.mdns
  }
  const swarmKey = str('swarmKey')
  if (swarmKey !== undefined) c.swarmKey = swarmKey
  const hb = sub('heartbeat')
  if (hb.interval !== undefined) c.heartbeat.intervalMs = durationMs(hb.interval, `${source}: heartbeat.interval`)
  if (hb.timeout !== undefined) c.heartbeat.timeoutMs = durationMs(hb.timeout, `${source}: heartbeat.timeout`)
  if (c.heartbeat.timeoutMs < 2 * c.heartbeat.intervalMs) throw new ConfigError(`${source}: heartbeat.timeout must be at least twice heartbeat.interval`)
  if (r.syncInterval !== undefined) c.syncIntervalMs = durationMs(r.syncInterval, `${source}: syncInterval`)
  if (r.maxBodyBytes !== undefined) {
    if (!Number.isInteger(r.maxBodyBytes) || (r.maxBodyBytes as number) < 1024) throw new ConfigError(`${source}: maxBodyBytes must be an integer >= 1024`)
    c.api_limits.bodyBytes = r.maxBodyBytes as number
  }
  return c
}

export function loadConfigFile (file: string, base: AgentConfig = defaultConfig()): AgentConfig {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the --config path.`)
  }
  let raw: unknown
  try { raw = parse(text, { maxAliasCount: 100 }) } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`)
  }
  return mergeConfig(base, raw, file)
}

/** host:port → [host, port]; checks both. */
export function parseHostPort (v: string): [string, number] {
  const i = v.lastIndexOf(':')
  const host = i > 0 ? v.slice(0, i).replace(/^\[|\]$/g, '') : ''
  const port = Number(v.slice(i + 1))
  if (host === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`api address '${v}': expected HOST:PORT, e.g. 127.0.0.1:7700`)
  return [host, port]
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}
