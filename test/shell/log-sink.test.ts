// The agent's log destination (src/agent/log-sink.ts): lines in order, and a log that cannot be
// written (a full disk: ENOSPC) loses lines, says so on stderr, and neither ends nor hangs the agent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LogSink } from '../../src/agent/log-sink.js'

const hasDevFull = existsSync('/dev/full')

test('D-3: the log sink writes every line, in order, and flush waits for them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cis-log-sink-'))
  const fd = openSync(join(dir, 'log'), 'a')
  try {
    const sink = new LogSink(fd)
    for (let i = 0; i < 500; i++) sink.write(`{"n":${i}}\n`)
    await new Promise<void>(resolve => sink.flush(resolve))
    const lines = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map(l => (JSON.parse(l) as { n: number }).n)
    assert.deepEqual(lines, Array.from({ length: 500 }, (_, i) => i))
  } finally { closeSync(fd); rmSync(dir, { recursive: true, force: true }) }
})

test('D-3: a log on a full disk (ENOSPC) loses its lines and says so once, without an error thrown or emitted', { skip: hasDevFull ? false : 'needs /dev/full (Linux)' }, async () => {
  const fd = openSync('/dev/full', 'w')
  try {
    const said: string[] = []
    const sink = new LogSink(fd, line => said.push(line))
    for (let i = 0; i < 50; i++) {
      sink.write(`{"n":${i}}\n`)
      await new Promise(resolve => setImmediate(resolve))
    }
    await new Promise<void>(resolve => sink.flush(resolve))
    assert.equal(said.length, 1, `said once (a minute apart at most): ${JSON.stringify(said)}`)
    assert.match(said[0], /cannot write its log \(ENOSPC\).*line\(s\) lost.*Is the disk full\?/)
    sink.flushSync() // (one try, no loop: returns)
  } finally { closeSync(fd) }
})

test('D-3: an agent logger whose stdout is a full disk neither ends nor hangs the process: it logs, goes on, and exits with its own code', { skip: hasDevFull ? false : 'needs /dev/full (Linux)', timeout: 60_000 }, async () => {
  const logger = fileURLToPath(new URL('../../src/agent/logger.js', import.meta.url))
  const script = `const { createLogger } = await import(${JSON.stringify(logger)}); const log = await createLogger('info', false, 't');
for (let i = 0; i < 20; i++) { log.info({ i }, 'a line'); await new Promise(r => setTimeout(r, 5)) }
log.flush(() => { process.exitCode = 7; process.exit() })`
  const full = openSync('/dev/full', 'w')
  try {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', full, 'pipe'] })
    let err = ''
    child.stderr?.on('data', (b: Buffer) => { err += b.toString() })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    const code = await new Promise<number | null>(resolve => child.once('close', c => resolve(c)))
    clearTimeout(timer)
    assert.equal(code, 7, `exited with its own code (not a crash, not killed after hanging): ${err}`)
    assert.match(err, /cannot write its log \(ENOSPC\)/)
  } finally { closeSync(full) }
})
