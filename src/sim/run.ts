// A simulation run: N nodes on the simulated network, a scenario, and the figures it prints
// as one JSON line. Everything is driven by the virtual clock and the seeded random source,
// so the same options give the same line (the wall time it took goes to stderr, not the line).
import { defaultConfig } from '../config/config.js'
import type { CisEvent } from '../events/types.js'
import { eventKey } from '../events/types.js'
import { validateJoblist } from '../spec/validate.js'
import { stateHash } from '../state/hash.js'
import { FINAL_JOBLIST_STATES } from '../state/types.js'
import { VirtualClock } from './clock.js'
import { SimNetwork } from './network.js'
import { Random } from './random.js'
import { SimNode } from './sim-node.js'
import type { SimTiming } from './sim-node.js'

export const SCENARIOS = ['steady', 'kill-master', 'silent-cut', 'partition-heal', 'churn', 'link-cut'] as const
export type Scenario = typeof SCENARIOS[number]

export interface SimOptions {
  nodes: number
  seed: number
  scenario: Scenario
  latencyMs: number
  jitterMs: number
  loss: number
  /** Joblists submitted per virtual second while work streams in. */
  rate: number
  timing: SimTiming
  /** Told what happens (progress), to stderr by the CLI. */
  progress?: (line: string) => void
}

export interface SimResult {
  nodes: number
  seed: number
  scenario: Scenario
  /** Virtual ms to form one cluster (every node alive to every node, one master agreed). */
  formMs: number | null
  detectMs: number | null
  agreeMs: number | null
  reach50Ms: number | null
  reach99Ms: number | null
  reach100Ms: number | null
  idleMsgsPerNodePerSec: number
  /** Bytes a node sends a second while idle (beats or heartbeats, anti-entropy). */
  idleBytesPerNodePerSec: number
  /** Times, sampled every heartbeat interval of the idle window, a live node held another live node not alive (false suspicion: should be 0). */
  falseDown: number
  busyMsgsPerNodePerSec: number
  bytesPerNodePerSec: number
  maxConnectionsPerNode: number
  hashesEqual: boolean
  lost: number
  /** Joblists submitted, and ended on every live node. */
  submitted: number
  ended: number
  /** Jobs that ran to success more than once (two attempts, each reported succeeded by its executor): work done twice. */
  ranTwice: number
}

export function defaultSimOptions (over: Partial<SimOptions> = {}): SimOptions {
  const c = defaultConfig()
  return {
    nodes: 10,
    seed: 1,
    scenario: 'steady',
    latencyMs: 1,
    jitterMs: 0.5,
    loss: 0,
    rate: 20,
    timing: { heartbeatIntervalMs: c.heartbeat.intervalMs, heartbeatTimeoutMs: c.heartbeat.timeoutMs, syncIntervalMs: c.syncIntervalMs, batchWindowMs: c.batchWindowMs, jobMs: 500 },
    ...over
  }
}

const round = (x: number | null): number | null => x === null ? null : Math.round(x * 10) / 10

/** The p-quantile (0..1) of sorted values. */
const quantile = (sorted: number[], p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]
const median = (xs: number[]): number | null => xs.length === 0 ? null : [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

export async function simulate (o: SimOptions): Promise<SimResult> {
  const clock = new VirtualClock()
  const rng = new Random(o.seed)
  const net = new SimNetwork(clock, rng, { latencyMs: o.latencyMs, jitterMs: o.jitterMs, loss: o.loss })
  const scheduler = { ...defaultConfig().scheduler, lostAfterMs: 3000 }
  const say = o.progress ?? (() => {})
  const ids = Array.from({ length: o.nodes }, (_, i) => `n${String(i).padStart(4, '0')}`)
  // Three master candidates without slots (priority 3, 2, 1), the others run jobs.
  const priorityOf = (i: number): number => Math.max(0, 3 - i)
  const nodes = new Map<string, SimNode>()
  /** Probe events: key -> [virtual time written, times applied elsewhere]. */
  const probes = new Map<string, { at: number, seen: number[] }>()
  const applied = (_n: SimNode, e: CisEvent): void => {
    const p = probes.get(eventKey(e))
    if (p !== undefined) p.seen.push(clock.now - p.at)
  }
  const make = (id: string, i: number, log?: SimNode['log']): SimNode =>
    new SimNode({ id, priority: priorityOf(i), slots: priorityOf(i) > 0 ? 0 : 2, clock, net, rng, timing: o.timing, scheduler, ...(log !== undefined ? { log } : {}), applied })
  const live = (): SimNode[] => [...nodes.values()].filter(n => n.running)
  /** Start a killed node again: a new process on the same log. */
  const restart = (old: SimNode, peers: string[]): SimNode => {
    const fresh = make(old.id, ids.indexOf(old.id), old.log)
    nodes.set(old.id, fresh)
    fresh.start(peers)
    return fresh
  }

  // Start: each node dials one that started before it (its bootstrap peer); the rest comes from gossip.
  ids.forEach((id, i) => {
    const n = make(id, i)
    nodes.set(id, n)
    const peer = i === 0 ? [] : [ids[i < 3 ? 0 : rng.int(i)]]
    clock.at(i * 2, () => n.start(peer))
  })

  const formed = (): boolean => {
    const ns = live()
    const m = ns[0]?.following
    return m !== null && m !== undefined && ns.every(n => n.following === m) && nodes.get(m)?.role.established === true && ns.every(n => ns.every(p => n.membership.isAlive(p.id)))
  }
  /** Run until `done` holds (checked every `step` virtual ms) or `limit` ms pass; the ms it took, or null. */
  const until = async (done: () => boolean, limit: number, step = 5): Promise<number | null> => {
    const start = clock.now
    while (clock.now - start <= limit) {
      if (done()) return clock.now - start
      await clock.run(clock.now + step)
    }
    return null
  }

  const formMs = await until(formed, 60_000, 50)
  say(`formed: ${formMs === null ? 'not within 60 s' : `${Math.round(formMs)} ms`} (virtual), ${clock.ran} tasks`)
  // Formed is when every node has heard of every other once; the mesh (dials up to the target,
  // pruning) and the rounds of beats settle for a while after. What follows measures a
  // settled cluster: two timeouts more.
  await clock.run(clock.now + 2 * Math.max(...live().map(n => n.membership.timeout)))

  const sentNow = (): { msgs: number, bytes: number } => {
    let msgs = 0
    let bytes = 0
    for (const n of live()) { const t = net.sent.get(n.id); msgs += t?.msgs ?? 0; bytes += t?.bytes ?? 0 }
    return { msgs, bytes }
  }
  let maxConnections = 0
  const countConnections = (): void => { for (const n of live()) maxConnections = Math.max(maxConnections, net.connectionCount(n.id)) }

  // Idle: messages per node per second (nothing happens), then how fast a probe event reaches every node.
  const idleSec = 3
  const before = sentNow()
  let falseDown = 0
  for (const end = clock.now + idleSec * 1000; clock.now < end;) {
    await clock.run(Math.min(end, clock.now + o.timing.heartbeatIntervalMs))
    const ns = live()
    for (const n of ns) for (const p of ns) if (p !== n && !n.membership.isAlive(p.id)) falseDown++
  }
  countConnections()
  const afterIdle = sentNow()
  const idleMsgs = (afterIdle.msgs - before.msgs) / (live().length * idleSec)
  const idleBytes = (afterIdle.bytes - before.bytes) / (live().length * idleSec)
  for (let k = 0; k < 5; k++) {
    clock.at(clock.now + 100 + k * 500, () => {
      const ns = live()
      const n = rng.pick(ns)
      const { id: _id, updatedAt: _at, ...info } = n.state.nodes[n.id]
      const e = n.append('node', info)
      // (Applied by its writer at once, before it is known as a probe.)
      probes.set(eventKey(e), { at: clock.now, seen: [0] })
    })
  }
  await clock.run(clock.now + 3000)
  const reach = (p: number): number | null => median([...probes.values()].filter(x => x.seen.length > 0).map(x => {
    const sorted = [...x.seen].sort((a, b) => a - b)
    // Every node counts (the writer applies it at 0); a probe not seen everywhere has no 100 %.
    if (p === 1 && sorted.length < live().length) return Infinity
    return quantile(sorted, p)
  }))

  // Work streams in, on random live nodes, from here to the end of the faults.
  const submitted: Array<{ node: string, key: string }> = []
  const spec = validateJoblist({ name: 'sim', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 } }] }] })
  if (!spec.ok) throw new Error('the simulator\'s joblist does not validate')
  let streaming = true
  const submitOne = (): void => {
    if (!streaming) return
    const ns = live().filter(n => n.state.nodes[n.id] !== undefined)
    const n = rng.pick(ns)
    if (n !== undefined) submitted.push({ node: n.id, key: eventKey(n.append('submit', { spec: spec.spec, owner: 'sim' }, undefined, n.master() === n.id ? n.role.ownSubmit : undefined)) })
    clock.after(1000 / o.rate, submitOne)
  }
  clock.after(0, submitOne)
  const busyStart = sentNow()
  const busyAt = clock.now
  let detectMs: number | null = null
  let agreeMs: number | null = null

  const master = live()[0]?.following ?? null
  if (o.scenario === 'steady') {
    await clock.run(clock.now + 5000)
  } else if (o.scenario === 'kill-master' || o.scenario === 'silent-cut') {
    await clock.run(clock.now + 1000)
    const m = nodes.get(master as string) as SimNode
    if (o.scenario === 'kill-master') m.kill()
    else net.silentCut(m.id)
    say(`${o.scenario} of the master ${m.id} at ${Math.round(clock.now)} ms`)
    const others = (): SimNode[] => live().filter(n => n !== m)
    const t0 = clock.now
    detectMs = await until(() => others().every(n => !n.membership.isAlive(m.id)), 30_000, 1)
    agreeMs = await until(() => {
      const ns = others()
      const next = ns[0]?.following
      return next !== undefined && next !== null && next !== m.id && ns.every(n => n.following === next) && nodes.get(next)?.role.established === true
    }, 30_000, 1)
    if (agreeMs !== null) agreeMs = clock.now - t0
    await clock.run(clock.now + 3000)
    if (o.scenario === 'silent-cut') net.mend(m.id)
    else restart(m, [ids[1]])
    await clock.run(clock.now + 1000)
  } else if (o.scenario === 'partition-heal') {
    await clock.run(clock.now + 1000)
    const ns = live()
    const half = [ns.filter((_, i) => i % 2 === 0).map(n => n.id), ns.filter((_, i) => i % 2 === 1).map(n => n.id)]
    net.partition(half)
    say(`partition in two halves of ${half[0].length} and ${half[1].length} at ${Math.round(clock.now)} ms`)
    const side = (id: string): number => half[0].includes(id) ? 0 : 1
    detectMs = await until(() => live().every(n => half[1 - side(n.id)].every(p => !n.membership.isAlive(p))), 30_000, 5)
    await clock.run(clock.now + 4000)
    net.heal()
    say(`healed at ${Math.round(clock.now)} ms`)
    const t0 = clock.now
    agreeMs = await until(() => { const m = live()[0].following; return live().every(n => n.following === m && ns.every(p => n.membership.isAlive(p.id))) }, 30_000, 5)
    if (agreeMs !== null) agreeMs = clock.now - t0
  } else if (o.scenario === 'link-cut') {
    // One link cut silently: the master and one node that watches it no longer hear each
    // other; both still reach every other node. The master is alive: every node that holds it
    // down at some moment (checked each 5 ms for 5 s) counts once as a false down; detectMs is
    // when the first did (null: none did), agreeMs when the first node followed another master.
    await clock.run(clock.now + 1000)
    const m = nodes.get(master as string) as SimNode
    // In the ring, a node that watches the master; in a full mesh, the next in line for the office.
    const watcher = live().find(n => n.id !== m.id && n.membership.watches(m.id)) ?? live().filter(n => n !== m).sort((a, b) => priorityOf(ids.indexOf(b.id)) - priorityOf(ids.indexOf(a.id)) || (a.id < b.id ? -1 : 1))[0]
    if (watcher !== undefined) {
      net.cutLink(m.id, watcher.id)
      say(`link between the master ${m.id} and ${watcher.id} (${watcher.membership.watches(m.id) ? 'a watcher' : 'next in line'}) cut at ${Math.round(clock.now)} ms`)
      const t0 = clock.now
      const held = new Set<string>()
      for (const end = clock.now + 5000; clock.now < end;) {
        await clock.run(Math.min(end, clock.now + 5))
        for (const n of live()) {
          if (n === m) continue
          if (!n.membership.isAlive(m.id)) { held.add(n.id); detectMs ??= clock.now - t0 }
          if (n.following !== m.id && n.following !== null) agreeMs ??= clock.now - t0
        }
      }
      falseDown += held.size
      say(`${held.size} nodes held the master down at some moment`)
      net.mendLink(m.id, watcher.id)
      await clock.run(clock.now + 1000)
    }
  } else if (o.scenario === 'churn') {
    const dead: SimNode[] = []
    const end = clock.now + 6000
    while (clock.now < end) {
      await clock.run(clock.now + 500)
      const candidates = live().filter(n => n.id !== master && priorityOf(ids.indexOf(n.id)) === 0)
      if (candidates.length > 1) { const k = rng.pick(candidates); k.kill(); dead.push(k) }
      if (dead.length > 1) restart(dead.shift() as SimNode, [ids[0]])
    }
    for (const r of dead) restart(r, [ids[0]])
  }
  countConnections()
  const busyEnd = sentNow()
  const busySec = (clock.now - busyAt) / 1000
  const busyMsgs = (busyEnd.msgs - busyStart.msgs) / (live().length * busySec)
  const busyBytes = (busyEnd.bytes - busyStart.bytes) / (live().length * busySec)
  streaming = false
  say(`${submitted.length} joblists submitted; settling`)

  // Settle: every submitted joblist ended everywhere, every live node with the same hash.
  const allEnded = (): boolean => live().every(n => submitted.every(s => {
    const id = n.state.requests[s.key]?.joblistId
    return id !== undefined && FINAL_JOBLIST_STATES.has(n.state.joblists[id]?.state)
  }))
  const sameHash = (): boolean => new Set(live().map(n => stateHash(n.state))).size === 1
  await until(() => allEnded() && sameHash(), 120_000, 100)
  const ref = live()[0]
  let ended = 0
  let lost = 0
  for (const s of submitted) {
    const id = ref.state.requests[s.key]?.joblistId
    const ok = id !== undefined && ref.state.joblists[id]?.state === 'succeeded'
    if (ok) ended++
    else if (nodes.get(s.node)?.running === true) lost++
  }
  let ranTwice = 0
  for (const byN of Object.values(ref.state.attempts)) {
    let ok = 0
    for (const a of Object.values(byN)) if (a.finish?.state === 'succeeded') ok++
    if (ok > 1) ranTwice++
  }
  say(`done at ${Math.round(clock.now)} ms virtual, ${clock.ran} tasks`)
  return {
    nodes: o.nodes,
    seed: o.seed,
    scenario: o.scenario,
    formMs: round(formMs),
    detectMs: round(detectMs),
    agreeMs: round(agreeMs),
    reach50Ms: round(reach(0.5)),
    reach99Ms: round(reach(0.99)),
    reach100Ms: round(reach(1)),
    idleMsgsPerNodePerSec: Math.round(idleMsgs * 10) / 10,
    idleBytesPerNodePerSec: Math.round(idleBytes),
    falseDown,
    busyMsgsPerNodePerSec: Math.round(busyMsgs * 10) / 10,
    bytesPerNodePerSec: Math.round(busyBytes),
    maxConnectionsPerNode: maxConnections,
    hashesEqual: sameHash(),
    lost,
    submitted: submitted.length,
    ended,
    ranTwice
  }
}
