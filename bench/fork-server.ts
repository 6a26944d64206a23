// What the fork server costs a job (issue 12: CPU per job), for `npm run bench` or alone:
// `node dist/bench/fork-server.js [--jobs N] [--concurrency C]`. The agent's fork server
// (src/exec/spawner.ts) runs N jobs, C at a time, measured as the executor asks (`usage`: the
// shell's CPU times and the group's peak memory, src/exec/group-memory.ts); the fork server's
// own CPU a job is read from /proc. Four cases: jobs of `sleep 0` and of `sleep 0.05` (past the
// first memory sample, 25 ms after the start), on the machine as it is and with 500 more idle
// processes on it (a busier host: a sample that read every process of the machine cost the
// fork server that much more a job).
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { Spawner } from '../src/exec/spawner.js'
import { statTimes } from './cpu.js'

export interface ForkServerRun {
  /** Seconds each job sleeps. */
  sleep: number
  /** Idle processes added to the machine's for the run. */
  addedProcesses: number
  /** Processes on the machine during the run (/proc). */
  processes: number
  jobs: number
  concurrency: number
  /** The fork server's CPU ms a job (user and system, its own; the jobs apart). */
  forkServerCpuMsPerJob: number
  jobsPerSec: number
}

/** Processes on the machine now (the numbered entries of /proc). */
const countProcesses = (): number => {
  try { return readdirSync('/proc').filter(name => /^\d+$/.test(name)).length } catch { return NaN }
}

/** `count` idle processes (one process group), and the function that ends them (and waits, at most 10 s, until they are gone). */
async function idleProcesses (count: number): Promise<() => Promise<void>> {
  if (count <= 0) return async () => {}
  const before = countProcesses()
  const p = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${count} ]; do sleep 600 & i=$((i+1)); done; wait`], { detached: true, stdio: 'ignore' })
  // (Until they are there, at most 10 s.)
  for (let i = 0; i < 200 && countProcesses() < before + count; i++) await sleep(50)
  return async () => {
    try { process.kill(-(p.pid as number), 'SIGKILL') } catch { /* gone */ }
    for (let i = 0; i < 200 && countProcesses() > before + 10; i++) await sleep(50)
  }
}

async function forkServerRun (o: { jobs: number, concurrency: number, sleep: number, addedProcesses: number }): Promise<ForkServerRun> {
  const endIdle = await idleProcesses(o.addedProcesses)
  const spawner = new Spawner(pino({ level: 'silent' }))
  spawner.start()
  const dir = mkdtempSync(join(tmpdir(), 'cis-bench-fork-'))
  try {
    let n = 0
    const one = async (): Promise<void> => {
      const i = n++
      const r = await spawner.run({ command: `sleep ${o.sleep}`, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdoutFile: join(dir, `${i}.out`), stderrFile: join(dir, `${i}.err`), graceMs: 2000, usageFile: join(dir, `${i}.times`) }).done
      if (r.exitCode !== 0) throw new Error(`a fork server bench job failed: ${JSON.stringify(r)}`)
    }
    const batch = async (count: number): Promise<void> => {
      let left = count
      await Promise.all(Array.from({ length: o.concurrency }, async () => { while (left-- > 0) await one() }))
    }
    await batch(20) // (warm-up: the fork server's code compiled)
    const pid = spawner.pid
    if (pid === undefined) throw new Error('the fork server is not running')
    const cpu = (): number => { const t = statTimes(`/proc/${pid}/stat`); return t.self * 1000 }
    const processes = countProcesses()
    const c0 = cpu()
    const t0 = performance.now()
    await batch(o.jobs)
    const ms = cpu() - c0
    return { sleep: o.sleep, addedProcesses: o.addedProcesses, processes, jobs: o.jobs, concurrency: o.concurrency, forkServerCpuMsPerJob: Number((ms / o.jobs).toFixed(2)), jobsPerSec: Number((o.jobs / ((performance.now() - t0) / 1000)).toFixed(1)) }
  } finally {
    spawner.stop()
    await endIdle()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function forkServerBench (progress: (m: string) => void, o: { jobs?: number, concurrency?: number } = {}): Promise<ForkServerRun[]> {
  const runs: ForkServerRun[] = []
  if (process.platform !== 'linux') { progress('fork server: skipped (reads /proc: Linux only)'); return runs }
  for (const added of [0, 500]) {
    for (const s of [0, 0.05]) {
      progress(`fork server: ${o.jobs ?? 200} jobs of sleep ${s}, ${o.concurrency ?? 4} at a time${added > 0 ? `, ${added} idle processes added` : ''}`)
      runs.push(await forkServerRun({ jobs: o.jobs ?? 200, concurrency: o.concurrency ?? 4, sleep: s, addedProcesses: added }))
    }
  }
  return runs
}

export function formatForkServer (runs: ForkServerRun[]): string[] {
  return runs.map(r => `fork server, jobs of sleep ${r.sleep}, ${r.concurrency} at a time, ${r.processes} processes on the machine: ${r.forkServerCpuMsPerJob} CPU ms a job (its own), ${r.jobsPerSec} jobs/s`)
}

if (process.argv[1]?.endsWith('fork-server.js') === true) {
  const opt = (name: string): string | undefined => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : undefined }
  const runs = await forkServerBench(m => { console.error(`bench: ${m}`) }, { jobs: Number(opt('jobs') ?? 200), concurrency: Number(opt('concurrency') ?? 4) })
  for (const line of formatForkServer(runs)) console.log(line)
  console.log(JSON.stringify(runs))
}
