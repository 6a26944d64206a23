// R1-1, for the harnesses that start agents (tests, benches, a supervisor): with
// CIS_EXIT_WITH_PARENT=1 an agent whose starter is gone (killed with SIGKILL: its cleanup never
// ran) stops, its fork server with it; without it, it runs on (as an operator's agent must when
// the shell that started it goes).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { cleanup, forkServerOf, ROOT, waitFor, sleep } from '../helpers/agent.js'

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

/** A starter process that starts an agent (the test helper, so with its environment) and then only waits; it prints the agent's PID and data directory. */
async function starter (exitWithParent: '0' | '1'): Promise<{ starterPid: number, agentPid: number, dataDir: string }> {
  const helper = pathToFileURL(join(ROOT, 'dist', 'test', 'helpers', 'agent.js')).href
  const code = `import { startAgent } from ${JSON.stringify(helper)}
const a = await startAgent({ name: 'orphan', args: ['--resource', 'slot=1'], env: { CIS_EXIT_WITH_PARENT: ${JSON.stringify(exitWithParent)} } })
console.log(JSON.stringify({ agentPid: a.proc.pid, dataDir: a.dataDir }))
setInterval(() => {}, 1000)`
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const line = await waitFor('the starter to start its agent', () => {
    if (p.exitCode !== null) throw new Error(`the starter exited with ${p.exitCode}`)
    return out.includes('\n') ? out.split('\n')[0] : undefined
  }, 60_000, 50)
  const { agentPid, dataDir } = JSON.parse(line) as { agentPid: number, dataDir: string }
  return { starterPid: p.pid as number, agentPid, dataDir }
}

test('R1-1: CIS_EXIT_WITH_PARENT=1: an agent whose starter was killed (no cleanup ran) stops, and its fork server; without it the agent runs on', async () => {
  const left: number[] = []
  const dirs: string[] = []
  try {
    const told = await starter('1')
    const untold = await starter('0')
    left.push(told.agentPid, untold.agentPid, told.starterPid, untold.starterPid)
    dirs.push(told.dataDir, untold.dataDir)
    const forkServer = await waitFor('the agent\'s fork server', () => forkServerOf(told.agentPid), 30_000, 50)
    left.push(forkServer.pid)
    process.kill(told.starterPid, 'SIGKILL')
    process.kill(untold.starterPid, 'SIGKILL')
    await waitFor('the agent whose starter is gone to stop', () => !alive(told.agentPid), 60_000, 100)
    await waitFor('its fork server to go with it', () => !alive(forkServer.pid), 30_000, 100)
    assert.ok(!existsSync(join(told.dataDir, 'agent.json')), 'it stopped as on SIGTERM (a stop removes agent.json; a crash would leave it)')
    // The other was not told: a few of the watch's intervals later it still runs.
    await sleep(5000)
    assert.ok(alive(untold.agentPid), 'an agent not told to (CIS_EXIT_WITH_PARENT unset or 0) runs on without its starter')
  } finally {
    for (const pid of left) if (alive(pid)) try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
    for (const d of dirs) cleanup(d)
  }
})
