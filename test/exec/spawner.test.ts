// The fork server (src/exec/spawner.ts, spawner-main.ts): the requests made in one turn of the
// agent's event loop go to it in one write, and its answers of a turn come back in one: what
// each job reports must stay its own, and a request not yet written when the agent stops or the
// fork server dies must be reported, never started later on another fork server.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { Spawner } from '../../src/exec/spawner.js'
import type { ProcessOptions } from '../../src/exec/process.js'

const silent = pino({ level: 'silent' })

async function withDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cis-spawner-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

const opts = (dir: string, n: number, command: string): ProcessOptions =>
  ({ command, cwd: dir, env: { ...process.env }, stdoutFile: join(dir, `${n}.stdout`), stderrFile: join(dir, `${n}.stderr`), graceMs: 1000 })

/** Until `ok` or `ms` pass (bounded). */
async function until (ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!ok() && Date.now() < end) await sleep(20)
  return ok()
}

test('R6-1: jobs started in one turn (one write to the fork server) each run once and report their own pid, exit code and output', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const spawner = new Spawner(silent)
    spawner.start()
    try {
      // Eight in one synchronous loop: their requests share one write, their answers come back together.
      const runs = Array.from({ length: 8 }, (_, i) => spawner.run(opts(dir, i, `echo out-${i}; exit ${i}`)))
      const pids = await Promise.all(runs.map(async r => await r.pidReady))
      const results = await Promise.all(runs.map(async r => await r.done))
      assert.equal(new Set(pids).size, 8, `eight processes, eight pids: ${pids.join(' ')}`)
      for (const p of pids) assert.ok(p > 0, `a pid: ${p}`)
      for (let i = 0; i < 8; i++) {
        assert.equal(results[i].exitCode, i, `job ${i}'s own exit code: ${JSON.stringify(results[i])}`)
        assert.equal(await readFile(join(dir, `${i}.stdout`), 'utf8'), `out-${i}\n`)
      }
      // A turn later, more: the fork server goes on.
      const again = await spawner.run(opts(dir, 8, 'exit 3')).done
      assert.equal(again.exitCode, 3)
    } finally { spawner.stop() }
  })
})

test('R1-5 (issue 12): with a hold, the fork server answers a short job\'s pid with its exit (one wake-up of the agent), and a longer one\'s pid when the hold ends', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const spawner = new Spawner(silent)
    spawner.start()
    try {
      // Not held: the pid alone, as soon as the job started.
      const plain = spawner.run(opts(dir, 0, 'exit 0'))
      assert.ok(await plain.pidReady > 0)
      assert.equal(plain.held(), undefined, 'no hold asked for: none reported')
      assert.equal((await plain.done).exitCode, 0)

      // A job that ends within the hold (the longest a fork server holds, 10 s: any machine ends `exit 4` sooner).
      const short = spawner.run({ ...opts(dir, 1, 'exit 4'), holdStartMs: 60_000 })
      let ended = false
      void short.done.then(() => { ended = true })
      const pid = await short.pidReady
      assert.ok(pid > 0, `a pid: ${pid}`)
      const held = short.held()
      assert.ok(held !== undefined && held.ending && held.sinceMs >= 0, `told as ending with its pid: ${JSON.stringify(held)}`)
      await Promise.resolve()
      assert.ok(ended, 'its exit came in the same write, read in the same turn as its pid')
      assert.equal((await short.done).exitCode, 4)

      // A job still running when the hold ends: its pid then, alone; it can be stopped as before.
      const long = spawner.run({ ...opts(dir, 2, 'sleep 30'), holdStartMs: 50 })
      const longPid = await long.pidReady
      const longHeld = long.held()
      assert.ok(longPid > 0)
      assert.ok(longHeld !== undefined && !longHeld.ending && longHeld.sinceMs >= 40, `held about 50 ms, still running: ${JSON.stringify(longHeld)}`)
      long.stop()
      const r = await long.done
      assert.equal(r.endedBy, 'stop', JSON.stringify(r))
    } finally { spawner.stop() }
  })
})

test('R6-1: a job gets exactly its environment through the fork server: the agent\'s variables, one of them changed, its own added (only what differs from the fork server\'s is sent)', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    // A variable of the agent's own (the fork server inherits it as it starts), that no shell sets.
    process.env.CIS_TEST_INHERITED = 'inherited value'
    const spawner = new Spawner(silent)
    spawner.start()
    try {
      const env = { ...process.env, CIS_TEST_CHANGED: 'changed', CIS_TEST_OWN: 'own value with spaces' }
      const job = spawner.run({ ...opts(dir, 1, 'printf \'%s|%s|%s\' "$CIS_TEST_CHANGED" "$CIS_TEST_OWN" "$CIS_TEST_INHERITED"'), env: { ...env, CIS_TEST_INHERITED: 'inherited value' } })
      assert.equal((await job.done).exitCode, 0)
      assert.equal(await readFile(join(dir, '1.stdout'), 'utf8'), 'changed|own value with spaces|inherited value')
      // The agent's variable changed for one job: that job sees the change, the next (asking for the agent's value) does not.
      const changed = spawner.run({ ...opts(dir, 2, 'printf %s "$CIS_TEST_INHERITED"'), env: { ...process.env, CIS_TEST_INHERITED: 'for this job' } })
      assert.equal((await changed.done).exitCode, 0)
      assert.equal(await readFile(join(dir, '2.stdout'), 'utf8'), 'for this job')
      const again = spawner.run(opts(dir, 3, 'printf %s "$CIS_TEST_INHERITED"'))
      assert.equal((await again.done).exitCode, 0)
      assert.equal(await readFile(join(dir, '3.stdout'), 'utf8'), 'inherited value')
    } finally {
      spawner.stop()
      delete process.env.CIS_TEST_INHERITED
    }
  })
})

test('R6-1: a job asked for in the turn the agent begins to stop is reported lost and never starts', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const spawner = new Spawner(silent)
    spawner.start()
    const marker = join(dir, 'ran')
    // A first job makes sure the fork server is up (so nothing below is about its start).
    assert.equal((await spawner.run(opts(dir, 0, 'true')).done).exitCode, 0)
    const p = spawner.run(opts(dir, 1, `touch "${marker}"`))
    spawner.stop()
    const r = await p.done
    assert.match(r.lost ?? '', /stopping/, `lost, the agent stopping: ${JSON.stringify(r)}`)
    assert.equal(await p.pidReady, -1, 'no pid: it never started')
    await sleep(300)
    assert.equal(existsSync(marker), false, 'the job did not run')
  })
})

test('R6-1: jobs asked for as the fork server dies are reported lost and never run (not started on the next fork server, no crash of the agent on the dead pipe); the next ones run there', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const spawner = new Spawner(silent)
    spawner.start()
    const marker = (i: number): string => join(dir, `ran-${i}`)
    try {
      assert.equal((await spawner.run(opts(dir, 0, 'true')).done).exitCode, 0)
      const first = spawner.pid
      assert.ok(first !== undefined && first > 0, 'the fork server runs')
      process.kill(first, 'SIGKILL')
      // Asked for at once, before the agent has seen the fork server go, and in the next turns
      // (a write to its dead pipe fails with EPIPE: before Dec 6 that error went unhandled and
      // ended the agent, two runs in six).
      const runs = []
      for (let i = 1; i <= 5; i++) {
        runs.push(spawner.run(opts(dir, i, `touch "${marker(i)}"`)).done)
        await new Promise(resolve => setImmediate(resolve))
      }
      const results = await Promise.all(runs)
      assert.ok(results[0].lost !== undefined && results[0].exitCode === null, `the first, asked for at once, is reported lost: ${JSON.stringify(results[0])}`)
      assert.ok(await until(() => spawner.pid !== undefined && spawner.pid !== first, 10_000), 'a new fork server started')
      const next = await spawner.run(opts(dir, 6, 'exit 4')).done
      assert.equal(next.exitCode, 4, `the next job runs on the new fork server: ${JSON.stringify(next)}`)
      await sleep(300)
      for (let i = 1; i <= 5; i++) {
        const r = results[i - 1]
        if (r.lost !== undefined) assert.equal(existsSync(marker(i)), false, `job ${i} was reported lost: it never ran`)
        else assert.ok(r.exitCode === 0 && existsSync(marker(i)), `job ${i} not lost: it ran, once: ${JSON.stringify(r)}`)
      }
    } finally { spawner.stop() }
  })
})

test('R6-1/D-3: a fork server that cannot be started (a spawn error: a process limit, no memory) does not end the agent; its jobs are reported lost, and it is tried again with a growing wait, not in a loop', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const lines: string[] = []
    const log = pino({ level: 'error' }, { write: (s: string) => { lines.push(s) } })
    // (A node executable that is not there: spawn fails as at EAGAIN, with an 'error' and no 'exit'.)
    const spawner = new Spawner(log, { execPath: join(dir, 'no-such-node') })
    spawner.start()
    try {
      const r = await spawner.run(opts(dir, 1, 'true')).done
      assert.ok(r.lost !== undefined && r.exitCode === null, `reported lost: ${JSON.stringify(r)}`)
      await sleep(1600)
      const tries = lines.filter(l => l.includes('could not be started')).length
      // 250 + 500 + 1000 ms apart: three or four tries in 1.6 s (an immediate restart made thousands).
      assert.ok(tries >= 2 && tries <= 5, `tried again with a growing wait: ${tries} failed starts in 1.6 s`)
      const later = await spawner.run(opts(dir, 2, 'true')).done
      assert.ok(later.lost !== undefined, `still lost, not hanging: ${JSON.stringify(later)}`)
    } finally { spawner.stop() }
    const after = lines.length
    await sleep(1200)
    assert.equal(lines.length, after, 'stopped: no more tries')
  })
})

test('R6-1/D-3: a fork server whose answers cannot be written (its agent died: EPIPE) ends its jobs and exits, so none runs on unseen', { timeout: 60_000 }, async () => {
  await withDir(async dir => {
    const main = fileURLToPath(new URL('../../src/exec/spawner-main.js', import.meta.url))
    const fs = spawn(process.execPath, [main], { stdio: ['pipe', 'pipe', 'ignore'] })
    const exited = new Promise<number | null>(resolve => fs.once('exit', code => resolve(code)))
    try {
      const first = new Promise<string>(resolve => { let buf = ''; fs.stdout.on('data', (b: Buffer) => { buf += b.toString(); if (buf.includes('\n')) resolve(buf.split('\n')[0]) }) })
      const req = (id: number, cmd: string): string => JSON.stringify({ id, cmd, cwd: dir, env: {}, out: join(dir, `${id}.out`), err: join(dir, `${id}.err`) }) + '\n'
      fs.stdin.write(req(1, 'sleep 30'))
      const pid = (JSON.parse(await first) as { pid: number }).pid
      assert.ok(pid > 0, 'the long job runs')
      // The agent's end of the answers' pipe goes (as when it dies), then one more request: its answer cannot be written.
      fs.stdout.destroy()
      fs.stdin.write(req(2, 'true'))
      const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')])
      assert.equal(code, 0, 'the fork server exited')
      const alive = (): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
      assert.ok(await until(() => !alive(), 10_000), `its job ${pid} was ended with it`)
    } finally { fs.kill('SIGKILL') }
  })
})
