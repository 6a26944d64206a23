// `cis agent`: build the configuration, start the node and its API, stop cleanly on signals.
import { writeFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { buildApi } from '../api/server.js'
import { ConfigError, defaultConfig, isLoopback, loadConfigFile, mergeConfig, parseHostPort, parseResourceFlag, validateResources } from '../config/config.js'
import type { AgentConfig } from '../config/config.js'
import { createLogger } from './logger.js'
import { CisNode } from '../node/node.js'

export interface AgentFlags {
  config?: string
  data?: string
  name?: string
  api?: string
  resource?: string[]
  profile?: string[]
  priority?: string
  token?: string
  logLevel?: string
  listen?: string[]
  peer?: string[]
  mdns?: boolean
  swarmKey?: string
  enableTestGate?: boolean
  heartbeatInterval?: string
  heartbeatTimeout?: string
  nodesLogInterval?: string
}

export function configFromFlags (flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let c = defaultConfig()
  if (flags.config !== undefined) c = loadConfigFile(flags.config, c)
  if (flags.data !== undefined) c.data = flags.data
  if (flags.name !== undefined) c.name = flags.name
  if (flags.api !== undefined) c.api = flags.api
  if (flags.resource !== undefined && flags.resource.length > 0) {
    const res: Record<string, unknown> = {}
    for (const r of flags.resource) { const [type, ids] = parseResourceFlag(r); res[type] = ids }
    c.resources = validateResources({ ...c.resources, ...res })
  }
  if (flags.profile !== undefined && flags.profile.length > 0) c.profiles = flags.profile
  if (flags.priority !== undefined) {
    const p = Number(flags.priority)
    if (!Number.isInteger(p)) throw new ConfigError(`--priority '${flags.priority}': expected an integer`)
    c.priority = p
  }
  const token = flags.token ?? env.CIS_TOKEN
  if (token !== undefined && token !== '') c.token = token
  if (flags.logLevel !== undefined) c.log.level = flags.logLevel
  if (flags.listen !== undefined && flags.listen.length > 0) c.listen = flags.listen
  if (flags.peer !== undefined && flags.peer.length > 0) c.peers = [...c.peers, ...flags.peer]
  if (flags.mdns === false) c.mdns = false
  if (flags.swarmKey !== undefined) c.swarmKey = flags.swarmKey
  if (flags.enableTestGate === true) c.enableTestGate = true
  const more: Record<string, unknown> = {}
  if (flags.heartbeatInterval !== undefined || flags.heartbeatTimeout !== undefined) {
    more.heartbeat = {
      interval: flags.heartbeatInterval ?? `${c.heartbeat.intervalMs}ms`,
      timeout: flags.heartbeatTimeout ?? `${c.heartbeat.timeoutMs}ms`
    }
  }
  if (flags.nodesLogInterval !== undefined) more.nodesLogInterval = flags.nodesLogInterval
  if (Object.keys(more).length > 0) c = mergeConfig(c, more, 'flags')
  const [host] = parseHostPort(c.api)
  if (!isLoopback(host) && c.token === undefined) {
    throw new ConfigError(`the API would listen on ${c.api}, beyond loopback, without a token: set --token (or CIS_TOKEN, or 'token:' in the config)`)
  }
  return c
}

export async function runAgent (flags: AgentFlags): Promise<void> {
  let config: AgentConfig
  try {
    config = configFromFlags(flags)
  } catch (err) {
    process.stderr.write(`cis agent: ${(err as Error).message}\n`)
    process.exitCode = 2
    return
  }
  const log = await createLogger(config.log.level, config.log.pretty, config.name)
  const node = new CisNode({
    config,
    log,
    onFatal: err => {
      process.stderr.write(`cis agent: ${err.message}\n`)
      // Exit at once: the state in memory is ahead of the disk and must not be acted on.
      process.exit(70)
    }
  })
  try {
    await node.start()
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start')
    process.stderr.write(`cis agent: ${(err as Error).message}\n`)
    process.exitCode = 1
    return
  }
  const [host, port] = parseHostPort(config.api)
  const api = buildApi(node, { ...(config.token !== undefined ? { token: config.token } : {}), bodyLimit: config.api_limits.bodyBytes, requireToken: !isLoopback(host), testGate: config.enableTestGate })
  let url: string
  try {
    await api.listen({ host, port })
    const addr = api.server.address()
    const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port
    url = `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`
  } catch (err) {
    const msg = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `${config.api} is in use: is another agent running? Choose another with --api HOST:PORT` : (err as Error).message
    log.fatal({ err: msg }, 'cannot listen')
    process.stderr.write(`cis agent: ${msg}\n`)
    await node.stop()
    process.exitCode = 1
    return
  }
  await node.announce(url)
  const infoFile = join(node.dataDir, 'agent.json')
  await writeFile(infoFile, JSON.stringify({ pid: process.pid, id: node.id, name: config.name, api: url, p2p: node.mesh?.addresses() ?? [] }) + '\n')
  log.info({ api: url, id: node.id, data: node.dataDir, resources: config.resources }, `cis agent ready: submit with 'cis submit FILE --addr ${url}'`)

  let stopping = false
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping: ending running jobs')
    const force = setTimeout(() => process.exit(1), config.exec.killGraceMs + 10_000)
    force.unref()
    await api.close()
    await node.stop()
    await rm(infoFile, { force: true })
    log.info('stopped')
  }
  process.once('SIGINT', () => { void shutdown('SIGINT') })
  process.once('SIGTERM', () => { void shutdown('SIGTERM') })
}
