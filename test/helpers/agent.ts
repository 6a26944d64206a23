// Start real `cis agent` processes on 127.0.0.1 for end-to-end tests; always clean up.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FINAL_JOBLIST_STATES } from '../../src/state/types.js'

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..')
export const CIS = join(ROOT, 'bin', 'cis.js')
/**
 * The node flags on the first line of bin/cis.js (`#!/usr/bin/env -S node FLAGS`): what an
 * agent started as `cis agent` runs with, so the tests and benches run it the same way.
 */
export const CIS_NODE_FLAGS = nodeFlagsOf(readFileSync(CIS, 'utf8').split('\n', 1)[0])

/** The flags after `node` in a `#!/usr/bin/env -S node …` line ([] for any other first line). */
export function nodeFlagsOf (shebang: string): string[] {
  const m = /^#!\/usr\/bin\/env -S node((?: +-[^ ]+)*) *$/.exec(shebang)
  return m === null ? [] : m[1].split(' ').filter(Boolean)
}

const live = new Set<ChildProcess>()
process.on('exit', () => { for (const p of live) try { p.kill('SIGKILL') } catch { /* gone */ } })

export interface Agent {
  url: string
  dataDir: string
  proc: ChildProcess
  output: () => string
  /** SIGTERM and wait for exit. */
  stop: () => Promise<void>
  /** SIGKILL and wait for exit. */
  kill: () => Promise<void>
}

export interface AgentOptions {
  name?: string
  dataDir?: string
  args?: string[]
  env?: NodeJS.ProcessEnv
  /** Flags for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[]
  /** A command to run the agent under, e.g. ['ip', 'netns', 'exec', 'ns1']. */
  wrap?: string[]
  /** The API address (default 127.0.0.1:0). */
  api?: string
  /** Run bin/cis.js itself (its first line picks node and its flags), as `cis agent` runs. */
  asExecutable?: boolean
}

let apiToken: string | undefined
/** Send this bearer token with every api() call (agents beyond loopback need one). */
export function setApiToken (token: string | undefined): void { apiToken = token }

/** An agent's fork server (its child running spawner-main.js), from /proc: its PID and command line. */
export function forkServerOf (agentPid: number): { pid: number, cmdline: string } | undefined {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ')
      if (cmdline.includes('spawner-main.js') && Number(stat.split(') ')[1].split(' ')[1]) === agentPid) return { pid: Number(p), cmdline }
    } catch { /* gone meanwhile */ }
  }
  return undefined
}

export function tempDir (prefix = 'cis-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Poll `check` until it returns a value (not undefined/false), bounded in time. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < until) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) { last = err }
    await sleep(everyMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${(last as Error).message}` : ''}`)
}

export async function startAgent (o: AgentOptions = {}): Promise<Agent> {
  const dataDir = o.dataDir ?? tempDir()
  const infoFile = join(dataDir, 'agent.json')
  rmSync(infoFile, { force: true })
  // Loopback only, on a free port, no mDNS (unless the test says otherwise): a test agent never
  // collides with another agent on this machine nor reaches beyond it.
  const own = o.args ?? []
  const net = [...(own.includes('--listen') ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0']), ...(own.includes('--no-mdns') ? [] : ['--no-mdns'])]
  const agentArgs = ['agent', '--data', dataDir, '--api', o.api ?? '127.0.0.1:0', '--name', o.name ?? 'test-node', '--log-level', process.env.CIS_TEST_LOG_LEVEL ?? 'warn', ...net, ...own]
  const command = o.asExecutable === true ? [CIS, ...agentArgs] : [process.execPath, ...CIS_NODE_FLAGS, ...(o.nodeArgs ?? []), CIS, ...agentArgs]
  const [cmd, ...cmdArgs] = [...(o.wrap ?? []), ...command]
  // (CIS_EXIT_WITH_PARENT: a test process killed mid-run, which never runs its cleanup, leaves
  // no agent behind. A `wrap` command must exec the agent, not fork it: the agent's parent must be this process.)
  const proc = spawn(cmd, cmdArgs, { cwd: ROOT, env: { CIS_EXIT_WITH_PARENT: String(process.pid), ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(proc)
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<void>(resolve => proc.once('exit', () => { live.delete(proc); resolve() }))
  // (After 'exit', its output may still be on the way: 'close' comes once all of it is read.)
  const closed = new Promise<void>(resolve => proc.once('close', () => resolve()))
  let info: { api: string }
  try {
    const started = await waitFor('the agent to write agent.json', () => {
      // An agent that exits (e.g. refuses to start) ends the wait at once.
      if (proc.exitCode !== null) return { exitCode: proc.exitCode }
      try { return { info: JSON.parse(readFileSync(infoFile, 'utf8')) as { api: string } } } catch { return undefined }
    }, 30_000)
    if ('exitCode' in started) {
      await closed
      throw new Error(`agent exited with ${started.exitCode}`)
    }
    info = started.info
  } catch (err) {
    // An agent that never came up is not left behind (it would keep the test run alive).
    proc.kill('SIGKILL')
    await exited
    throw new Error(`${(err as Error).message}; its output:\n${out.slice(-4000)}`)
  }
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
    // An agent that does not stop on SIGTERM is killed, and said: a graceful stop that hangs
    // (an open stream kept the API's close waiting) is a defect the tests must not hide.
    const t = setTimeout(() => {
      process.stderr.write(`test helper: the agent ${o.name ?? 'test-node'} (${dataDir}) did not stop within ${STOP_WAIT_MS} ms of ${signal}: killed\n`)
      proc.kill('SIGKILL')
    }, STOP_WAIT_MS)
    await exited
    clearTimeout(t)
  }
  return { url: info.api, dataDir, proc, output: () => out, stop: async () => await end('SIGTERM'), kill: async () => await end('SIGKILL') }
}

/** How long stop() waits for an agent to exit on SIGTERM before it kills it (and says so). */
const STOP_WAIT_MS = 15_000

export interface Reply<T = any> { status: number, body: T, headers: Headers }

export async function api<T = any> (url: string, path: string, init: { method?: string, body?: unknown, raw?: string, contentType?: string, headers?: Record<string, string> } = {}): Promise<Reply<T>> {
  const headers: Record<string, string> = { ...(apiToken !== undefined ? { authorization: `Bearer ${apiToken}` } : {}), ...init.headers }
  let body: string | undefined
  if (init.raw !== undefined) { body = init.raw; headers['content-type'] = init.contentType ?? 'application/json' } else if (init.body !== undefined) { body = JSON.stringify(init.body); headers['content-type'] = 'application/json' }
  const res = await fetch(url + path, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(15_000) })
  const text = await res.text()
  let parsed: unknown = text
  if ((res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text)
  return { status: res.status, body: parsed as T, headers: res.headers }
}

/** An agent's count of membership messages of one direction and kind (`cis_membership_messages_total`, P-5); NaN if it has no such line. */
/** The IDs of the joblists an agent holds in memory (an unfiltered list shows only those; G-4), sorted. */
export async function joblistsInMemory (url: string): Promise<string[]> {
  return ((await api(url, '/v1/joblists')).body.joblists as Array<{ id: string }>).map(j => j.id).sort()
}

export async function membershipCount (url: string, direction: 'sent' | 'received', kind: string): Promise<number> {
  const line = (await api<string>(url, '/metrics')).body.split('\n').find(l => l.startsWith(`cis_membership_messages_total{direction="${direction}",kind="${kind}"}`))
  return Number(line?.split(' ')[1] ?? NaN)
}

/** Wait until a joblist reaches a final state; returns its JSON. */
export async function waitFinal (url: string, id: string, timeoutMs = 30_000): Promise<any> {
  let last: any
  try {
    return await waitFor(`joblist ${id} to end`, async () => {
      const r = await api(url, `/v1/joblists/${id}`)
      last = r.body
      return FINAL_JOBLIST_STATES.has(r.body.state) ? r.body : undefined
    }, timeoutMs, 50)
  } catch (err) {
    // Say where it stuck: every job's state, node, attempts and why it waits.
    const jobs = (last?.stages ?? []).flatMap((s: any) => s.jobs.map((j: any) => `${s.name as string}/${j.name as string}: ${j.state as string} on ${j.node as string} attempts ${JSON.stringify(j.attempts.map((a: any) => [a.state, a.node, a.reason]))}${j.waiting !== undefined ? ` waits: ${j.waiting as string}` : ''}`))
    throw new Error(`${(err as Error).message}; last seen ${last?.state as string}: ${jobs.join(' | ')}`)
  }
}

/** Remove a test's directory (CIS_KEEP_DATA=1: keep it and say where, to look into a failure). */
export function cleanup (dir: string): void {
  if (process.env.CIS_KEEP_DATA === '1') { process.stderr.write(`kept ${dir} (CIS_KEEP_DATA=1)\n`); return }
  rmSync(dir, { recursive: true, force: true })
}
