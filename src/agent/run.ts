// `cis agent`: build the configuration, start the node and its API, stop cleanly on signals.
import { writeFile, rm } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { buildApi } from '../api/server.js'
import { isLoopback, parseHostPort } from '../config/config.js'
import { configFromFlags } from '../config/flags.js'
import type { AgentFlags } from '../config/flags.js'
import type { AgentConfig } from '../config/config.js'
import { createLogger } from './logger.js'
import { CisNode } from '../node/node.js'
import { everyOnGrid } from '../util/grid-timer.js'

/** How often an agent told to (CIS_EXIT_WITH_PARENT) looks whether the process that started it is still there. */
const PARENT_CHECK_MS = 2000

/**
 * CIS_EXIT_WITH_PARENT=PID: the process ID of the process that starts the agent (a test
 * harness, a supervisor), so that a starter killed even before the agent read its own parent
 * is noticed. Taken out of the environment, so the agent's jobs do not inherit it.
 */
function parentToFollow (): number | undefined {
  const v = process.env.CIS_EXIT_WITH_PARENT
  delete process.env.CIS_EXIT_WITH_PARENT
  if (v === undefined || v === '' || v === '0') return undefined
  const pid = Number(v)
  if (!Number.isSafeInteger(pid) || pid <= 1) {
    process.stderr.write(`cis agent: CIS_EXIT_WITH_PARENT=${v} is not a process ID: set it to the PID of the process that starts the agent (or unset it)\n`)
    return undefined
  }
  return pid
}

export async function runAgent (flags: AgentFlags): Promise<void> {
  const parent = parentToFollow()
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
    const cause = (err as Error).cause
    // An error of the code itself (not one of the start's own clear messages): its stack, and what to do.
    const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError
    log.fatal({ err: (err as Error).message, ...(cause instanceof Error ? { cause: cause.stack } : {}), ...(bug ? { stack: (err as Error).stack } : {}) }, 'cannot start')
    process.stderr.write(`cis agent: ${(err as Error).message}\n`)
    if (bug) process.stderr.write(`${(err as Error).stack ?? ''}\nThis is a defect of cis, not of your setup: please report it with the lines above. The data directory is left as it was.\n`)
    process.exitCode = 1
    // What had started (the fork server, the store) stops, and the process ends: a supervisor
    // must see the exit, and nothing left running may hold it up (bounded).
    setTimeout(() => process.exit(1), 5000).unref()
    await node.stop().catch(() => {})
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
  // (Once listening, fastify leaves the server without an 'error' listener: an accept that
  // fails — no buffers, no memory — would have ended the agent.)
  api.server.on('error', err => { log.error({ err: err.message }, 'the API server had an error; it goes on') })
  await node.announce(url)
  const infoFile = join(node.dataDir, 'agent.json')

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
    // Everything is ended and written: exit now (pino writes what is left of the log at the
    // exit). libp2p leaves a timer behind as its listeners close, its address book's one-second
    // debounce, which kept every stopping agent up for a second more.
    log.flush(() => process.exit())
  }
  // A stop that fails (the final snapshot's write on a full disk) is said and ends the agent
  // with 1, agent.json removed: it was an unhandled rejection, a stack trace and agent.json left.
  const stopOn = (signal: string): void => {
    shutdown(signal).catch(err => {
      const msg = `could not stop cleanly: ${(err as Error).message}. It resumes from what is on disk at its next start.`
      log.fatal({ err: (err as Error).message }, msg)
      process.stderr.write(`cis agent: ${msg}\n`)
      try { rmSync(infoFile, { force: true }) } catch { /* gone */ }
      process.exit(1)
    })
  }
  process.once('SIGINT', () => { stopOn('SIGINT') })
  process.once('SIGTERM', () => { stopOn('SIGTERM') })
  // (After the handlers: an agent.json that cannot be written, a full disk say, left an agent
  // running that a SIGTERM then killed without its graceful stop.)
  try {
    await writeFile(infoFile, JSON.stringify({ pid: process.pid, id: node.id, name: config.name, api: url, p2p: node.mesh?.addresses() ?? [] }) + '\n')
  } catch (err) {
    log.error({ err: (err as Error).message, file: infoFile }, `cannot write ${infoFile}: the agent runs, but \`cis\` finds it only with --addr ${url}. Is the disk full?`)
  }
  log.info({ api: url, id: node.id, data: node.dataDir, resources: config.resources }, `cis agent ready: submit with 'cis submit FILE --addr ${url}'`)
  // CIS_EXIT_WITH_PARENT=PID (a test harness, a supervisor without a process group of its
  // own): once the process that started this agent is gone (this one re-parented), stop as on
  // SIGTERM, rather than run on unowned after a harness was killed mid-run.
  // (On the wall clock's grid: at one of the heartbeat rounds, not a wake-up of its own.)
  if (parent !== undefined) {
    const watch = everyOnGrid(PARENT_CHECK_MS, () => {
      if (process.ppid === parent) return
      watch.stop()
      log.warn({ parent }, `the process that started this agent (${parent}, CIS_EXIT_WITH_PARENT) is gone: stopping`)
      stopOn('parent gone')
    })
  }
}
