// CLI start-up: the wall time of `node -e 0` (Node's own start), `cis --version` and `cis status`
// against a running agent, each the median of several runs, with the peak RSS of each command
// when /usr/bin/time is there. Called by bench/run.ts with its agent; alone,
// `node dist/bench/cli-start.js [--runs N]` starts and stops an agent of its own.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { CIS, ROOT, cleanup, startAgent } from '../test/helpers/agent.js'

const TIME = '/usr/bin/time'
/** One command may take this long before the bench gives up on it. */
const RUN_TIMEOUT_MS = 30_000

export interface StartFigures {
  /** Median wall time, ms. */
  medianMs: number
  minMs: number
  runsMs: number[]
  /** Median peak RSS, MB (only with /usr/bin/time). */
  peakRssMb?: number
}

export interface CliStartReport {
  runs: number
  nodeBaseline: StartFigures
  version: StartFigures
  status: StartFigures
  targets: { statusMs: string }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)] }
const round = (x: number, digits = 1): number => Number(x.toFixed(digits))

/** Run `node ...args` once: wall ms, peak RSS in KB if measured. Throws unless it exits 0. */
async function once (args: string[], withTime: boolean): Promise<{ ms: number, rssKb?: number }> {
  const [cmd, cmdArgs] = withTime ? [TIME, ['-f', 'cis-bench-rss-kb %M', process.execPath, ...args]] : [process.execPath, args]
  const t0 = performance.now()
  const stderr = await new Promise<string>((resolve, reject) => {
    execFile(cmd, cmdArgs, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: RUN_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err !== null) reject(new Error(`node ${args.join(' ')} failed: ${err.message} ${stderr}`))
      else resolve(stderr)
    })
  })
  const ms = performance.now() - t0
  const m = /cis-bench-rss-kb (\d+)/.exec(stderr)
  return m === null ? { ms } : { ms, rssKb: Number(m[1]) }
}

async function measure (args: string[], runs: number, withTime: boolean): Promise<StartFigures> {
  await once(args, withTime) // warm the file cache; not counted
  const ms: number[] = []
  const rss: number[] = []
  for (let i = 0; i < runs; i++) {
    const r = await once(args, withTime)
    ms.push(r.ms)
    if (r.rssKb !== undefined) rss.push(r.rssKb)
  }
  return {
    medianMs: round(median(ms)),
    minMs: round(Math.min(...ms)),
    runsMs: ms.map(x => round(x)),
    ...(rss.length > 0 ? { peakRssMb: round(median(rss) / 1024) } : {})
  }
}

/** Measure against the agent at `url` (its API, e.g. http://127.0.0.1:7700). */
export async function cliStart (url: string, runs = 7, log: (msg: string) => void = () => {}): Promise<CliStartReport> {
  const withTime = existsSync(TIME)
  if (!withTime) log(`${TIME} is missing: no peak RSS figures`)
  log(`CLI start-up: node -e 0, cis --version, cis status; median of ${runs} runs each`)
  const nodeBaseline = await measure(['-e', '0'], runs, withTime)
  const version = await measure([CIS, '--version'], runs, withTime)
  const status = await measure([CIS, 'status', '--addr', url], runs, withTime)
  return { runs, nodeBaseline, version, status, targets: { statusMs: '< 250 on a 2-core VM' } }
}

export function formatCliStart (r: CliStartReport): string[] {
  const line = (label: string, f: StartFigures): string =>
    `${label.padEnd(42)}${`${f.medianMs} ms`.padEnd(10)} (min ${f.minMs})${f.peakRssMb !== undefined ? `, peak RSS ${f.peakRssMb} MB` : ''}`
  return [
    line('CLI start, node -e 0:', r.nodeBaseline),
    line('CLI start, cis --version:', r.version),
    `${line('CLI start, cis status (idle agent):', r.status)}  target ${r.targets.statusMs}`
  ]
}

async function alone (): Promise<void> {
  const i = process.argv.indexOf('--runs')
  const runs = i > 0 ? Number(process.argv[i + 1]) : 7
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number >= 1')
  const agent = await startAgent({ name: 'cli-bench', args: ['--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'] })
  // Ctrl-C or a kill: stop the agent too (the helper SIGKILLs it on a normal exit as well).
  const onSignal = (): void => { agent.proc.kill('SIGKILL'); cleanup(agent.dataDir); process.exit(130) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await new Promise(resolve => setTimeout(resolve, 1000)) // let the agent finish starting: idle, as bench/run.ts measures it
    const report = await cliStart(agent.url, runs, msg => process.stderr.write(`bench: ${msg}\n`))
    for (const l of formatCliStart(report)) console.log(l)
    console.log(JSON.stringify(report))
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await alone()
