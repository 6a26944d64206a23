// Export figures for `npm run bench` (G-5): rows a second `cis export --once` writes into a
// real PostgreSQL server (started by the tests' helper on loopback) from an agent that ran
// `n` one-job joblists. Skipped, saying why, where no PostgreSQL server binary exists.
import { execFile } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { CIS, ROOT, api, cleanup, startAgent, waitFor } from '../test/helpers/agent.js'
import { postgresSkipReason, startPostgres } from '../test/helpers/postgres.js'

export type ExportFigures = { skipped: string } | { joblists: number, events: number, rows: number, seconds: number, rowsPerSec: number, eventsPerSec: number }

export async function exportBench (progress: (m: string) => void, n = 500): Promise<ExportFigures> {
  const skip = postgresSkipReason()
  if (skip !== false) { progress(`export: skipped: ${skip}`); return { skipped: skip } }
  progress(`export: ${n} one-job joblists into a real PostgreSQL`)
  const pg = await startPostgres()
  const agent = await startAgent({ name: 'export-bench', args: ['--resource', 'slot=4'] })
  try {
    await Promise.all(Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < n; i += 10) await api(agent.url, '/v1/joblists', { body: { name: `x-${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] } })
    }))
    await waitFor('every joblist to end', async () => (await api(agent.url, '/v1/stats')).body.joblists.succeeded === n, 300_000, 200)
    const t = performance.now()
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [CIS, 'export', '--to', pg.url(), '--once', '--json', '--addr', agent.url], { cwd: ROOT, timeout: 300_000 }, (err, stdout, stderr) => {
        if (err !== null) reject(new Error(`cis export failed: ${stderr}`))
        else resolve(stdout)
      })
    })
    const seconds = (performance.now() - t) / 1000
    const r = JSON.parse(out) as { events: number, rows: number }
    return { joblists: n, events: r.events, rows: r.rows, seconds: Math.round(seconds * 100) / 100, rowsPerSec: Math.round(r.rows / seconds), eventsPerSec: Math.round(r.events / seconds) }
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
    pg.stop()
  }
}
