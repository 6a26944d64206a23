import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { writeJobFiles } from '../../src/exec/files.js'
import { cleanup, tempDir } from '../helpers/agent.js'

test('files: written inside the work directory with their modes', async () => {
  const dir = tempDir()
  try {
    await writeJobFiles(dir, [{ path: 'a/b/c.txt', content: 'x', mode: 0o644 }, { path: 'run.sh', content: '#!/bin/sh', mode: 0o755 }])
    assert.equal(readFileSync(join(dir, 'a/b/c.txt'), 'utf8'), 'x')
    assert.equal(statSync(join(dir, 'run.sh')).mode & 0o777, 0o755)
  } finally { cleanup(dir) }
})

test('files: `..`, absolute paths and symlink tricks cannot escape the work directory', async () => {
  const root = tempDir()
  try {
    const work = join(root, 'work')
    mkdirSync(work)
    await assert.rejects(writeJobFiles(work, [{ path: '../escape.txt', content: 'x', mode: 0o644 }]), { name: 'UnsafePathError' })
    await assert.rejects(writeJobFiles(work, [{ path: '/tmp/abs.txt', content: 'x', mode: 0o644 }]), { name: 'UnsafePathError' })
    assert.equal(existsSync(join(root, 'escape.txt')), false)
    // A link planted in the work directory is never followed or overwritten.
    writeFileSync(join(root, 'target.txt'), 'original')
    symlinkSync(join(root, 'target.txt'), join(work, 'link.txt'))
    await assert.rejects(writeJobFiles(work, [{ path: 'link.txt', content: 'pwned', mode: 0o644 }]))
    assert.equal(readFileSync(join(root, 'target.txt'), 'utf8'), 'original')
  } finally { cleanup(root) }
})
