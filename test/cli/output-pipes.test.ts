// The CLI's output going nowhere: a closed pipe on stderr and stdout (`cis ... 2>&1 | head`
// after head left) ends a command with its own exit code, not 1 from an unhandled EPIPE; a full
// disk under its output is said in a line, not a stack trace. No agent: nothing listens on port 9.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { CIS } from '../helpers/agent.js'

/** Run `cis args` with stdout and stderr pipes that this side closes at once; its exit code. */
async function withClosedPipes (args: string[]): Promise<number | null> {
  const child = spawn(process.execPath, [CIS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.destroy()
  child.stderr.destroy()
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  try { return await new Promise(resolve => child.once('exit', code => resolve(code))) } finally { clearTimeout(timer) }
}

test('P-5: `cis status` against no agent with stdout and stderr into a closed pipe exits 3 (unreachable), as with a terminal', { timeout: 60_000 }, async () => {
  assert.equal(await withClosedPipes(['status', '--addr', 'http://127.0.0.1:9']), 3)
})

test('P-5: `cis` with a usage error into a closed pipe exits 2 (bad input)', { timeout: 60_000 }, async () => {
  assert.equal(await withClosedPipes(['status', '--no-such-option']), 2)
})

test('P-5: `cis --help > /dev/full` says that it cannot write its output, in a line, and exits 1', { skip: existsSync('/dev/full') ? false : 'needs /dev/full (Linux)', timeout: 60_000 }, async () => {
  const { openSync, closeSync } = await import('node:fs')
  const full = openSync('/dev/full', 'w')
  try {
    const child = spawn(process.execPath, [CIS, '--help'], { stdio: ['ignore', full, 'pipe'] })
    let err = ''
    child.stderr?.on('data', (b: Buffer) => { err += b.toString() })
    const code = await new Promise<number | null>(resolve => child.once('close', c => resolve(c)))
    assert.equal(code, 1)
    assert.match(err, /^cis: cannot write the output: .*Is the disk full\?\n$/)
  } finally { closeSync(full) }
})
