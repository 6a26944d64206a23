// G-2: the CPU time and peak memory of each attempt's processes, measured by the node that ran
// it (src/exec/usage.ts, src/exec/group-memory.ts), carried in `finished`, checked when it
// comes from a peer (src/events/check.ts) and kept by the reducer in any arrival order.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { startProcess } from '../../src/exec/process.js'
import type { ProcessOptions, ProcessResult } from '../../src/exec/process.js'
import { Spawner } from '../../src/exec/spawner.js'
import { Executor } from '../../src/exec/executor.js'
import { attemptPaths } from '../../src/exec/files.js'
import { attemptUsage, parseTimes, readCpuTimes } from '../../src/exec/usage.js'
import { groupAndRss } from '../../src/exec/group-memory.js'
import { checkEvent } from '../../src/events/check.js'
import type { FinishedBody, UnsignedEvent } from '../../src/events/types.js'
import { reduce } from '../../src/state/reducer.js'
import { stateHash } from '../../src/state/hash.js'
import { emptyState } from '../../src/state/types.js'
import type { AttemptRecord, JobRecord } from '../../src/state/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'

const BURN = 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'
/** A job of over 1.5 s holding 60 MB it has written to (so the pages are resident). */
const ALLOC = `"${process.execPath}" -e "const b = Buffer.alloc(60*1024*1024, 1); setTimeout(() => b.length, 1500)"`
const linuxProc = process.platform === 'linux' && existsSync('/proc/self/stat')

const silent = pino({ level: 'silent' })

interface Run { r: ProcessResult, stdout: string, stderr: string }

/** Run `command` the way the executor does, directly or through a fork server; stop it after stopAfterMs. */
type Starter = (command: string, over?: Partial<ProcessOptions>, stopAfterMs?: number) => Promise<Run>

async function withStarters (fn: (name: string, run: Starter) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cis-usage-'))
  const spawner = new Spawner(silent)
  spawner.start()
  let n = 0
  const make = (how: 'direct' | 'fork server'): Starter => async (command, over = {}, stopAfterMs) => {
    n++
    const o: ProcessOptions = { command, cwd: dir, env: { ...process.env }, stdoutFile: join(dir, `${n}.stdout`), stderrFile: join(dir, `${n}.stderr`), graceMs: 2000, usageFile: join(dir, `${n}.times`), ...over }
    const p = how === 'direct' ? startProcess(o) : spawner.run(o)
    if (stopAfterMs !== undefined) setTimeout(() => p.stop(), stopAfterMs)
    const r = await p.done
    return { r, stdout: await readFile(o.stdoutFile, 'utf8'), stderr: await readFile(o.stderrFile, 'utf8') }
  }
  try {
    await fn('direct', make('direct'))
    await fn('fork server', make('fork server'))
  } finally {
    spawner.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

const cpuOf = (r: ProcessResult): number => {
  const u = r.usage
  assert.ok(u?.cpuUserMs !== undefined && u.cpuSysMs !== undefined, `cpu measured: ${JSON.stringify(u)}`)
  for (const v of [u.cpuUserMs, u.cpuSysMs]) assert.ok(Number.isSafeInteger(v) && v >= 0, `whole ms >= 0: ${v}`)
  return u.cpuUserMs + u.cpuSysMs
}

test('G-2: a job that burns CPU reports more CPU time than `true`; exit codes and output are as before', async () => {
  await withStarters(async (how, run) => {
    const burn = await run(BURN)
    assert.equal(burn.r.exitCode, 0, how)
    const burnt = cpuOf(burn.r)
    assert.ok(burnt > 0, `${how}: the loop used CPU (${burnt} ms)`)
    const idle = await run('true')
    assert.equal(idle.r.exitCode, 0, how)
    assert.ok(cpuOf(idle.r) < burnt, `${how}: \`true\` used less than the loop (${cpuOf(idle.r)} < ${burnt} ms)`)
    // The command's own exit status, output and errors, unchanged by the wrapper.
    const three = await run('echo out; echo err >&2; exit 3')
    assert.deepEqual([three.r.exitCode, three.r.signal, three.stdout, three.stderr], [3, null, 'out\n', 'err\n'], how)
    cpuOf(three.r)
    const inFunction = await run('f() { exit 9; }; f; echo never')
    assert.deepEqual([inFunction.r.exitCode, inFunction.stdout], [9, ''], how)
    const missing = await run('echo a\necho b\nno-such-command-here')
    assert.equal(missing.r.exitCode, 127, how)
    assert.match(missing.stderr, /\b3\b.*no-such-command-here/, `${how}: the message names the command's own line`)
    // Children's CPU counts (they are waited for), and so does a subshell's.
    const child = await run(`/bin/sh -c '${BURN}'`)
    assert.ok(cpuOf(child.r) > 0, `${how}: a child's CPU counts`)
  })
})

test('G-2: what cannot be measured is left out: a job killed by a signal, `exec`, its own EXIT trap; no usage file, no usage', async () => {
  await withStarters(async (how, run) => {
    // A stopped job ends by TERM as before; its shell never ran the trap: no CPU times.
    const stopped = await run('sleep 30', {}, 300)
    assert.deepEqual([stopped.r.exitCode, stopped.r.signal, stopped.r.endedBy], [null, 'SIGTERM', 'stop'], how)
    assert.equal(stopped.r.usage?.cpuUserMs, undefined, how)
    assert.equal(stopped.r.usage?.cpuSysMs, undefined, how)
    if (linuxProc) assert.ok((stopped.r.usage?.maxRssKb ?? 0) > 0, `${how}: its memory was sampled at the start`)
    else assert.equal(stopped.r.usage, undefined, how)
    const timedOut = await run('sleep 30', { timeoutMs: 200 })
    assert.deepEqual([timedOut.r.signal, timedOut.r.endedBy, timedOut.r.usage?.cpuUserMs], ['SIGTERM', 'timeout', undefined], how)
    const killed = await run('kill -KILL $$')
    assert.deepEqual([killed.r.exitCode, killed.r.signal, killed.r.usage?.cpuUserMs], [null, 'SIGKILL', undefined], how)
    const replaced = await run('exec true')
    assert.deepEqual([replaced.r.exitCode, replaced.r.usage?.cpuUserMs], [0, undefined], how)
    // The command's EXIT trap replaces ours: it still runs, with the command's exit status.
    const ownTrap = await run('trap "echo mine" EXIT; exit 4')
    assert.deepEqual([ownTrap.r.exitCode, ownTrap.stdout, ownTrap.r.usage?.cpuUserMs], [4, 'mine\n', undefined], how)
    const unmeasured = await run('echo plain', { usageFile: undefined })
    assert.deepEqual([unmeasured.r.exitCode, unmeasured.stdout, unmeasured.r.usage], [0, 'plain\n', undefined], how)
  })
})

test('G-2: a job that holds 60 MB for over a second reports a peak of at least 50,000 kB (Linux)', { skip: linuxProc ? false : 'needs /proc (Linux)' }, async () => {
  await withStarters(async (how, run) => {
    const big = await run(ALLOC)
    assert.equal(big.r.exitCode, 0, `${how}: ${big.stderr}`)
    const peak = big.r.usage?.maxRssKb
    assert.ok(peak !== undefined && Number.isSafeInteger(peak) && peak >= 50_000, `${how}: peak ${String(peak)} kB`)
    cpuOf(big.r)
  })
})

test('G-2: the executor carries the usage in `finished`, with and without a fork server', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'cis-usage-exec-'))
  const spawner = new Spawner(silent)
  spawner.start()
  try {
    for (const via of [undefined, spawner]) {
      const jobId = `jl${via === undefined ? 1 : 2}.1`
      let report!: (b: FinishedBody) => void
      const reported = new Promise<FinishedBody>(resolve => { report = resolve })
      const ex = new Executor({ self: 'me', nodeName: 'me', apiUrl: () => '', dataDir, graceMs: 2000, log: silent, started: async () => {}, finished: async b => { report(b) }, ...(via !== undefined ? { spawner: via } : {}) })
      const rec: JobRecord = { id: jobId, joblistId: jobId.split('.')[0], name: 'j', stage: 0, spec: job('j', { run: `${BURN}; echo done; exit 3` }), state: 'running', cancelled: false }
      const attempt: AttemptRecord = { n: 1, node: 'me', resources: {}, state: 'assigned', assignedAt: 0, term: 1 }
      ex.launch(emptyState(), rec, attempt)
      const f = await reported
      const how = via === undefined ? 'direct' : 'fork server'
      assert.deepEqual([f.state, f.exitCode, f.tail], ['failed', 3, 'done\n'], how)
      assert.ok((f.usage?.cpuUserMs ?? 0) + (f.usage?.cpuSysMs ?? 0) > 0, `${how}: ${JSON.stringify(f.usage)}`)
      assert.equal(await readFile(attemptPaths(dataDir, rec.joblistId, jobId, 1).stdout, 'utf8'), 'done\n')
      assert.equal(checkEvent({ origin: 'me', seq: 1, ts: 1, lc: 0, type: 'finished', body: f, sig: 's' }), null, `${how}: a peer takes it`)
    }
  } finally {
    spawner.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
})

test('G-2: parseTimes sums the shell\'s and its children\'s times; anything else is undefined', () => {
  // dash (6 decimals) and bash (3); the shell's own line, then its children's.
  assert.deepEqual(parseTimes('0m0.004000s 0m0.001000s\n0m1.250000s 0m0.020000s\n'), { cpuUserMs: 1254, cpuSysMs: 21 })
  assert.deepEqual(parseTimes('0m0.001s 0m0.000s\n2m3.500s 0m0.250s\n'), { cpuUserMs: 123_501, cpuSysMs: 250 })
  assert.deepEqual(parseTimes('0m0.000000s 0m0.000000s\n0m0.000000s 0m0.000000s\n'), { cpuUserMs: 0, cpuSysMs: 0 })
  assert.deepEqual(parseTimes('1000m0s 0m0s\n0m0s 0m0s'), { cpuUserMs: 60_000_000, cpuSysMs: 0 }, 'whole seconds, no newline at the end')
  for (const garbage of ['', '\n', 'garbage', '0m0.1s 0m0.1s\n', '0m0.1s 0m0.1s\n0m0.1s\n', '0m0.1s 0m0.1s\n0m0.1s 0m0.1s\n0m0.1s 0m0.1s\n',
    '0m-1s 0m0s\n0m0s 0m0s', '0.1s 0.1s\n0.1s 0.1s', 'user 0m0.1s\nsys 0m0.1s', '0m0.1s 0m0.1s 0m0.1s\n0m0.1s 0m0.1s', '0m1e3s 0m0s\n0m0s 0m0s']) {
    assert.equal(parseTimes(garbage), undefined, JSON.stringify(garbage))
  }
  assert.equal(attemptUsage(undefined, undefined), undefined, 'nothing measured: no usage')
  assert.deepEqual(attemptUsage(undefined, 2048), { maxRssKb: 2048 })
  assert.deepEqual(attemptUsage({ cpuUserMs: 1, cpuSysMs: 2 }, undefined), { cpuUserMs: 1, cpuSysMs: 2 })
})

test('G-2: readCpuTimes reads the times file the shell wrote; none, or one larger than `times` writes (the job can write it), is undefined', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cis-times-'))
  try {
    const file = join(dir, 't')
    assert.equal(readCpuTimes(file), undefined, 'no file: the shell wrote none')
    writeFileSync(file, '0m0.004000s 0m0.001000s\n0m1.250000s 0m0.020000s\n')
    assert.deepEqual(readCpuTimes(file), { cpuUserMs: 1254, cpuSysMs: 21 })
    // Two valid lines padded past the bound: not the shell's (and not read whole).
    writeFileSync(file, '0m0.004000s 0m0.001000s\n0m1.250000s 0m0.020000s' + ' '.repeat(8192) + '\n')
    assert.equal(readCpuTimes(file), undefined)
    writeFileSync(file, '0m0.004000s 0m0.001000s\n0m1.250000s 0m0.020000s' + ' '.repeat(4000) + '\n')
    assert.deepEqual(readCpuTimes(file), { cpuUserMs: 1254, cpuSysMs: 21 }, 'within the bound, as parseTimes reads it')
    // A FIFO in its place (no writer): not waited for.
    const fifo = join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    assert.equal(readCpuTimes(fifo), undefined)
  } finally { await rm(dir, { recursive: true, force: true }) }
})

test('G-2: groupAndRss reads the group and RSS of a /proc stat line, whatever the command name holds', async () => {
  const rest = (pgid: number, rss: number): string => `S 1 ${pgid} ${pgid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 300 9000000 ${rss} 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0`
  assert.deepEqual(groupAndRss(`4242 (sh) ${rest(4242, 180)}\n`), { pgid: 4242, rssPages: 180 })
  assert.deepEqual(groupAndRss(`77 (a) b (c) ${rest(4242, 5)}`), { pgid: 4242, rssPages: 5 }, 'spaces and parentheses in the name')
  assert.equal(groupAndRss('garbage'), undefined)
  assert.equal(groupAndRss('1 (x) S 1'), undefined, 'cut short')
  if (linuxProc) {
    const text = await readFile('/proc/self/stat', 'latin1')
    assert.equal(groupAndRss(text)?.pgid, Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[2]))
    assert.ok((groupAndRss(text)?.rssPages ?? 0) > 0, 'this process is resident')
  }
})

const finishedEvent = (usage: unknown): Record<string, unknown> =>
  ({ origin: 'peer', seq: 3, ts: 1_700_000_000_000, lc: 0, type: 'finished', body: { jobId: 'ab12-1.1', attempt: 1, state: 'succeeded', exitCode: 0, signal: null, usage }, sig: 'c2ln' })

test('G-2: check.ts takes a well-formed usage and refuses a malformed one as a bad finished event', () => {
  for (const good of [{ cpuUserMs: 12, cpuSysMs: 3, maxRssKb: 4096 }, { cpuUserMs: 0, cpuSysMs: 0 }, { maxRssKb: 1 }, { cpuUserMs: 1e15, cpuSysMs: 0, maxRssKb: 2 ** 40 }, { cpuUserMs: 1, cpuSysMs: 1, ioBytes: 5 }, undefined]) {
    assert.equal(checkEvent(finishedEvent(good)), null, JSON.stringify(good))
  }
  for (const bad of [{ cpuUserMs: -1, cpuSysMs: 0 }, { cpuUserMs: -1 }, 'lots', 7, null, [], {}, { cpuUserMs: '12', cpuSysMs: 3 }, { cpuUserMs: 1.5, cpuSysMs: 0 },
    { cpuUserMs: 1 }, { cpuSysMs: 1, maxRssKb: 5 }, { cpuUserMs: 1, cpuSysMs: 1, maxRssKb: -1 }, { maxRssKb: 'big' }, { maxRssKb: null },
    { cpuUserMs: 1e15 + 1, cpuSysMs: 0 }, { maxRssKb: 2 ** 40 + 1 }, { cpuUserMs: Infinity, cpuSysMs: 0 }, { ioBytes: 5 }]) {
    assert.equal(checkEvent(finishedEvent(bad)), 'bad finished', JSON.stringify(bad))
  }
})

/** One job, assigned to A and reported by both A and B (two executors, as after a partition). */
function twoReports (first: FinishedBody['usage'], second: FinishedBody['usage']): { events: UnsignedEvent[], jobId: string } {
  const h = new Harness()
  h.node('A', { slot: ['a0'] })
  h.node('B', { slot: ['b0'] })
  const req = h.submit(joblist('x', [['s', [job('j')]]]), 'A')
  h.settle(['A', 'M'])
  const jobId = `${h.joblistId(req)}.1`
  h.emit('A', 'started', { jobId, attempt: 1, pid: 1 })
  h.emit('A', 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, ...(first !== undefined ? { usage: first } : {}) })
  h.emit('B', 'finished', { jobId, attempt: 1, state: 'lost', exitCode: null, signal: null, reason: 'late', ...(second !== undefined ? { usage: second } : {}) })
  return { events: h.events, jobId }
}

/** The events with B's report moved before A's (each origin keeps its own order). */
function bFirst (events: UnsignedEvent[]): UnsignedEvent[] {
  const b = events.filter(e => e.origin === 'B' && e.type === 'finished')
  const rest = events.filter(e => !b.includes(e))
  const i = rest.findIndex(e => e.origin === 'A' && e.type === 'finished')
  return [...rest.slice(0, i), ...b, ...rest.slice(i)]
}

test('G-2: the reducer keeps the winning finished fact\'s usage, the same in either arrival order', () => {
  const cases: Array<[FinishedBody['usage'], FinishedBody['usage'], FinishedBody['usage']]> = [
    // [A's (the earlier fact: it wins), B's, expected]
    [{ cpuUserMs: 120, cpuSysMs: 7, maxRssKb: 5000 }, { cpuUserMs: 1, cpuSysMs: 1 }, { cpuUserMs: 120, cpuSysMs: 7, maxRssKb: 5000 }],
    [{ cpuUserMs: 120, cpuSysMs: 7 }, undefined, { cpuUserMs: 120, cpuSysMs: 7 }],
    [undefined, { cpuUserMs: 1, cpuSysMs: 1, maxRssKb: 9 }, undefined],
    [{ maxRssKb: 64 }, { cpuUserMs: 1, cpuSysMs: 1 }, { maxRssKb: 64 }]
  ]
  for (const [a, b, expected] of cases) {
    const { events, jobId } = twoReports(a, b)
    const forward = reduce(events)
    const backward = reduce(bFirst(events))
    assert.notDeepEqual(events.map(e => e.type + e.origin), bFirst(events).map(e => e.type + e.origin), 'two different orders')
    const label = JSON.stringify([a, b])
    for (const st of [forward, backward]) {
      const at = st.attempts[jobId][1]
      assert.equal(at.state, 'succeeded', label)
      assert.deepEqual(at.usage, expected, label)
      assert.equal('usage' in at, expected !== undefined, `${label}: no usage field without a usage`)
    }
    assert.equal(stateHash(forward), stateHash(backward), label)
  }
  // Fields a newer peer may add are not kept.
  const { events, jobId } = twoReports({ cpuUserMs: 1, cpuSysMs: 2, ioBytes: 3 } as FinishedBody['usage'], undefined)
  assert.deepEqual(reduce(events).attempts[jobId][1].usage, { cpuUserMs: 1, cpuSysMs: 2 })
})
