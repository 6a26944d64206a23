// Agent configuration: defaults, then the YAML file, then command-line flags. The settings,
// their defaults and their checks are the zod schema of the file (schema.ts); this module
// turns the checked file into the AgentConfig the agent uses (durations in ms, …).
import type { FairShareOptions } from '../scheduler/fairshare.js'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { configFileSchema, describeIssues, overlay, resourceIds, resourcesSchema } from './schema.js'
import type { ConfigFile, ConfigFileInput } from './schema.js'

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
  /** lostAfterMs: how long a disconnected node's running attempts stay `unknown` before they are lost. */
  /** fairShare: usage half-life and owner weights (policy fairshare, P-4). */
  scheduler: { onLost: 'retry' | 'fail', maxLost: number, policy: 'fifo' | 'priority' | 'fairshare', agingPerMinute: number, lostAfterMs: number, fairShare: { halfLifeMs: number, shares: Record<string, number> } }
  /**
   * Webhook notifications (issue 11): the signing secrets (the first signs; every one adds a
   * signature during a rotation; none: webhooks are refused), the hosts webhooks may name
   * (host or host:port), how long a delivery is retried and each request's timeout.
   */
  notify: NotifyConfig
  smtp?: SmtpConfig
  log: { level: string, pretty: boolean | 'auto' }
  nodesLogIntervalMs: number
  snapshotEvery: number
  /**
   * The store's backend (G-1); how long an ended joblist stays in memory before it is archived
   * (0: never archived), and how many ended joblists at most (the earliest ended go sooner; 0: no
   * bound); how long after its end the master purges it from every node (0: never; G-6).
   */
  store: { backend: 'level' | 'memory', archiveAfterMs: number, keepEnded: number, purgeAfterMs: number }
  /** libp2p listen addresses. */
  listen: string[]
  /** Bootstrap peers: multiaddrs with /p2p/<peer id>. */
  peers: string[]
  mdns: boolean
  /** The private network key file; default <data>/swarm.key, created if missing. */
  swarmKey?: string
  heartbeat: { intervalMs: number, timeoutMs: number }
  syncIntervalMs: number
  /** How long events a peer does not need at once may wait to go with later ones (0: none). */
  batchWindowMs: number
  /** Clusters of more nodes than this keep membership by the watch ring; up to it, heartbeats to every peer. */
  watchRingAbove: number
  /** POST /v1/debug/partition, for tests only (a flag, not a file setting). */
  enableTestGate: boolean
  api_limits: { bodyBytes: number }
}

export interface NotifyConfig {
  secrets: string[]
  allowHosts: string[]
  retryForMs: number
  timeoutMs: number
  /** Daily digests are sent at this time of day (UTC), "HH:MM". */
  digestAt: string
  /** At most one email per address per this long (the storm bound). */
  mailEveryMs: number
  /** For tests: digests every this long instead of daily at digestAt. */
  digestEveryMs?: number
}

/** The SMTP server email notifications go through (absent: email subscriptions are refused). */
export interface SmtpConfig { host: string, port: number, secure: boolean, user?: string, pass?: string, from: string }

export class ConfigError extends Error {
  override name = 'ConfigError'
  readonly code = 'ERR_CONFIG'
}

/** The scheduler's queue options (D-4, P-4) from the agent's configuration. */
export function queueOptions (s: AgentConfig['scheduler']): { policy: AgentConfig['scheduler']['policy'], agingPerMinute: number, fairShare: FairShareOptions } {
  return { policy: s.policy, agingPerMinute: s.agingPerMinute, fairShare: s.fairShare }
}

/** The checked file → the agent's configuration. */
function fromFile (f: ConfigFile, enableTestGate: boolean): AgentConfig {
  return {
    name: f.name,
    data: f.data,
    api: f.api,
    ...(f.token !== undefined ? { token: f.token } : {}),
    resources: f.resources,
    profiles: f.profiles,
    priority: f.priority,
    exec: { killGraceMs: f.exec.killGrace, forkServer: f.exec.forkServer },
    scheduler: { onLost: f.scheduler.onLost, maxLost: f.scheduler.maxLost, policy: f.scheduler.policy, agingPerMinute: f.scheduler.aging, lostAfterMs: f.scheduler.lostAfter, fairShare: { halfLifeMs: f.scheduler.fairShare.halfLife, shares: f.scheduler.fairShare.shares } },
    notify: { secrets: f.notify.secret === undefined ? [] : typeof f.notify.secret === 'string' ? [f.notify.secret] : f.notify.secret, allowHosts: f.notify.allowHosts, retryForMs: f.notify.retryFor, timeoutMs: f.notify.timeout, digestAt: f.notify.digestAt, mailEveryMs: f.notify.mailEvery, ...(f.notify.digestEvery !== undefined ? { digestEveryMs: f.notify.digestEvery } : {}) },
    ...(f.smtp !== undefined ? { smtp: f.smtp } : {}),
    log: { level: f.log.level, pretty: f.log.pretty },
    nodesLogIntervalMs: f.nodesLogInterval,
    snapshotEvery: f.snapshotEvery,
    store: { backend: f.store.backend, archiveAfterMs: f.store.archiveAfter, keepEnded: f.store.keepEnded, purgeAfterMs: f.store.purgeAfter },
    listen: f.listen,
    peers: f.peers,
    mdns: f.mdns,
    ...(f.swarmKey !== undefined ? { swarmKey: f.swarmKey } : {}),
    heartbeat: { intervalMs: f.heartbeat.interval, timeoutMs: f.heartbeat.timeout },
    syncIntervalMs: f.syncInterval,
    batchWindowMs: f.batchWindow,
    watchRingAbove: f.watchRingAbove,
    enableTestGate,
    api_limits: { bodyBytes: f.maxBodyBytes }
  }
}

/** The agent's configuration written back as a config file (durations as `<n>ms`). */
function toFile (c: AgentConfig): ConfigFileInput {
  return {
    name: c.name,
    data: c.data,
    api: c.api,
    ...(c.token !== undefined ? { token: c.token } : {}),
    resources: c.resources,
    profiles: c.profiles,
    priority: c.priority,
    exec: { killGrace: `${c.exec.killGraceMs}ms`, forkServer: c.exec.forkServer },
    scheduler: { policy: c.scheduler.policy, aging: c.scheduler.agingPerMinute, onLost: c.scheduler.onLost, maxLost: c.scheduler.maxLost, lostAfter: `${c.scheduler.lostAfterMs}ms`, fairShare: { halfLife: `${c.scheduler.fairShare.halfLifeMs}ms`, shares: c.scheduler.fairShare.shares } },
    notify: { ...(c.notify.secrets.length > 0 ? { secret: c.notify.secrets } : {}), allowHosts: c.notify.allowHosts, retryFor: `${c.notify.retryForMs}ms`, timeout: `${c.notify.timeoutMs}ms`, digestAt: c.notify.digestAt, mailEvery: `${c.notify.mailEveryMs}ms`, ...(c.notify.digestEveryMs !== undefined ? { digestEvery: `${c.notify.digestEveryMs}ms` } : {}) },
    ...(c.smtp !== undefined ? { smtp: c.smtp } : {}),
    log: { level: c.log.level as ConfigFile['log']['level'], pretty: c.log.pretty },
    nodesLogInterval: `${c.nodesLogIntervalMs}ms`,
    snapshotEvery: c.snapshotEvery,
    store: { backend: c.store.backend, archiveAfter: `${c.store.archiveAfterMs}ms`, keepEnded: c.store.keepEnded, purgeAfter: `${c.store.purgeAfterMs}ms` },
    maxBodyBytes: c.api_limits.bodyBytes,
    listen: c.listen,
    peers: c.peers,
    mdns: c.mdns,
    ...(c.swarmKey !== undefined ? { swarmKey: c.swarmKey } : {}),
    heartbeat: { interval: `${c.heartbeat.intervalMs}ms`, timeout: `${c.heartbeat.timeoutMs}ms` },
    syncInterval: `${c.syncIntervalMs}ms`,
    batchWindow: `${c.batchWindowMs}ms`,
    watchRingAbove: c.watchRingAbove
  }
}

function check (file: unknown, source: string): ConfigFile {
  const r = configFileSchema.safeParse(file)
  if (!r.success) throw new ConfigError(`${source}: ${describeIssues(r.error).join('; ')}`)
  return r.data
}

/** The schema's defaults: the host name, one `slot` per CPU, and what config/default.yaml shows. */
export function defaultConfig (): AgentConfig {
  return fromFile(check({}, 'defaults'), false)
}

/** A parsed YAML config object over `base`: the settings it gives win; every one is checked. */
export function mergeConfig (base: AgentConfig, raw: unknown, source: string): AgentConfig {
  if (raw === null || raw === undefined) return base
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source}: the config must be a mapping of settings`)
  const merged = overlay(toFile(base) as Record<string, unknown>, raw as Record<string, unknown>)
  return fromFile(check(merged, source), base.enableTestGate)
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

/** `gpu=gpu0,gpu1` or `gpu=2` (two instances named gpu0, gpu1). */
export function parseResourceFlag (flag: string): [string, string[]] {
  const eq = flag.indexOf('=')
  if (eq <= 0) throw new ConfigError(`--resource '${flag}': expected TYPE=ID,ID or TYPE=COUNT, e.g. gpu=gpu0,gpu1`)
  const type = flag.slice(0, eq).trim()
  const rest = flag.slice(eq + 1).trim()
  const ids = resourceIds(type, /^\d+$/.test(rest) ? Number(rest) : rest.split(',').map(s => s.trim()).filter(s => s !== ''))
  if (typeof ids === 'string') throw new ConfigError(`--resource '${flag}': ${ids}`)
  return [type, ids]
}

/** Resources as the file gives them (type → IDs or a count) → type → instance IDs. */
export function validateResources (res: Record<string, unknown>): Record<string, string[]> {
  const r = resourcesSchema.safeParse(res)
  if (!r.success) throw new ConfigError(describeIssues(r.error).join('; '))
  return r.data
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
