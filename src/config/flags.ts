// `cis agent` flags → the agent's configuration: the defaults, then the --config file, then
// the flags. Flags that set a file setting are checked by the same schema as the file.
import { ConfigError, defaultConfig, isLoopback, loadConfigFile, mergeConfig, parseHostPort, parseResourceFlag, validateResources } from './config.js'
import type { AgentConfig } from './config.js'

/** The options `cis agent` takes (see agent-options.ts), as commander gives them. */
export interface AgentFlags {
  config?: string
  data?: string
  name?: string
  api?: string
  resource?: string[]
  profile?: string[]
  /** A number when parsed by addAgentOptions, a string from older callers. */
  priority?: string | number
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
  lostAfter?: string
  watchRingAbove?: number
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
    const p = typeof flags.priority === 'number' ? flags.priority : Number(flags.priority)
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
    more.heartbeat = { interval: flags.heartbeatInterval, timeout: flags.heartbeatTimeout }
  }
  if (flags.nodesLogInterval !== undefined) more.nodesLogInterval = flags.nodesLogInterval
  if (flags.lostAfter !== undefined) more.scheduler = { lostAfter: flags.lostAfter }
  if (flags.watchRingAbove !== undefined) more.watchRingAbove = flags.watchRingAbove
  // Through the schema: the duration flags, and a check of everything the flags set above.
  c = mergeConfig(c, more, 'flags')
  const [host] = parseHostPort(c.api)
  if (!isLoopback(host) && c.token === undefined) {
    throw new ConfigError(`the API would listen on ${c.api}, beyond loopback, without a token: set --token (or CIS_TOKEN, or 'token:' in the config)`)
  }
  return c
}
