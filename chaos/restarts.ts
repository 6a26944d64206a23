// `npm run restarts -- --cycles N`: kill -9 and restart one agent N times while work flows
// through a 3-node cluster; then its store must still open and its state equal its peers'.
import '../src/polyfill.js'
import { startCluster, waitForMembers, waitSameHash } from '../test/helpers/cluster.js'
import { api, sleep, waitFor } from '../test/helpers/agent.js'
import { FINAL_JOBLIST_STATES } from '../src/state/types.js'
import type { JoblistState } from '../src/state/types.js'

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}
const say = (m: string): void => { process.stderr.write(`restarts: ${m}\n`) }

export interface RestartResult { cycles: number, joblists: number, allEnded: boolean, hashesEqual: boolean }

export async function restartStorm (cycles: number): Promise<RestartResult> {
  const c = await startCluster([{ name: 'r1', priority: 3 }, { name: 'r2', priority: 2 }, { name: 'victim', priority: 1 }])
  let joblists = 0
  try {
    for (let i = 0; i < cycles; i++) {
      const victim = c.byName('victim')
      // Work that lands on the victim too: 3 parallel jobs, one a little slow.
      const r = await api(c.byName('r1').url, '/v1/joblists', { body: { name: `storm-${i}`, stages: [{ name: 's', jobs: [{ name: 'a', run: 'sleep 0.2' }, { name: 'b', run: 'true' }, { name: 'c', run: 'true' }] }] } })
      if (r.status === 201) joblists++
      await sleep(50 + (i % 5) * 40)
      await victim.kill()
      await victim.restart()
      if ((i + 1) % 10 === 0) say(`${i + 1}/${cycles} kill -9 / restart cycles`)
    }
    await waitForMembers(c.alive(), 3, 60_000)
    let allEnded = true
    try {
      await waitFor('every joblist to end', async () => {
        const list = (await api(c.byName('victim').url, '/v1/joblists')).body.joblists as Array<{ state: JoblistState }>
        return list.length === joblists && list.every(j => FINAL_JOBLIST_STATES.has(j.state))
      }, 120_000, 250)
    } catch { allEnded = false }
    let hashesEqual = true
    try { await waitSameHash(c.alive(), 60_000) } catch { hashesEqual = false }
    return { cycles, joblists, allEnded, hashesEqual }
  } finally {
    await c.stopAll()
  }
}

if (process.argv[1]?.endsWith('restarts.js') === true) {
  const cycles = arg('cycles', 100)
  const r = await restartStorm(cycles)
  console.log(JSON.stringify(r))
  process.exitCode = r.allEnded && r.hashesEqual ? 0 : 1
}
