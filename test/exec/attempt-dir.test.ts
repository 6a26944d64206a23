// An attempt's work directory (src/exec/attempt-dir.ts, files.ts attemptPaths): made level by
// level where attemptPaths puts it, whether or not its joblist's and job's directories are there
// yet; one that is there already (an attempt a crash left) is reported, not made again, so the
// executor clears it first (D-3). A job without files gets it from the fork server as it starts
// (off the agent's event loop), one with files from the agent, which writes them in first: either
// way the job runs in that directory, empty but for its files.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { attemptDirLevels, freshDir, makeDirs } from '../../src/exec/attempt-dir.js'
import { Executor } from '../../src/exec/executor.js'
import { attemptPaths } from '../../src/exec/files.js'
import { Spawner } from '../../src/exec/spawner.js'
import type { FinishedBody } from '../../src/events/types.js'
import { emptyState } from '../../src/state/types.js'
import type { AttemptRecord, JobRecord } from '../../src/state/types.js'
import type { JobSpec } from '../../src/spec/types.js'
import { job } from '../helpers/harness.js'

const silent = pino({ level: 'silent' })

/** Run attempt 1 of job `<joblistId>.1` (`run`, `files`) on an executor of `data`, through `spawner` or directly: how it finished. */
async function runAttempt (data: string, joblistId: string, spec: Partial<JobSpec>, spawner: Spawner | undefined): Promise<FinishedBody> {
  let report!: (b: FinishedBody) => void
  const reported = new Promise<FinishedBody>(resolve => { report = resolve })
  const ex = new Executor({ self: 'me', nodeName: 'me', apiUrl: () => '', dataDir: data, graceMs: 2000, log: silent, started: async () => {}, finished: async b => { report(b) }, ...(spawner !== undefined ? { spawner } : {}) })
  const rec: JobRecord = { id: `${joblistId}.1`, joblistId, name: 'j', stage: 0, spec: job('j', spec), state: 'running', cancelled: false }
  const attempt: AttemptRecord = { n: 1, node: 'me', resources: {}, state: 'assigned', assignedAt: 0, term: 1 }
  ex.launch(emptyState(), rec, attempt)
  return await reported
}

const isDir = (p: string): boolean => { try { return statSync(p).isDirectory() } catch { return false } }
const makeAttemptDir = (data: string, joblistId: string, jobId: string, attempt: number): boolean => makeDirs(attemptPaths(data, joblistId, jobId, attempt).levels)

test('R6-1/D-3: an attempt\'s work directory is made where attemptPaths says, in a data directory with no jobs yet, beside its joblist\'s other jobs and attempts', () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  try {
    assert.equal(isDir(join(data, 'jobs')), false)
    const made: string[] = []
    for (const [jl, job, attempt] of [['ab12-1', 'ab12-1.1', 1], ['ab12-1', 'ab12-1.2', 1], ['ab12-1', 'ab12-1.1', 2], ['ab12-2', 'ab12-2.1', 1]] as const) {
      assert.equal(makeAttemptDir(data, jl, job, attempt), true, `${job} attempt ${attempt} is new`)
      const w = attemptPaths(data, jl, job, attempt).workdir
      assert.ok(isDir(w), `${w} is a directory`)
      made.push(w)
    }
    assert.equal(new Set(made).size, 4)
  } finally {
    rmSync(data, { recursive: true, force: true })
  }
})

test('D-3: a work directory a crash left is reported as there (false) and left as it was for the executor to clear', () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  try {
    const w = attemptPaths(data, 'cd34-7', 'cd34-7.1', 1).workdir
    mkdirSync(w, { recursive: true })
    writeFileSync(join(w, 'left'), 'by the crash')
    assert.equal(makeAttemptDir(data, 'cd34-7', 'cd34-7.1', 1), false)
    assert.equal(readFileSync(join(w, 'left'), 'utf8'), 'by the crash')
    // Another attempt of the same job is new.
    assert.equal(makeAttemptDir(data, 'cd34-7', 'cd34-7.1', 2), true)
  } finally {
    rmSync(data, { recursive: true, force: true })
  }
})

test('D-3: a file where the joblist\'s directory should be is an error, not an attempt made elsewhere', () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  try {
    mkdirSync(join(data, 'jobs'))
    writeFileSync(join(data, 'jobs', 'ef56-3'), 'not a directory')
    assert.throws(() => makeAttemptDir(data, 'ef56-3', 'ef56-3.1', 1), (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR' || err.code === 'EEXIST')
  } finally {
    rmSync(data, { recursive: true, force: true })
  }
})

test('D-3: freshDir makes the work directory and its parents, and empties one a crash left (renamed aside and removed in the background)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  try {
    const levels = attemptDirLevels(data, 'gh78-1', 'gh78-1.1', 1)
    assert.equal(levels.at(-1), attemptPaths(data, 'gh78-1', 'gh78-1.1', 1).workdir)
    freshDir(levels)
    assert.ok(isDir(levels[2]))
    writeFileSync(join(levels[2], 'left'), 'by the crash')
    mkdirSync(join(levels[2], 'sub'))
    const aside = freshDir(levels)
    assert.ok(isDir(levels[2]))
    assert.deepEqual(readdirSync(levels[2]), [])
    // The left tree was renamed aside, beside it, and is removed in the background.
    assert.ok(aside !== undefined && aside.startsWith(levels[2] + '.left-'), String(aside))
    for (let i = 0; i < 200 && isDir(aside); i++) await new Promise(resolve => setTimeout(resolve, 10))
    assert.equal(isDir(aside), false, 'the left tree is removed')
    assert.deepEqual(readdirSync(levels[1]).sort(), ['1'])
  } finally {
    rmSync(data, { recursive: true, force: true })
  }
})

test('R6-1/D-3: a job runs in its attempt\'s work directory, empty but for its files, through the fork server (which makes it) or without, with files or none, after a crash left one', { timeout: 60_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  const spawner = new Spawner(silent)
  spawner.start()
  try {
    let n = 0
    for (const via of [spawner, undefined]) {
      for (const files of [[], [{ path: 'conf/app.ini', content: 'x=1\n', mode: 0o644, replace: {} }]]) {
        n++
        const joblistId = `ij90-${n}`
        const jobId = `${joblistId}.1`
        const paths = attemptPaths(data, joblistId, jobId, 1)
        // What a crash left: the attempt's directory with a file in it.
        mkdirSync(paths.workdir, { recursive: true })
        writeFileSync(join(paths.workdir, 'left'), 'by the crash')
        const how = `${via !== undefined ? 'fork server' : 'direct'}, ${files.length} files`
        const f = await runAttempt(data, joblistId, { run: 'pwd; find . | sort', files }, via)
        assert.equal(f.state, 'succeeded', `${how}: ${f.reason ?? ''}`)
        const [pwd, ...found] = readFileSync(paths.stdout, 'utf8').trim().split('\n')
        assert.equal(pwd, paths.workdir, how)
        assert.deepEqual(found, files.length === 0 ? ['.'] : ['.', './conf', './conf/app.ini'], how)
      }
    }
  } finally {
    spawner.stop()
    rmSync(data, { recursive: true, force: true })
  }
})

test('R6-1/D-3: when the fork server cannot make the work directory, the attempt ends failed with the reason, and the fork server goes on starting jobs', { timeout: 60_000 }, async () => {
  const data = mkdtempSync(join(tmpdir(), 'cis-attempt-dir-'))
  const spawner = new Spawner(silent)
  spawner.start()
  try {
    // A file where the joblist's directory should be.
    mkdirSync(join(data, 'jobs'))
    writeFileSync(join(data, 'jobs', 'kl12-1'), 'not a directory')
    const results: FinishedBody[] = []
    for (const joblistId of ['kl12-1', 'kl12-2']) results.push(await runAttempt(data, joblistId, { run: 'pwd' }, spawner))
    assert.equal(results[0].state, 'failed')
    assert.match(results[0].reason ?? '', /^could not start: .*(ENOTDIR|EEXIST)/)
    assert.equal(results[1].state, 'succeeded', results[1].reason)
    assert.equal(readFileSync(attemptPaths(data, 'kl12-2', 'kl12-2.1', 1).stdout, 'utf8').trim(), attemptPaths(data, 'kl12-2', 'kl12-2.1', 1).workdir)
  } finally {
    spawner.stop()
    rmSync(data, { recursive: true, force: true })
  }
})

test('R6-1: an attempt\'s paths, appended to the normalized jobs directory, are the ones path.join makes (relative, trailing-slash and absolute data directories; IDs as masters make them)', () => {
  for (const data of ['data', './data/', '/var/lib/cis', '/var/lib/cis/', 'a/../b', '.']) {
    for (const [jl, jobId, n] of [['kx3f-12', 'kx3f-12.1', 1], ['nightly_build', 'nightly_build.17', 3], ['A-b_9', 'A-b_9.2', 12]] as const) {
      const levels = attemptDirLevels(data, jl, jobId, n)
      assert.deepEqual(levels, [join(data, 'jobs', jl), join(data, 'jobs', jl, jobId), join(data, 'jobs', jl, jobId, String(n))], `${data} ${jobId}`)
      const p = attemptPaths(data, jl, jobId, n)
      assert.equal(p.workdir, join(data, 'jobs', jl, jobId, String(n)))
      assert.equal(p.stdout, join(data, 'jobs', jl, jobId, `${n}.stdout`))
      assert.equal(p.stderr, join(data, 'jobs', jl, jobId, `${n}.stderr`))
      assert.equal(p.times, join(data, 'jobs', jl, jobId, `${n}.times`))
    }
  }
})
