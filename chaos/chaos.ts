// `npm run chaos -- --seed N --duration SECONDS [--agents N] [--lost-after D] [--archive-after D] [--purge-after D] [--netns]`: a bounded run on 127.0.0.1.
// Agents with different priorities and resources; a stream of multi-stage joblists (some
// with retries, some failing on purpose, some stopped); a driver that SIGKILLs agents (the
// master too), restarts them, and partitions and heals the cluster through the test gate.
// At the end it checks the invariants and prints one JSON line; exit 1 if any broke. With
// --purge-after (G-6 retention under faults), ended joblists leave the cluster as it runs: each
// one missing at the end must be in the purged set, and must have been told ended first (every
// joblist then asks for webhooks: the receiver learns its ID and its end).
import '../src/polyfill.js'
import type { ClusterAgent, Cluster } from '../test/helpers/cluster.js'
import { heal, partition, startCluster, waitForMembers, waitSameHash } from '../test/helpers/cluster.js'
import { api, setApiToken, sleep, waitFor } from '../test/helpers/agent.js'
import { NetnsLab } from './netns.js'
import { FINAL_JOBLIST_STATES } from '../src/state/types.js'
import type { JoblistState } from '../src/state/types.js'
import { instantsBetween } from '../src/spec/cron.js'
import { MAX_SKIP_RECORDS } from '../src/state/schedules.js'
import { isPurged } from '../src/state/purged.js'
import { missingJobRecords } from '../src/state/views.js'
import { parseDuration } from '../src/spec/duration.js'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// Every agent of a chaos run checks each snapshot it computes from the reducer's marks against
// a full one (store/snapshot-parts.ts): a missed change stops it, and the run fails.
process.env.CIS_CHECK_SNAPSHOTS ??= '1'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { seededRandom } from '../src/util/seeded-random.js'

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : def
}

export interface ChaosResult {
  seed: number
  joblists: number
  kills: number
  partitions: number
  lost: number
  duplicates: number
  /** Attempts that ran twice, per 100 joblists. */
  duplicatesPer100: number
  stageViolations: number
  /** Joblists of the final state missing a job record of their stages (a view of them fails): must be 0. */
  brokenRecords: number
  doubleHeld: number
  hashesEqual: boolean
  masterlessMs: number
  /** Runs of the workload's schedules (S-1). */
  scheduleRuns: number
  /** Instants launched twice (by two masters at once: a partition, or a kill before the launch replicated), all marked duplicate. */
  scheduleDoubled: number
  /** Broken schedule invariants: an instant run twice in a connected period or by one node, or one neither run nor skipped. */
  scheduleViolations: number
  /** Webhook deliveries asked for (D-2): status changes of joblists with `notify`. */
  webhooksDue: number
  /** ... of those, never received (at least once is the promise: must be 0). */
  webhooksMissing: number
  /** Deliveries received more than once (same webhook-id): at least once allows them. */
  webhookDuplicates: number
  /** With purgeAfter: accepted joblists purged by retention during the run (each told ended first, and in the purged set). */
  purged?: number
  /** With purgeAfter: joblists purged whose end was never told (an open joblist purged): must be 0 (counted in lost too). */
  purgedOpen?: number
}

/** What the webhooks told of one joblist name: its IDs, and those told ended. */
export interface Told { ids: Set<string>, ended: Set<string> }

/** A webhook receiver on loopback that counts what it gets, by webhook-id, and what each joblist name was told. */
async function webhookReceiver (): Promise<{ url: string, got: Map<string, number>, told: Map<string, Told>, close: () => Promise<void> }> {
  const got = new Map<string, number>()
  const told = new Map<string, Told>()
  const server = createServer((req, res) => {
    const id = req.headers['webhook-id']
    const chunks: Buffer[] = []
    req.on('data', (b: Buffer) => chunks.push(b))
    req.on('end', () => {
      if (typeof id === 'string') got.set(id, (got.get(id) ?? 0) + 1)
      try {
        const m = JSON.parse(Buffer.concat(chunks).toString()) as { type?: string, data?: { id?: string, name?: string, state?: string } | null }
        const d = m.data
        if (typeof m.type === 'string' && m.type.startsWith('joblist.') && d != null && typeof d.id === 'string' && typeof d.name === 'string') {
          const t = told.get(d.name) ?? { ids: new Set<string>(), ended: new Set<string>() }
          t.ids.add(d.id)
          if (FINAL_JOBLIST_STATES.has(m.type.slice('joblist.'.length) as JoblistState)) t.ended.add(d.id)
          told.set(d.name, t)
        }
      } catch { /* not ours to judge: counted by its id above */ }
      res.writeHead(200).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, told, close: async () => { server.closeAllConnections(); await new Promise(resolve => server.close(resolve)) } }
}

/** The workload's schedules: every 2 s (catch up one, overlap skip), every 3 s (catch up all, overlaps allowed, failing runs go on). */
const SCHEDULES = [
  { name: 'chaos-tick', schedule: { cron: '*/2 * * * * *', onFailure: 'continue' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'sleep 0.3' }] }] },
  { name: 'chaos-all', schedule: { cron: '*/3 * * * * *', catchUp: 'all', overlap: 'allow', onFailure: 'continue' }, stages: [{ name: 's', jobs: [{ name: 'j', run: '[ $((RANDOM % 5)) -ne 0 ]' }] }] }
]

const say = (m: string): void => { process.stderr.write(`chaos ${new Date().toISOString().slice(11, 23)}: ${m}\n`) }

export interface ChaosOptions {
  /** Each agent in its own network namespace; partitions take links down (root only). */
  netns?: boolean
  /**
   * The agents' scheduler.lostAfter (e.g. '0s': lost at the heartbeat timeout, the aggressive
   * setting that runs work twice after a blip). Absent: the agents' default.
   */
  lostAfter?: string
  /** The agents' store.archiveAfter (e.g. '1s': ended joblists leave memory at once, and late events bring them back). */
  archiveAfter?: string
  /** The agents' store.purgeAfter (G-6: e.g. '10s': ended joblists leave every node by retention during the run). */
  purgeAfter?: string
}

export async function chaos (seed: number, durationS: number, agents = 5, o: ChaosOptions = {}): Promise<ChaosResult> {
  const netns = o.netns === true
  const rand = seededRandom(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  // With netns: each agent in its own network namespace; partitions take links down.
  const lab = netns ? new NetnsLab(agents) : undefined
  const token = 'chaos-netns-token'
  if (lab !== undefined) { lab.setup(); setApiToken(token) }
  // Webhooks (D-2) to a counting receiver here; in netns runs the agents cannot reach it.
  const hooks = netns ? undefined : await webhookReceiver()
  const purgeAfterMs = o.purgeAfter === undefined ? 0 : parseDuration(o.purgeAfter)
  if (typeof purgeAfterMs === 'string') throw new Error(`--purge-after ${o.purgeAfter}: ${purgeAfterMs}`)
  if (purgeAfterMs > 0 && hooks === undefined) throw new Error('--purge-after needs the webhook receiver (not with --netns): it tells which purged joblists had ended')
  const confDir = mkdtempSync(join(tmpdir(), 'cis-chaos-conf-'))
  const conf = join(confDir, 'cis.yaml')
  const store = [...(o.archiveAfter !== undefined ? [`  archiveAfter: ${o.archiveAfter}`] : []), ...(purgeAfterMs > 0 ? [`  purgeAfter: ${o.purgeAfter as string}`] : [])]
  writeFileSync(conf, 'notify:\n  secret: chaos-secret\n  allowHosts: [127.0.0.1]\n  timeout: 5s\n' + (store.length > 0 ? `store:\n${store.join('\n')}\n` : ''))
  let c: Cluster
  try {
    c = await startCluster(Array.from({ length: agents }, (_, i) => ({
      name: `x${i}`, priority: (agents - i) * 10, args: ['--config', conf, '--resource', `slot=${1 + (i % 3)}`, ...(i % 2 === 0 ? ['--resource', 'gpu=1'] : []), ...(o.lostAfter !== undefined ? ['--lost-after', o.lostAfter] : [])]
    })), [], lab !== undefined ? { place: i => ({ wrap: lab.wrap(i), host: lab.host(i), token }) } : {})
  } catch (err) {
    lab?.teardown()
    setApiToken(undefined)
    await hooks?.close()
    rmSync(confDir, { recursive: true, force: true })
    throw err
  }
  const cut = new Set<string>()
  const live = (): ClusterAgent[] => c.alive().filter(a => !cut.has(a.name))
  const names: string[] = []
  let kills = 0
  let partitions = 0
  let masterlessMs = 0
  const result: Partial<ChaosResult> = { seed }
  /** When the cluster was not one connected whole: [from, to] (kills and partitions). */
  const disturbed: Array<[number, number]> = []
  try {
    for (const body of SCHEDULES) {
      // A loaded machine: the agent may not answer at once (a refused connection or a 5xx is
      // asked again, for 30 s); any other answer than 201 is a defect of the run's input.
      const r = await waitFor(`agent x0 to define schedule ${body.name}`, async () => {
        const r = await api(c.agents[0].url, '/v1/joblists', { body })
        return r.status >= 500 ? false : r
      }, 30_000, 250)
      if (r.status !== 201) throw new Error(`cannot define schedule ${body.name}: ${r.status} ${JSON.stringify(r.body)}`)
    }
    const until = Date.now() + durationS * 1000
    let n = 0
    let nextKill = Date.now() + 2000 + rand() * 3000
    let nextCut = Date.now() + 4000 + rand() * 4000
    let lastSample = Date.now()
    while (Date.now() < until) {
      // A joblist: 1-3 stages of 1-3 jobs; some fail on purpose, some retry, some are slow.
      const name = `c${seed}-${n++}`
      const stages = Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, si) => ({
        name: `s${si}`,
        jobs: Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, ji) => {
          const r = rand()
          const run = r < 0.1 ? 'exit 3' : r < 0.2 ? '[ "$CIS_ATTEMPT" -ge 2 ]' : `sleep ${(rand() * 0.6).toFixed(2)}`
          return { name: `j${ji}`, run, retries: r < 0.2 ? 1 : 0, needs: rand() < 0.15 ? { gpu: 1 } : { slot: 1 } }
        })
      }))
      const via = pick(live())
      // A quarter of the joblists ask for webhooks on every status change (all of them with
      // purgeAfter: how the check learns that a purged one had ended).
      const notify = hooks !== undefined && (rand() < 0.25 || purgeAfterMs > 0) ? { notify: [{ webhook: hooks.url }] } : {}
      try {
        const r = await api(via.url, '/v1/joblists', { body: { name, stages, ...notify } })
        if (r.status === 201 || r.status === 202) names.push(name)
      } catch { /* the agent died under us: the request may or may not be durable */ }
      if (rand() < 0.08 && names.length > 0) {
        const victim = pick(names)
        try { await api(pick(live()).url, `/v1/joblists/${victim}/stop`, { method: 'POST' }) } catch { /* fine */ }
      }
      if (Date.now() > nextKill && live().length > Math.ceil(agents / 2)) {
        // Kill the master half of the time.
        const masters = await Promise.all(live().map(async a => { try { return (await api(a.url, '/v1/nodes')).body.nodes.find((x: any) => x.master)?.name } catch { return undefined } }))
        const target = rand() < 0.5 ? live().find(a => a.name === masters[0]) ?? pick(live()) : pick(live())
        say(`kill -9 ${target.name}`)
        const killedAt = Date.now()
        await target.kill()
        kills++
        const restartAfter = 500 + rand() * 1500
        // Disturbed from the kill until the agent is back and has rejoined (its restart and
        // any master change it causes are not a connected period).
        const window: [number, number] = [killedAt - 1000, Date.now() + restartAfter + 30_000]
        disturbed.push(window)
        setTimeout(() => { void target.restart().then(() => { window[1] = Date.now() + 3000 }, err => say(`restart failed: ${(err as Error).message}`)) }, restartAfter)
        nextKill = Date.now() + 3000 + rand() * 4000
      }
      if (Date.now() > nextCut && live().length === agents && cut.size === 0) {
        const shuffled = [...live()].sort(() => rand() - 0.5)
        const k = 1 + Math.floor(rand() * (agents - 1))
        say(`partition ${shuffled.slice(0, k).map(a => a.name).join(',')} | ${shuffled.slice(k).map(a => a.name).join(',')}`)
        if (lab !== undefined) {
          // A real cut: the minority side's links go down (silent: no connection closes).
          const minority = k <= agents / 2 ? shuffled.slice(0, k) : shuffled.slice(k)
          lab.cut(minority.map(a => c.agents.indexOf(a)))
          for (const a of minority) cut.add(a.name)
          const healAfter = 1500 + rand() * 2000
          disturbed.push([Date.now() - 1000, Date.now() + healAfter + 3000])
          setTimeout(() => { lab.heal(); cut.clear() }, healAfter)
        } else {
          const healAfter = 1500 + rand() * 2000
          disturbed.push([Date.now() - 1000, Date.now() + healAfter + 3000])
          try { await partition([shuffled.slice(0, k), shuffled.slice(k)]) } catch { /* an agent died meanwhile */ }
          setTimeout(() => { void heal(live()).catch(() => {}) }, healAfter)
        }
        partitions++
        nextCut = Date.now() + 5000 + rand() * 5000
      }
      // Masterless time: an alive agent that names a master that is not running.
      const now = Date.now()
      const alive = new Set(live().map(a => a.name))
      const views = await Promise.all(live().map(async a => { try { return (await api(a.url, '/v1/nodes')).body.nodes.find((x: any) => x.master)?.name as string | undefined } catch { return undefined } }))
      if (views.some(v => v !== undefined && !alive.has(v))) masterlessMs += now - lastSample
      lastSample = now
      await sleep(100 + rand() * 200)
    }
    say('stopping the chaos: healing, restarting every agent, waiting for every joblist to end')
    // The end phase (restarts, heals) is not a connected period either, until every agent is back.
    const endPhase: [number, number] = [Date.now(), Infinity]
    disturbed.push(endPhase)
    await sleep(4000) // pending restarts and heals
    lab?.heal()
    cut.clear()
    for (const a of c.agents) if (a.proc.exitCode !== null || a.proc.signalCode !== null) await a.restart()
    await heal(c.alive())
    await waitForMembers(c.alive(), agents, 60_000)
    endPhase[1] = Date.now() + 3000
    const first = c.alive()[0]
    // No more runs: the schedules are removed (their history stays), so the state can settle.
    for (const { name } of SCHEDULES) await api(first.url, `/v1/schedules/${name}`, { method: 'DELETE' })
    await waitFor('every joblist to end', async () => {
      const list = (await api(first.url, '/v1/joblists')).body.joblists as Array<{ state: JoblistState }>
      const open = (await api(first.url, '/v1/stats')).body.unaccepted as number
      return open === 0 && list.every(j => FINAL_JOBLIST_STATES.has(j.state))
    }, 180_000, 500).catch(async err => {
      // Say where it stuck: each open joblist's jobs, their attempts and why they wait.
      const list = (await api(first.url, '/v1/joblists')).body.joblists as Array<{ id: string, state: JoblistState }>
      for (const jl of list.filter(j => !FINAL_JOBLIST_STATES.has(j.state)).slice(0, 5)) {
        const b = (await api(first.url, `/v1/joblists/${jl.id}`)).body
        for (const s of b.stages) {
          for (const j of s.jobs) {
            say(`open: ${jl.id} ${s.name as string}/${j.name as string} ${j.state as string}${j.waiting !== undefined ? ` waits: ${j.waiting as string}` : ''} attempts ${JSON.stringify(j.attempts.map((a: any) => [a.n, a.state, a.node, a.reason]))}`)
            // The same job as the node it was given to sees it.
            const there = c.alive().find(a => a.name === j.attempts[j.attempts.length - 1]?.node)
            if (there !== undefined && there !== first) {
              const v = (await api(there.url, `/v1/jobs/${j.id as string}`)).body
              say(`  on ${there.name}: ${v.state as string} attempts ${JSON.stringify(v.attempts?.map((a: any) => [a.n, a.state, a.reason]))}`)
            }
          }
        }
      }
      for (const a of c.alive()) say(`vector of ${a.name}: ${JSON.stringify(Object.values((await api(a.url, '/v1/state?hash=false')).body.origins))}`)
      say(`unaccepted requests: ${String((await api(first.url, '/v1/stats')).body.unaccepted)}; nodes: ${JSON.stringify((await api(first.url, '/v1/nodes')).body.nodes.map((n: any) => [n.name, n.alive, n.master]))}`)
      throw err
    })
    let hashesEqual = true
    try { await waitSameHash(c.alive(), 60_000) } catch {
      hashesEqual = false
      const states = await Promise.all(c.alive().map(async a => (await api(a.url, '/v1/state?full=true')).body))
      const groups = new Map<string, string[]>()
      states.forEach((st, i) => groups.set(st.hash, [...(groups.get(st.hash) ?? []), c.alive()[i].name]))
      say(`state hashes differ: ${[...groups].map(([h, ns]) => `${h.slice(0, 8)}: ${ns.join(',')}`).join('  ')}`)
      const [a, b] = [...groups.values()].map(ns => states[c.alive().findIndex(x => x.name === ns[0])].state)
      for (const d of diff(a, b, '').slice(0, 8)) say(`  differs at ${d}`)
    }
    const readAt = Date.now()
    const full = (await api(first.url, '/v1/state?full=true')).body.state
    // Every status change asked for is delivered at least once (the master retries; wait for it).
    let webhooks = { webhooksDue: 0, webhooksMissing: 0, webhookDuplicates: 0 }
    if (hooks !== undefined) {
      const list = (await api(first.url, '/v1/notifications')).body.notifications as Array<{ id: string }>
      const ids = list.map(n => n.id)
      await waitFor('every webhook to be delivered', () => ids.every(id => hooks.got.has(id)), 120_000, 200).catch(() => {})
      const missing = ids.filter(id => !hooks.got.has(id))
      for (const id of missing.slice(0, 5)) say(`webhook never received: ${id}`)
      webhooks = { webhooksDue: ids.length, webhooksMissing: missing.length, webhookDuplicates: [...hooks.got.values()].reduce((n, k) => n + k - 1, 0) }
    }
    // With purgeAfter: a joblist gone from the state is accounted for if its ID is purged and
    // it was told ended (retention purges only ended joblists, after their notifications).
    const { accounted, ...retention } = purgeAfterMs > 0 && hooks !== undefined ? accountPurged(full, names, hooks.told) : { accounted: new Set<string>() }
    // (Instants before the last possible cutoff of a purge may have left with their runs.)
    const checked = { ...check(full, names.filter(n => !accounted.has(n))), ...checkSchedules(full, disturbed, purgeAfterMs > 0 ? readAt - purgeAfterMs : -Infinity), ...webhooks, ...retention }
    Object.assign(result, checked, { duplicatesPer100: checked.joblists === 0 ? 0 : Math.round(checked.duplicates * 1000 / checked.joblists) / 10, kills, partitions, hashesEqual, masterlessMs })
    return result as ChaosResult
  } finally {
    await c.stopAll()
    lab?.teardown()
    setApiToken(undefined)
    await hooks?.close()
    rmSync(confDir, { recursive: true, force: true })
  }
}

/**
 * The submitted joblists missing from the final state that retention purged (G-6): their ID in
 * the purged set and told ended by a webhook before (one of its IDs, if it had two). One purged
 * without such a word is an open joblist purged (`purgedOpen`, and not accounted: the check
 * counts it lost).
 */
export function accountPurged (state: any, submitted: string[], told: ReadonlyMap<string, Told>): { accounted: Set<string>, purged: number, purgedOpen: number } {
  const present = new Set((Object.values(state.joblists) as Array<{ name: string }>).map(j => j.name))
  const accounted = new Set<string>()
  let purgedOpen = 0
  for (const name of submitted) {
    const t = told.get(name)
    if (present.has(name) || t === undefined) continue
    const gone = [...t.ids].filter(id => isPurged(state, id))
    if (gone.length === 0) continue
    // (A request accepted twice, by two masters of a partition, has two IDs: the one that lost
    // never runs nor ends, and the purge names both. One of them told ended is its end.)
    if (gone.some(id => t.ended.has(id))) accounted.add(name)
    else { purgedOpen++; say(`purged but never told ended: ${name} (${gone.join(', ')})`) }
  }
  return { accounted, purged: accounted.size, purgedOpen }
}

/** Paths where two JSON values differ (for a report when hashes differ). */
export function diff (a: unknown, b: unknown, at: string): string[] {
  if (a === b) return []
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return [`${at}: ${JSON.stringify(a)?.slice(0, 120)} vs ${JSON.stringify(b)?.slice(0, 120)}`]
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  const out: string[] = []
  for (const k of keys) {
    if (k === 'clock') continue
    out.push(...diff((a as any)[k], (b as any)[k], `${at}.${k}`))
    if (out.length > 20) break
  }
  return out
}

/** The invariants, from the records of the final state. */
export function check (state: any, submitted: string[]): Pick<ChaosResult, 'joblists' | 'lost' | 'duplicates' | 'stageViolations' | 'doubleHeld' | 'brokenRecords'> {
  const jls = Object.values(state.joblists) as any[]
  const byName = new Map<string, number>()
  for (const jl of jls) byName.set(jl.name, (byName.get(jl.name) ?? 0) + 1)
  let lost = 0
  for (const name of submitted) if ((byName.get(name) ?? 0) !== 1) lost++ // missing, or with two IDs
  let duplicates = 0
  let stageViolations = 0
  const spans = new Map<string, Array<[number, number, string]>>()
  // A joblist whose stages name a job the state has no record of (its views would fail).
  const broken = new Set<string>()
  for (const jl of jls) {
    const missing = missingJobRecords(state, jl)
    if (missing.length > 0) { broken.add(jl.id); say(`joblist ${jl.id as string} (${jl.name as string}, ${jl.state as string}) has no record of its jobs ${missing.join(', ')}`) }
  }
  for (const jl of jls) {
    if (!FINAL_JOBLIST_STATES.has(jl.state)) lost++
    if (broken.has(jl.id)) continue
    duplicates += jl.duplicates
    if (jl.duplicates > 0) {
      // Why a job ran twice: what the master said of the run it thought lost.
      for (const stage of jl.stages) {
        for (const logical of stage.jobIds) {
          for (const id of state.jobs[logical].physical ?? [logical]) {
            const ok = (Object.values(state.attempts[id] ?? {}) as any[]).filter(a => a.state === 'succeeded')
            if (ok.length > 1) say(`ran twice: ${id}: ${ok.map(a => `#${a.n as number} ${a.lostMark?.reason as string ?? 'not declared lost'}`).join('; ')}`)
          }
        }
      }
    }
    let prevEnd = 0
    for (const stage of jl.stages) {
      let start = Infinity
      let end = 0
      for (const logical of stage.jobIds) {
        for (const id of state.jobs[logical].physical ?? [logical]) {
          const attempts = Object.values(state.attempts[id] ?? {}) as any[]
          for (const a of attempts) {
            if (a.startedAt !== undefined) start = Math.min(start, a.startedAt)
            // A span needs a start and an end reported by the same executor, the node whose
            // assignment's resources the record holds. (Two masters in a healing partition may
            // have given one attempt number to two nodes: the reducer keeps one assign, with
            // its node's resources; if the other node ran it, the instances it held are not
            // in the record, and those of the kept assign are not its own. Such facts are
            // counted as conflicts, not as a hold.)
            if (a.startedAt !== undefined && a.endedAt !== undefined && a.startPos?.[2] === (a.finishPos?.[2] ?? a.startPos?.[2]) && (a.ranOn ?? a.node) === a.node) {
              const node = a.node
              for (const [type, ids] of Object.entries(a.resources as Record<string, string[]>)) {
                for (const inst of ids) {
                  const k = `${node as string}/${type}/${inst}`
                  spans.set(k, [...(spans.get(k) ?? []), [a.startedAt, a.endedAt, `${id}#${a.n as number}`]])
                }
              }
            }
          }
          // The attempt that decided the job: its first success, else its last attempt.
          const decisive = attempts.find(a => a.state === 'succeeded') ?? attempts[attempts.length - 1]
          if (decisive?.endedAt !== undefined) end = Math.max(end, decisive.endedAt)
        }
      }
      if (start < prevEnd) stageViolations++
      if (end > 0) prevEnd = end
    }
  }
  let doubleHeld = 0
  for (const [inst, list] of spans) {
    list.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < list.length; i++) {
      if (list[i][0] < list[i - 1][1]) {
        doubleHeld++
        const show = (x: [number, number, string]): string => {
          const [jobId, n] = x[2].split('#')
          const a = state.attempts[jobId]?.[n]
          return `${x[2]} ${x[0]}..${x[1]} ${a?.state as string} (${a?.reason as string ?? ''})`
        }
        say(`double hold of ${inst.slice(-20)}: ${show(list[i - 1])} and ${show(list[i])}`)
      }
    }
  }
  return { joblists: jls.length, lost, duplicates, stageViolations, doubleHeld, brokenRecords: broken.size }
}

/**
 * The schedule invariants (S-1): no node launched one instant twice; an instant launched twice
 * (two masters at once) falls in a disturbed period and the later run is marked duplicate;
 * every cron instant from the first run to the last is run or skipped with a reason (the
 * workload's schedules never pause), but those before `purgedBefore` (their runs may have been purged).
 */
export function checkSchedules (state: any, disturbed: Array<[number, number]>, purgedBefore = -Infinity): Pick<ChaosResult, 'scheduleRuns' | 'scheduleDoubled' | 'scheduleViolations'> {
  let runs = 0
  let doubled = 0
  let violations = 0
  for (const rec of Object.values(state.schedules) as any[]) {
    const def = rec.spec?.schedule
    if (def === undefined) continue
    runs += rec.runs.length
    const instants = Object.keys(rec.byInstant).map(Number).sort((a, b) => a - b)
    for (const at of instants) {
      const keys = rec.byInstant[String(at)] as string[]
      if (keys.length < 2) continue
      doubled++
      const origins = keys.map(k => state.requests[k].origin as string)
      if (new Set(origins).size !== origins.length) { violations++; say(`schedule ${rec.name as string}: one node launched ${new Date(at).toISOString()} twice`) }
      const when = Math.min(...keys.map(k => state.requests[k].at as number))
      const hhmmss = (t: number): string => new Date(t).toISOString().slice(11, 23)
      const by = keys.map(k => `${state.nodes[state.requests[k].origin]?.name as string ?? state.requests[k].origin as string} at ${hhmmss(state.requests[k].at)}`).join(', ')
      say(`schedule ${rec.name as string}: ${hhmmss(at)} launched twice (by ${by})`)
      if (!disturbed.some(([from, to]) => when >= from && when <= to)) {
        violations++
        const near = disturbed.filter(([from, to]) => Math.abs(from - when) < 20_000 || Math.abs(to - when) < 20_000).map(([from, to]) => `${hhmmss(from)}..${Number.isFinite(to) ? hhmmss(to) : 'end'}`).join(' ')
        say(`schedule ${rec.name as string}: ${new Date(at).toISOString()} launched twice while the cluster was connected (by ${by}; disturbed nearby: ${near || 'none'})`)
      }
    }
    if (instants.length === 0) continue
    const skipped = (rec.skips as Array<{ from: number, to: number }>)
    // (A schedule keeps its latest MAX_SKIP_RECORDS skips: before the oldest kept, older ones may be cut.)
    const kept = skipped.length >= MAX_SKIP_RECORDS ? skipped[0].from : -Infinity
    const { instants: expected } = instantsBetween(def.cron, def.timezone, instants[0] - 1, instants[instants.length - 1], 1_000_000)
    for (const at of expected) {
      if (at < kept || at < purgedBefore || rec.byInstant[String(at)] !== undefined || skipped.some(sk => at >= sk.from && at <= sk.to)) continue
      violations++
      say(`schedule ${rec.name as string}: ${new Date(at).toISOString()} neither run nor skipped`)
    }
  }
  return { scheduleRuns: runs, scheduleDoubled: doubled, scheduleViolations: violations }
}

const isMain = process.argv[1]?.endsWith('chaos.js') === true
if (isMain) {
  const seed = arg('seed', Math.floor(Math.random() * 1e6))
  const duration = arg('duration', 60)
  const agents = arg('agents', 5)
  const netns = process.argv.includes('--netns')
  const la = process.argv.indexOf('--lost-after')
  const lostAfter = la > 0 ? process.argv[la + 1] : undefined
  const aa = process.argv.indexOf('--archive-after')
  const archiveAfter = aa > 0 ? process.argv[aa + 1] : undefined
  const pa = process.argv.indexOf('--purge-after')
  const purgeAfter = pa > 0 ? process.argv[pa + 1] : undefined
  const replay = `--seed ${seed}${netns ? ' --netns' : ''}${lostAfter !== undefined ? ` --lost-after ${lostAfter}` : ''}${archiveAfter !== undefined ? ` --archive-after ${archiveAfter}` : ''}${purgeAfter !== undefined ? ` --purge-after ${purgeAfter}` : ''}`
  say(`seed ${seed}, ${duration} s, ${agents} agents${netns ? ', real network partitions (netns)' : ''}${lostAfter !== undefined ? `, lostAfter ${lostAfter}` : ''}${purgeAfter !== undefined ? `, purgeAfter ${purgeAfter}` : ''} (replay with ${replay})`)
  const r = await chaos(seed, duration, agents, { netns, ...(lostAfter !== undefined ? { lostAfter } : {}), ...(archiveAfter !== undefined ? { archiveAfter } : {}), ...(purgeAfter !== undefined ? { purgeAfter } : {}) }).catch((err: Error) => {
    // The run itself could not go on (a cluster that did not form, an agent that did not
    // answer for 30 s): no verdict on the invariants. Said plainly, with how to run it again.
    say(`the run could not complete: ${err.stack ?? err.message}`)
    say(`no verdict on the invariants; run it again with npm run chaos -- ${replay} --duration ${duration} (a loaded machine: fewer --agents)`)
    process.exit(2)
  })
  const ok = r.lost === 0 && r.brokenRecords === 0 && r.stageViolations === 0 && r.doubleHeld === 0 && r.hashesEqual && r.scheduleViolations === 0 && r.webhooksMissing === 0 && (r.purgedOpen ?? 0) === 0
  if (!ok) say(`INVARIANT BROKEN: reproduce with npm run chaos -- ${replay} --duration ${duration}`)
  console.log(JSON.stringify(r))
  process.exitCode = ok ? 0 : 1
}
