// `node dist/bench/profile.js [N]`: run N one-job joblists on an agent started with
// --cpu-prof; the profile lands in bench/results/profile/. For finding where time goes.
import '../src/polyfill.js'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { api, cleanup, ROOT, startAgent, waitFor } from '../test/helpers/agent.js'

const n = Number(process.argv[2] ?? 1000)
const dir = join(ROOT, 'bench', 'results', 'profile')
mkdirSync(dir, { recursive: true })
const agent = await startAgent({ name: 'prof', args: ['--resource', 'slot=2'], nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
const t0 = performance.now()
let sent = 0
await Promise.all(Array.from({ length: 8 }, async () => {
  while (sent < n) { sent++; await api(agent.url, '/v1/joblists', { body: { name: `p${sent}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } }) }
}))
await waitFor('done', async () => ((await api(agent.url, '/v1/stats')).body.joblists.succeeded ?? 0) >= n, 600_000, 50)
console.log(`${n} jobs in ${((performance.now() - t0) / 1000).toFixed(2)} s`)
await agent.stop()
cleanup(agent.dataDir)
console.log(`profile in ${dir}`)
