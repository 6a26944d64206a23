// R1-1, for the harnesses that start agents (tests, benches, a supervisor): with
// CIS_EXIT_WITH_PARENT=PID (the starter's process ID; the test helper sets it) an agent whose
// starter is gone (killed with SIGKILL: its cleanup never ran) stops, its fork server with it;
// without it, it runs on (as an operator's agent must when the shell that started it goes).
// The agent's jobs do not inherit the variable.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { api, cleanup, forkServerOf, ROOT, waitFinal, waitFor, sleep } from '../helpers/agent.js'

/** The process exists and is not a zombie (an orphan's zombie lasts until its new parent reaps it). */
function alive (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z'
  } catch {
    return false
  }
}

/** A starter process that starts an agent with the test helper (so with its environment) and then only waits; it prints the agent's PID, URL and data directory. */
async function starter (told: boolean): Promise<{ starterPid: number, agentPid: number, url: string, dataDir: string }> {
  const helper = pathToFileURL(join(ROOT, 'dist', 'test', 'helpers', 'agent.js')).href
  const code = `import { startAgent } from ${JSON.stringify(helper)}
const a = await startAgent({ name: 'orphan', args: ['--resource', 'slot=1'], ${told ? '' : "env: { CIS_EXIT_WITH_PARENT: '0' }"} })
console.log(JSON.stringify({ agentPid: a.proc.pid, url: a.url, dataDir: a.dataDir }))
setInterval(() => {}, 1000)`
  const env = { ...process.env }
  delete env.CIS_EXIT_WITH_PARENT
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const line = await waitFor('the starter to start its agent', () => {
    if (p.exitCode !== null) throw new Error(`the starter exited with ${p.exitCode}`)
    return out.includes('\n') ? out.split('\n')[0] : undefined
  }, 60_000, 50)
  return { starterPid: p.pid as number, ...JSON.parse(line) as { agentPid: number, url: string, dataDir: string } }
}

test('R1-1: CIS_EXIT_WITH_PARENT=PID: an agent whose starter was killed (no cleanup ran) stops, and its fork server; without it the agent runs on; jobs do not inherit it', async () => {
  const left: number[] = []
  const dirs: string[] = []
  try {
    const told = await starter(true)
    left.push(told.agentPid, told.starterPid)
    dirs.push(told.dataDir)
    const untold = await starter(false)
    left.push(untold.agentPid, untold.starterPid)
    dirs.push(untold.dataDir)
    // A job's environment: the agent took the variable out of its own.
    const r = await api(told.url, '/v1/joblists', { body: { name: 'env', stages: [{ name: 's', jobs: [{ name: 'env', run: 'env' }] }] } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const done = await waitFinal(told.url, r.body.id as string)
    assert.equal(done.state, 'succeeded')
    const logs = JSON.stringify((await api(told.url, `/v1/jobs/${encodeURIComponent(done.stages[0].jobs[0].id as string)}/logs`)).body)
    assert.match(logs, /CIS_JOB_ID=/, 'the job\'s environment is in its output')
    assert.doesNotMatch(logs, /CIS_EXIT_WITH_PARENT/)
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
