// D-3: kill -9 a real agent while jobs run; restart it on the same data directory.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, cleanup, forkServerOf, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true } catch { return false } }

test('D-3: after kill -9 and a restart, running attempts are lost and retried, queued work runs, every joblist ends', async () => {
  const dataDir = tempDir()
  // Jobs started by the agent itself (no fork server) outlive a killed agent: the restarted
  // agent must end them. (With the fork server they end with the agent: see the next test.)
  const config = join(dataDir, 'no-fork-server.yaml')
  writeFileSync(config, 'exec:\n  forkServer: false\n')
  const args = ['--resource', 'slot=1', '--config', config]
  let agent = await startAgent({ name: 'crashy', dataDir, args })
  try {
    const first = await api(agent.url, '/v1/joblists', {
      body: { name: 'interrupted', stages: [{ name: 's', jobs: [{ name: 'long', run: 'echo $$ > pid; [ "$CIS_ATTEMPT" -ge 2 ] || sleep 60' }] }, { name: 't', jobs: [{ name: 'after', run: 'true' }] }] }
    })
    assert.equal(first.status, 201)
    const queued = []
    for (let i = 0; i < 3; i++) {
      const r = await api(agent.url, '/v1/joblists', { body: { name: `queued-${i}`, stages: [{ name: 's', jobs: [{ name: 'q', run: 'true' }] }] } })
      assert.equal(r.status, 201)
      queued.push(r.body.id as string)
    }
    const id = first.body.id as string
    const running = await waitFor('the first job to run', async () => {
      const b = (await api(agent.url, `/v1/joblists/${id}`)).body
      return b.stages[0].jobs[0].state === 'running' ? b : undefined
    })
    const workdir = join(dataDir, 'jobs', id, running.stages[0].jobs[0].id, '1')
    const leftover = await waitFor('the job to write its pid', () => Number(readFileSync(join(workdir, 'pid'), 'utf8')))
    for (const q of queued) assert.equal((await api(agent.url, `/v1/joblists/${q}`)).body.state, 'queued')

    await agent.kill()
    assert.ok(alive(leftover), 'the job outlived the killed agent (its own process group)')

    agent = await startAgent({ name: 'crashy', dataDir, args })
    const jl = await waitFinal(agent.url, id)
    assert.equal(jl.state, 'succeeded')
    const attempts = jl.stages[0].jobs[0].attempts
    assert.deepEqual(attempts.map((a: any) => a.state), ['lost', 'succeeded'])
    assert.match(attempts[0].reason, /restarted/)
    for (const q of queued) assert.equal((await waitFinal(agent.url, q)).state, 'succeeded', `queued joblist ${q} ran after the restart`)
    await waitFor('the leftover process to be killed', () => !alive(leftover), 10_000)
    const listed = (await api(agent.url, '/v1/joblists')).body.joblists
    assert.equal(listed.length, 4, 'nothing accepted was lost, nothing doubled')
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('D-3: a graceful stop records running attempts as lost and they run again after the restart', async () => {
  const dataDir = tempDir()
  let agent = await startAgent({ name: 'graceful', dataDir })
  try {
    const r = await api(agent.url, '/v1/joblists', { body: { name: 'g', stages: [{ name: 's', jobs: [{ name: 'x', run: '[ "$CIS_ATTEMPT" -ge 2 ] || sleep 60' }] }] } })
    const id = r.body.id as string
    await waitFor('the job to run', async () => (await api(agent.url, `/v1/joblists/${id}`)).body.stages[0].jobs[0].state === 'running')
    await agent.stop()
    agent = await startAgent({ name: 'graceful', dataDir })
    const jl = await waitFinal(agent.url, id)
    assert.equal(jl.state, 'succeeded', `the attempts: ${JSON.stringify(jl.stages[0].jobs[0].attempts.map((a: any) => [a.state, a.reason]))}`)
    assert.deepEqual(jl.stages[0].jobs[0].attempts.map((a: any) => a.state), ['lost', 'succeeded'])
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('D-3: a corrupt store gives a clear error at start and a non-zero exit, not a silent loss', async () => {
  const dataDir = tempDir()
  const agent = await startAgent({ name: 'corrupt', dataDir })
  await api(agent.url, '/v1/joblists', { body: { name: 'keep', stages: [{ name: 's', jobs: [{ name: 'x', run: 'true' }] }] } })
  await agent.stop()
  // Damage every table file of the store.
  const { readdirSync, writeFileSync } = await import('node:fs')
  const store = join(dataDir, 'store')
  const files = readdirSync(store).filter(f => /\.(ldb|log)$/.test(f) || f.startsWith('MANIFEST'))
  assert.ok(files.length > 0)
  for (const f of files) writeFileSync(join(store, f), 'garbage '.repeat(100))
  const { spawnSync } = await import('node:child_process')
  const { CIS } = await import('../helpers/agent.js')
  const r = spawnSync(process.execPath, [CIS, 'agent', '--data', dataDir, '--api', '127.0.0.1:0', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--log-level', 'silent'], { encoding: 'utf8', timeout: 30_000 })
  assert.notEqual(r.status, 0, 'the agent refuses to start')
  assert.match(r.stderr, /cannot open the store|cannot read/, r.stderr)
  assert.match(r.stderr, /restore a backup|empty --data/)
  cleanup(dataDir)
})

test('R1-1/D-3: the jobs of a killed agent end with it (its fork server ends them), so they cannot run on unseen', async () => {
  const dataDir = tempDir()
  const agent = await startAgent({ name: 'killed', dataDir, args: ['--resource', 'slot=1'] })
  try {
    const r = await api(agent.url, '/v1/joblists', { body: { name: 'orphan', stages: [{ name: 's', jobs: [{ name: 'long', run: 'echo $$ > pid; sleep 60' }] }] } })
    const id = r.body.id as string
    const jl = await waitFor('the job to run', async () => {
      const b = (await api(agent.url, `/v1/joblists/${id}`)).body
      return b.stages[0].jobs[0].state === 'running' ? b : undefined
    })
    const pidFile = join(dataDir, 'jobs', id, jl.stages[0].jobs[0].id, '1', 'pid')
    const pid = await waitFor('the job to write its pid', () => Number(readFileSync(pidFile, 'utf8')))
    assert.ok(alive(pid))
    await agent.kill()
    await waitFor('the job to end with its agent', () => !alive(pid), 10_000)
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('D-3: if the fork server dies, its running jobs are reported lost and run again; new jobs still start', async () => {
  const dataDir = tempDir()
  const agent = await startAgent({ name: 'forky', dataDir })
  try {
    const r = await api(agent.url, '/v1/joblists', { body: { name: 'survives', stages: [{ name: 's', jobs: [{ name: 'x', run: '[ "$CIS_ATTEMPT" -ge 2 ] || sleep 60' }] }] } })
    const id = r.body.id as string
    await waitFor('the job to run', async () => (await api(agent.url, `/v1/joblists/${id}`)).body.stages[0].jobs[0].state === 'running')
    const forkServer = forkServerOf(agent.proc.pid as number)
    assert.ok(forkServer !== undefined, 'the agent runs a fork server')
    process.kill(forkServer.pid, 'SIGKILL')
    const jl = await waitFinal(agent.url, id)
    assert.equal(jl.state, 'succeeded', `the attempts: ${JSON.stringify(jl.stages[0].jobs[0].attempts.map((a: any) => [a.state, a.reason]))}`)
    assert.deepEqual(jl.stages[0].jobs[0].attempts.map((a: any) => a.state), ['lost', 'succeeded'])
    assert.match(jl.stages[0].jobs[0].attempts[0].reason, /fork server died/)
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('D-3: a full disk stops the agent with a clear error; after space is freed it resumes and loses nothing it accepted', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const mnt = tempDir('cis-full-')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt], { stdio: 'pipe' })
  } catch {
    t.skip('needs root to mount a small tmpfs')
    cleanup(mnt)
    return
  }
  const dataDir = join(mnt, 'data')
  try {
    let agent = await startAgent({ name: 'full', dataDir })
    const ok = await api(agent.url, '/v1/joblists', { body: { name: 'kept', stages: [{ name: 's', jobs: [{ name: 'x', run: 'true' }] }] } })
    assert.equal(ok.status, 201)
    const big = (i: number): unknown => ({ name: `big-${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', files: [{ path: 'f', content: 'x'.repeat(60_000) }] }] }] })
    for (let i = 0; i < 10 && agent.proc.exitCode === null; i++) {
      try { await api(agent.url, '/v1/joblists', { body: big(i) }) } catch { /* the agent stopped mid-request */ }
    }
    await waitFor('the agent to stop', () => agent.proc.exitCode !== null || agent.proc.signalCode !== null, 10_000)
    assert.equal(agent.proc.exitCode, 70)
    assert.match(agent.output(), /cannot write to the store .*no space left on device.*free space and start it again/is) // (LevelDB says "No space", Node's journal write "no space")
    execFileSync('mount', ['-o', 'remount,size=20m', mnt], { stdio: 'pipe' })
    agent = await startAgent({ name: 'full', dataDir })
    const jl = await waitFinal(agent.url, ok.body.id as string)
    assert.equal(jl.state, 'succeeded', 'what was accepted before the disk filled up is still there and runs')
    await agent.stop()
  } finally {
    try { execFileSync('umount', [mnt], { stdio: 'pipe' }) } catch { /* not mounted */ }
    cleanup(mnt)
  }
})
