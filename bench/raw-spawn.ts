// The raw spawn rate, measured in a fresh small process (a process holding a large heap, like
// the bench driver after the scheduler series, forks more slowly and would flatter the ratio):
// `node dist/bench/raw-spawn.js N CONCURRENCY` prints {rate, cpuMsPerSpawn} as JSON.
import { spawn } from 'node:child_process'
import { selfMeter } from './cpu.js'

async function rawSpawn (n: number, concurrency: number): Promise<{ rate: number, cpuMsPerSpawn: number }> {
  let started = 0
  const cpu = selfMeter()
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (started < n) {
      started++
      await new Promise<void>((resolve, reject) => {
        const p = spawn('/bin/sh', ['-c', 'true'], { detached: true, stdio: 'ignore' })
        p.once('error', reject)
        p.once('exit', () => resolve())
      })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const rate = n / ((performance.now() - t0) / 1000)
  return { rate, cpuMsPerSpawn: cpu(n) }
}

if (process.argv[1]?.endsWith('raw-spawn.js') === true) {
  const r = await rawSpawn(Number(process.argv[2] ?? 1000), Number(process.argv[3] ?? 2))
  console.log(JSON.stringify(r))
}
