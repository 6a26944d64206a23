// `npm run demo`: 3 agents on 127.0.0.1; submit a multi-stage joblist; SIGKILL the master
// while it runs; watch the next node by priority take over and the joblist finish.
import '../src/polyfill.js'
import { join } from 'node:path'
import { loadJoblistFile } from '../src/spec/load.js'
import { mastersSeen, startCluster, waitForMaster, waitSameHash } from '../test/helpers/cluster.js'
import { api, ROOT, waitFinal, waitFor } from '../test/helpers/agent.js'

const say = (msg: string): void => { console.log(`demo: ${msg}`) }

async function main (): Promise<number> {
  say('starting 3 agents (alpha priority 30, beta 20, gamma 10) on 127.0.0.1 ...')
  const c = await startCluster([{ name: 'alpha', priority: 30 }, { name: 'beta', priority: 20 }, { name: 'gamma', priority: 10 }])
  try {
    for (const a of c.agents) say(`  ${a.name}: API ${a.url}  peer ${a.id.slice(-8)}`)
    await waitForMaster(c.agents, 'alpha')
    say(`master in every node's view: ${(await mastersSeen(c.agents)).join(', ')}`)
    const spec = await loadJoblistFile(join(ROOT, 'examples', 'failover.yaml'))
    const r = await api(c.byName('gamma').url, '/v1/joblists', { body: spec, headers: { 'x-cis-owner': 'demo' } })
    if (r.status !== 201) throw new Error(`submit failed: ${JSON.stringify(r.body)}`)
    const id = r.body.id as string
    say(`submitted ${spec.name} via gamma: ID ${id} (${spec.stages.length} stages)`)
    await waitFor('stage "work" to run', async () => (await api(c.byName('gamma').url, `/v1/joblists/${id}`)).body.currentStage === 'work', 30_000)
    const alpha = c.byName('alpha')
    const t0 = Date.now()
    await alpha.kill()
    say('killed the master alpha with SIGKILL while stage "work" runs')
    const survivors = c.alive()
    await waitForMaster(survivors, 'beta')
    const failoverMs = Date.now() - t0
    say(`beta is master in every survivor's view ${failoverMs} ms after the kill`)
    const jl = await waitFinal(c.byName('gamma').url, id, 60_000)
    say(`joblist ${id} ended: ${jl.state}`)
    for (const st of jl.stages) {
      for (const j of st.jobs) say(`  ${st.name}/${j.name}: ${j.state} on ${j.node ?? '-'} (${j.attempts.map((a: any) => `${a.state}@${a.node}`).join(', ')})`)
    }
    const hash = await waitSameHash(survivors)
    say(`survivors agree on the state hash ${hash}`)
    console.log(JSON.stringify({ joblist: id, state: jl.state, newMaster: 'beta', failoverMs, hash }))
    return jl.state === 'succeeded' ? 0 : 1
  } finally {
    await c.stopAll()
    say('stopped every agent')
  }
}

process.exitCode = await main().catch(err => { console.error(`demo failed: ${(err as Error).message}`); return 1 })
