// `npm run sim -- --nodes N --seed S --scenario NAME [--latency MS] [--jitter MS] [--loss P] [--rate R] [--beat-every N] [--batch-window MS]`:
// one simulation run (run.ts), one JSON line on stdout; progress and the wall time on stderr.
import { Command, InvalidArgumentError } from 'commander'
import { SCENARIOS, defaultSimOptions, simulate } from './run.js'
import type { Scenario } from './run.js'

const int = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`)
  return n
}
const num = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be a number from ${min} to ${max}`)
  return n
}

const program = new Command('sim')
  .description('a deterministic simulation of a cisystem cluster: same options, same output line')
  .option('--nodes <n>', 'how many nodes', int('--nodes', 2, 5000), 10)
  .option('--seed <s>', 'the random seed', int('--seed', 0, 2 ** 32 - 1), 1)
  .option('--scenario <name>', `one of ${SCENARIOS.join(', ')}`, (v: string) => {
    if (!(SCENARIOS as readonly string[]).includes(v)) throw new InvalidArgumentError(`give one of ${SCENARIOS.join(', ')}`)
    return v as Scenario
  }, 'steady')
  .option('--latency <ms>', 'one-way link latency', num('--latency', 0, 10_000), 1)
  .option('--jitter <ms>', 'latency jitter (±)', num('--jitter', 0, 10_000), 0.5)
  .option('--loss <p>', 'share of messages lost', num('--loss', 0, 0.5), 0)
  .option('--rate <r>', 'joblists submitted per virtual second while work streams in', num('--rate', 0.1, 10_000), 20)
  .option('--beat-every <n>', 'a watched node beats to its watchers every n heartbeat intervals (the watch ring; default the agent\'s)', int('--beat-every', 1, 100))
  .option('--batch-window <ms>', 'events a peer does not need at once wait up to this long to go together (small clusters; default the agent\'s, 0: none)', num('--batch-window', 0, 10_000))
  .option('--quiet', 'no progress on stderr')
  .action(async (opts: { nodes: number, seed: number, scenario: Scenario, latency: number, jitter: number, loss: number, rate: number, beatEvery?: number, batchWindow?: number, quiet?: boolean }) => {
    const t0 = process.hrtime.bigint()
    const progress = opts.quiet === true ? undefined : (line: string): void => { process.stderr.write(`sim: ${line}\n`) }
    const options = defaultSimOptions({ nodes: opts.nodes, seed: opts.seed, scenario: opts.scenario, latencyMs: opts.latency, jitterMs: opts.jitter, loss: opts.loss, rate: opts.rate, ...(progress !== undefined ? { progress } : {}) })
    if (opts.beatEvery !== undefined) options.timing = { ...options.timing, beatEvery: opts.beatEvery }
    if (opts.batchWindow !== undefined) options.timing = { ...options.timing, batchWindowMs: opts.batchWindow }
    const result = await simulate(options)
    process.stdout.write(JSON.stringify(result) + '\n')
    progress?.(`wall time ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`)
  })

program.parseAsync().catch(err => { process.stderr.write(`sim: ${(err as Error).message}\n`); process.exit(1) })
