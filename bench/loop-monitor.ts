// What sampling the event-loop delay costs an idle process (issue 12; docs/benchmarks.md, Dec 2
// 15:50): `node dist/bench/loop-monitor.js [--seconds S]`. Three node processes side by side,
// each idle but for `monitorEventLoopDelay` at one resolution (none: what an agent does since Dec
// 5, reading its timers' lateness instead; 10 ms: prom-client's default; 100 ms: what an agent
// used before), each reporting its own CPU over the same window as % of a core. Prints one line
// each and a JSON line.
import { spawn } from 'node:child_process'

const CHILD = `
const { monitorEventLoopDelay } = require('node:perf_hooks')
const r = Number(process.argv[1]), ms = Number(process.argv[2])
if (r > 0) monitorEventLoopDelay({ resolution: r }).enable()
const c0 = process.cpuUsage()
setTimeout(() => { const c = process.cpuUsage(c0); console.log(JSON.stringify({ pct: (c.user + c.system) / 1000 / ms * 100 })); process.exit(0) }, ms)
`

async function run (resolution: number, ms: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', CHILD, String(resolution), String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (b: Buffer) => { out += b.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`the child sampling every ${resolution} ms failed (exit ${String(code)})`)
  return Number((JSON.parse(out) as { pct: number }).pct.toFixed(3))
}

const i = process.argv.indexOf('--seconds')
const seconds = i > 0 ? Number(process.argv[i + 1]) : 20
if (!Number.isFinite(seconds) || seconds < 1 || seconds > 600) throw new Error('--seconds takes a number from 1 to 600')
console.error(`bench: loop-monitor: three idle processes for ${seconds} s`)
const resolutions = [0, 10, 100]
const pct = await Promise.all(resolutions.map(async r => await run(r, seconds * 1000)))
for (let k = 0; k < resolutions.length; k++) console.log(`event-loop monitor ${resolutions[k] === 0 ? 'off' : `every ${resolutions[k]} ms`}: ${pct[k]} % of a core`)
console.log(JSON.stringify({ seconds, cpuPct: Object.fromEntries(resolutions.map((r, k) => [r === 0 ? 'off' : `${r}ms`, pct[k]])) }))
