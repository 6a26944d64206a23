// An attempt's work directory (src/exec/files.ts makeAttemptDir): made level by level where
// attemptPaths puts it, whether or not its joblist's and job's directories are there yet; one
// that is there already (an attempt a crash left) is reported, not made again, so the executor
// clears it first (D-3).
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attemptPaths, makeAttemptDir } from '../../src/exec/files.js'

const isDir = (p: string): boolean => { try { return statSync(p).isDirectory() } catch { return false } }

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
