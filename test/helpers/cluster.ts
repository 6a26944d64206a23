// Start several real agents on 127.0.0.1 that share a private network key.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeNewSwarmKey } from '../../src/net/swarm-key.js'
import type { Agent } from './agent.js'
import { api, cleanup, startAgent, tempDir, waitFor } from './agent.js'

export interface ClusterAgent extends Agent {
  name: string
  id: string
  p2p: string[]
  args: string[]
  /** Start again on the same data directory (after kill or stop). */
  restart: () => Promise<ClusterAgent>
}

export interface Cluster {
  agents: ClusterAgent[]
  keyFile: string
  dir: string
  alive: () => ClusterAgent[]
  byName: (name: string) => ClusterAgent
  stopAll: () => Promise<void>
}

export interface NodeSpec { name: string, priority?: number, args?: string[], nodeArgs?: string[] }

/** Loopback only, no mDNS, the partition gate on. */
export const BASE = ['--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0', '--enable-test-gate']
/** Faster heartbeats than the default, for quicker tests. */
export const FAST = ['--heartbeat-interval', '100ms', '--heartbeat-timeout', '600ms', ...BASE]

export interface Placement { wrap: string[], host: string, token: string }

export async function startCluster (nodes: NodeSpec[], extra: string[] = [], o: { fast?: boolean, place?: (i: number) => Placement } = {}): Promise<Cluster> {
  const dir = tempDir('cis-cluster-')
  const keyFile = join(dir, 'swarm.key')
  await writeNewSwarmKey(keyFile)
  const agents: ClusterAgent[] = []
  // Every process ever launched (a restart's too), so that stopAll leaves none behind, and no
  // launch after it (a restart timer that fires late).
  const launched = new Set<Agent>()
  let stopped = false
  const launch = async (spec: NodeSpec, dataDir: string, peers: string[]): Promise<ClusterAgent> => {
    if (stopped) throw new Error(`the cluster is stopped: ${spec.name} is not started again`)
    const at = o.place?.(nodes.indexOf(spec))
    const base = (o.fast === false ? BASE : FAST).map(a => at !== undefined && a === '/ip4/127.0.0.1/tcp/0' ? `/ip4/${at.host}/tcp/0` : a)
    const args = [...base, ...extra, '--swarm-key', keyFile, '--priority', String(spec.priority ?? 0), ...peers.flatMap(p => ['--peer', p]), ...(spec.args ?? []), ...(at !== undefined ? ['--token', at.token] : [])]
    const a = await startAgent({ name: spec.name, dataDir, args, ...(spec.nodeArgs !== undefined ? { nodeArgs: spec.nodeArgs } : {}), ...(at !== undefined ? { wrap: at.wrap, api: `${at.host}:0` } : {}) })
    launched.add(a)
    if (stopped) { await a.stop(); throw new Error(`the cluster stopped while ${spec.name} started`) }
    const info = JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')) as { id: string, p2p: string[] }
    const ca: ClusterAgent = Object.assign(a, {
      name: spec.name,
      id: info.id,
      p2p: info.p2p,
      args,
      // One restart at a time: a second call while one is under way (a timer and the end of a
      // chaos run) waits for it, and never starts a second process on the same data directory.
      restart: async () => {
        restarting ??= (async () => {
          const again = await launch(spec, dataDir, agents.filter(x => x !== ca && x.proc.exitCode === null && x.proc.signalCode === null).map(x => x.p2p[0]))
          agents[agents.indexOf(ca)] = again
          return again
        })()
        return await restarting
      }
    })
    let restarting: Promise<ClusterAgent> | undefined
    return ca
  }
  for (const spec of nodes) {
    const peers = agents.map(a => a.p2p[0])
    agents.push(await launch(spec, tempDir('cis-node-'), peers))
  }
  const cluster: Cluster = {
    agents,
    keyFile,
    dir,
    alive: () => agents.filter(a => a.proc.exitCode === null && a.proc.signalCode === null),
    byName: (name: string) => agents.find(a => a.name === name) as ClusterAgent,
    stopAll: async () => {
      stopped = true
      await Promise.all([...launched].map(async a => await a.stop()))
      for (const a of agents) cleanup(a.dataDir)
      cleanup(dir)
    }
  }
  await waitForMembers(cluster.alive(), nodes.length)
  return cluster
}

/** Every given agent sees `count` alive nodes (itself included). */
export async function waitForMembers (agents: Agent[], count: number, timeoutMs = 30_000): Promise<void> {
  try {
    await waitFor(`${agents.length} agents to see ${count} alive nodes`, async () => {
      for (const a of agents) {
        const nodes = (await api(a.url, '/v1/nodes')).body.nodes as Array<{ alive: boolean }>
        if (nodes.filter(n => n.alive).length !== count) return false
      }
      return true
    }, timeoutMs, 100)
  } catch (err) {
    // Say who sees whom, and who is connected to whom: that is what to look at next. For a
    // node that misses a peer, both sides' last lines about the other (CIS_TEST_LOG_LEVEL=debug
    // for more of them), and its own last lines.
    const views = await Promise.all(agents.map(async a => {
      try {
        const nodes = (await api(a.url, '/v1/nodes')).body.nodes as Array<{ id: string, name: string, alive: boolean, self: boolean }>
        return { a, nodes, me: nodes.find(n => n.self) }
      } catch (e) { return { a, error: (e as Error).message } }
    }))
    const byId = new Map(views.flatMap(v => v.me !== undefined ? [[v.me.id, v] as const] : []))
    const about = (text: string, id: string, n: number): string => text.split('\n').filter(l => l.includes(id)).slice(-n).join('\n')
    const lines = views.map(v => {
      if (v.nodes === undefined) return `${v.a.url}: ${v.error as string}`
      const me = v.me?.name ?? v.a.url
      const seen = v.nodes.filter(n => n.alive).map(n => n.name)
      if (seen.length === count) return `${me} sees ${seen.join(',')}`
      const out = [`${me} sees ${seen.join(',')}`, `--- ${me}'s log, last lines:`, v.a.output().split('\n').slice(-12).join('\n')]
      for (const n of v.nodes.filter(x => !x.alive && !x.self)) {
        out.push(`--- ${me}'s lines about ${n.name}:`, about(v.a.output(), n.id, 10))
        const other = byId.get(n.id)
        if (other !== undefined && v.me !== undefined) out.push(`--- ${n.name}'s lines about ${me}:`, about(other.a.output(), v.me.id, 10))
      }
      return `${out.join('\n')}\n---`
    })
    throw new Error(`${(err as Error).message}; ${lines.join('; ')}`)
  }
}

/** The master's name as each agent sees it. */
export async function mastersSeen (agents: Agent[]): Promise<string[]> {
  return await Promise.all(agents.map(async a => {
    const nodes = (await api(a.url, '/v1/nodes')).body.nodes as Array<{ name: string, master: boolean }>
    return nodes.find(n => n.master)?.name ?? ''
  }))
}

export async function waitForMaster (agents: Agent[], name: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`every agent to see ${name} as master`, async () => (await mastersSeen(agents)).every(m => m === name), timeoutMs, 50)
}

/** All agents report the same state hash; returns it. */
export async function waitSameHash (agents: Agent[], timeoutMs = 30_000): Promise<string> {
  return await waitFor('all agents to reach the same state hash', async () => {
    const hashes = await Promise.all(agents.map(async a => (await api(a.url, '/v1/state')).body.hash as string))
    return hashes.every(h => h === hashes[0]) ? hashes[0] : undefined
  }, timeoutMs, 100)
}

export async function partition (groups: ClusterAgent[][]): Promise<void> {
  for (const g of groups) {
    const others = groups.filter(x => x !== g).flat().map(a => a.id)
    for (const a of g) {
      const r = await api(a.url, '/v1/debug/partition', { body: { block: others } })
      if (r.status !== 200) throw new Error(`partition failed on ${a.name}: ${r.status}`)
    }
  }
}

export async function heal (agents: ClusterAgent[]): Promise<void> {
  for (const a of agents) await api(a.url, '/v1/debug/partition', { body: { block: [] } })
}
