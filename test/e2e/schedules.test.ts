// S-1, S-6, S-7: recurring joblists on real agents. Cron instants are real time here, so every
// check is about what the history says (which instants have runs, which were skipped and why),
// never about how fast a run came.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { api, cleanup, sleep, startAgent, tempDir, waitFor } from '../helpers/agent.js'
import type { Agent } from '../helpers/agent.js'
import { heal, mastersSeen, partition, startCluster, waitForMaster, waitForMembers, waitSameHash } from '../helpers/cluster.js'

interface Run { id: string | null, instant: string, state: string, manual?: true, duplicateOf?: string, endedAt: string | null }
interface Skip { from: string, to: string, count: number, reason: string }
interface ScheduleView { name: string, paused: boolean, pausedBy: string | null, removed: boolean, next: string | null, runs: Run[], skipped: Skip[], runCount: number }

const PERIOD = 2000
const EVERY_2S = '*/2 * * * * *'

function scheduled (name: string, run: string, schedule: Record<string, unknown>): Record<string, unknown> {
  return { name, schedule: { cron: EVERY_2S, ...schedule }, stages: [{ name: 's', jobs: [{ name: 'j', run }] }] }
}

async function define (url: string, body: unknown): Promise<void> {
  const r = await api(url, '/v1/joblists', { body })
  assert.equal(r.status, 201, JSON.stringify(r.body))
}

async function view (url: string, name: string): Promise<ScheduleView> {
  const r = await api<ScheduleView>(url, `/v1/schedules/${name}?limit=100000`)
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return r.body
}

const t = (iso: string): number => new Date(iso).getTime()

/**
 * Every cron instant from the first to the last accounted for is accounted for exactly once
 * (a run, or a skip with a reason), duplicates aside. Returns instant -> 'run' | reason.
 */
function accounted (v: ScheduleView, period = PERIOD, o: { twoSides?: boolean } = {}): Map<number, string> {
  const out = new Map<number, string>()
  const put = (at: number, what: string): void => {
    // Two sides of a partition each decide on the instants of the split (one may run what the other skipped).
    if (o.twoSides === true && out.has(at)) return
    assert.ok(!out.has(at), `${v.name}: instant ${new Date(at).toISOString()} accounted twice (${out.get(at) ?? ''} and ${what})`)
    out.set(at, what)
  }
  for (const r of v.runs) if (r.manual !== true && r.duplicateOf === undefined) put(t(r.instant), 'run')
  for (const s of v.skipped) {
    let n = 0
    for (let at = t(s.from); at <= t(s.to); at += period) { put(at, s.reason); n++ }
    assert.equal(n, s.count, `${v.name}: skip ${s.from}..${s.to} counts ${s.count} instants`)
  }
  const all = [...out.keys()].sort((a, b) => a - b)
  for (let i = 1; i < all.length; i++) assert.equal(all[i] - all[i - 1], period, `${v.name}: no instant between ${new Date(all[i - 1]).toISOString()} and ${new Date(all[i]).toISOString()} is unaccounted for`)
  return out
}

async function runsSettled (url: string, name: string, atLeast: number, pred: (r: Run) => boolean = () => true, timeoutMs = 40_000): Promise<ScheduleView> {
  return await waitFor(`${atLeast} ended runs of ${name}`, async () => {
    const v = await view(url, name)
    return v.runs.filter(r => r.endedAt !== null && pred(r)).length >= atLeast ? v : undefined
  }, timeoutMs, 100)
}

test('S-1, S-6, S-7: a 6-field schedule runs every instant as its own joblist; onFailure pause/continue; overlap skip; pause, trigger, resume, unschedule; variables', async () => {
  const dir = tempDir()
  const flag = join(dir, 'fixed')
  const agent = await startAgent({ args: ['--resource', 'slot=8'] })
  try {
    // S-7 through the API: a value that breaks its rule is refused with the variable's name.
    const withVars = { ...scheduled('tick', 'echo {{greeting}} > /dev/null', {}), vars: [{ name: 'greeting', choices: ['hello', 'hi'] }] }
    const bad = await api(agent.url, '/v1/joblists', { body: { joblist: withVars, vars: { greeting: 'yo' } } })
    assert.equal(bad.status, 400)
    assert.match(JSON.stringify(bad.body), /variable 'greeting': 'yo' is not one of hello, hi/)
    const missing = await api(agent.url, '/v1/joblists', { body: withVars })
    assert.equal(missing.status, 400)
    assert.match(JSON.stringify(missing.body), /variable 'greeting' is required/)
    const undeclared = await api(agent.url, '/v1/joblists', { body: scheduled('x', 'echo {{nope}}', {}) })
    assert.equal(undeclared.status, 400)
    assert.match(JSON.stringify(undeclared.body), /stages\[0\]\.jobs\[0\]\.run.*\{\{nope\}\} is not a declared variable/)

    await define(agent.url, { joblist: withVars, vars: { greeting: 'hi' } })
    await define(agent.url, scheduled('broken', `test -e ${flag}`, {}))
    await define(agent.url, scheduled('flaky', 'exit 3', { onFailure: 'continue' }))
    await define(agent.url, { ...scheduled('slow', 'sleep 3', {}), schedule: { cron: '* * * * * *' } })

    // S-1: several runs, each its own joblist with its instant; the values are on every run.
    const tick = await runsSettled(agent.url, 'tick', 3)
    const ids = tick.runs.map(r => r.id)
    assert.equal(new Set(ids).size, ids.length, 'each run is its own joblist')
    accounted(tick)
    const run = (await api(agent.url, `/v1/joblists/${tick.runs[0].id as string}`)).body
    assert.equal(run.schedule.name, 'tick')
    assert.equal(run.schedule.instant, tick.runs[0].instant)
    assert.deepEqual(run.values, { greeting: 'hi' })
    assert.equal(run.stages[0].jobs[0].run, 'echo hi > /dev/null', 'filled in once, when the schedule was created')

    // S-6: a failed run pauses the schedule; nothing runs while paused.
    const paused = await waitFor('broken to pause', async () => { const v = await view(agent.url, 'broken'); return v.paused ? v : undefined })
    assert.equal(paused.runs.length, 1, 'one failed run, then paused')
    assert.equal(paused.pausedBy, paused.runs[0].id)
    assert.equal(paused.next, null)
    await sleep(3 * PERIOD)
    assert.equal((await view(agent.url, 'broken')).runs.length, 1, 'no run while paused')
    // Fixed; resume: runs again, and the instants of the pause are recorded as skipped, not caught up.
    writeFileSync(flag, '')
    const resumed = await api(agent.url, '/v1/schedules/broken/resume', { method: 'POST' })
    assert.equal(resumed.status, 202)
    assert.equal(resumed.body.paused, false)
    const after = await runsSettled(agent.url, 'broken', 2, r => r.state === 'succeeded')
    assert.equal(after.paused, false)
    assert.ok(after.skipped.some(s => s.reason === 'paused' && s.count >= 2), `the paused instants are recorded: ${JSON.stringify(after.skipped)}`)
    accounted(after)

    // onFailure continue: failed runs, never paused.
    const flaky = await runsSettled(agent.url, 'flaky', 3)
    assert.equal(flaky.paused, false)
    assert.ok(flaky.runs.filter(r => r.endedAt !== null).every(r => r.state === 'failed'))
    accounted(flaky)

    // overlap skip: a 3 s run every second never overlaps; the instants in between are skipped.
    const slow = await runsSettled(agent.url, 'slow', 2)
    const spans = await Promise.all(slow.runs.filter(r => r.endedAt !== null).map(async r => {
      const jl = (await api(agent.url, `/v1/joblists/${r.id as string}`)).body
      return [t(jl.submittedAt), t(jl.endedAt)] as const
    }))
    spans.sort((a, b) => a[0] - b[0])
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], 'a run starts only after the previous one ended')
    assert.ok(slow.skipped.some(s => s.reason === 'overlap'), 'overlapping instants are recorded as skipped')
    accounted(slow, 1000)

    // A submitted joblist cannot bring its own filled-in values (they would skip every rule).
    const forged = await api(agent.url, '/v1/joblists', { body: { ...withVars, name: 'forged', values: { greeting: 'yo' } } })
    assert.equal(forged.status, 400)
    assert.match(JSON.stringify(forged.body), /give them as \{joblist, vars/)
    // Resuming what is not paused changes nothing.
    const idle = await api(agent.url, '/v1/schedules/tick/resume', { method: 'POST' })
    assert.deepEqual([idle.status, idle.body.request, idle.body.paused], [200, null, false])
    // Pause by hand (twice: the second changes nothing), trigger one run now, resume, unschedule.
    assert.equal((await api(agent.url, '/v1/schedules/tick/pause', { method: 'POST' })).body.paused, true)
    const again = await api(agent.url, '/v1/schedules/tick/pause', { method: 'POST' })
    assert.deepEqual([again.status, again.body.request, again.body.pausedBy], [200, null, 'user'])
    const trig = await api(agent.url, '/v1/schedules/tick/trigger', { method: 'POST' })
    assert.ok(trig.status === 201 || trig.status === 202)
    const manual = await waitFor('the manual run', async () => (await view(agent.url, 'tick')).runs.find(r => r.manual === true && r.state === 'succeeded'))
    assert.equal(manual.duplicateOf, undefined)
    assert.equal((await view(agent.url, 'tick')).pausedBy, 'user')
    await api(agent.url, '/v1/schedules/tick/resume', { method: 'POST' })
    const before = (await view(agent.url, 'tick')).runCount
    await waitFor('tick to run again', async () => (await view(agent.url, 'tick')).runCount > before)
    const del = await api(agent.url, '/v1/schedules/tick', { method: 'DELETE' })
    assert.equal(del.body.removed, true)
    const list = (await api(agent.url, '/v1/schedules')).body.schedules as Array<{ name: string }>
    assert.ok(!list.some(s => s.name === 'tick'), 'an unscheduled schedule is not listed')
    const all = (await api(agent.url, '/v1/schedules?all=true')).body.schedules as Array<{ name: string, removed: boolean }>
    assert.ok(all.some(s => s.name === 'tick' && s.removed), '...but its history is kept')
    const count = (await view(agent.url, 'tick')).runCount
    await sleep(2 * PERIOD)
    const last = await view(agent.url, 'tick')
    assert.ok(last.runCount <= count + 1, 'no runs after unschedule (one may have been launched as it was removed)')
    assert.equal((await api(agent.url, '/v1/schedules/tick/trigger', { method: 'POST' })).status, 409)
    assert.equal((await api(agent.url, '/v1/schedules/nope')).status, 404)
  } finally {
    await agent.stop()
    cleanup(agent.dataDir)
    cleanup(dir)
  }
})

test('S-1: the whole cluster stopped over three instants: catchUp one runs once for them, none runs none, all runs each', async () => {
  const dataDir = tempDir()
  let agent: Agent = await startAgent({ dataDir, args: ['--resource', 'slot=8'] })
  try {
    for (const catchUp of ['one', 'none', 'all']) await define(agent.url, scheduled(`c-${catchUp}`, 'true', { catchUp, overlap: 'allow' }))
    for (const catchUp of ['one', 'none', 'all']) await runsSettled(agent.url, `c-${catchUp}`, 1)
    await agent.stop()
    const down = Date.now()
    await sleep(3 * PERIOD + 800)
    const up = Date.now()
    agent = await startAgent({ dataDir, args: ['--resource', 'slot=8'] })
    // The instants no agent was up for; at least three.
    const missed: number[] = []
    for (let at = Math.ceil((down + 1) / PERIOD) * PERIOD; at < up; at += PERIOD) missed.push(at)
    assert.ok(missed.length >= 3, `${missed.length} instants while down`)
    for (const catchUp of ['one', 'none', 'all']) {
      const name = `c-${catchUp}`
      // Settled: an instant after the restart is accounted for.
      const v = await waitFor(`${name} to go on after the restart`, async () => {
        const x = await view(agent.url, name)
        return [...accounted(x).keys()].some(at => at > up + PERIOD) ? x : undefined
      })
      const acc = accounted(v)
      const what = missed.map(at => acc.get(at))
      if (catchUp === 'none') assert.ok(what.every(w => w === 'missed'), `${name}: ${what.join(',')}`)
      if (catchUp === 'all') assert.ok(what.every(w => w === 'run'), `${name}: ${what.join(',')}`)
      if (catchUp === 'one') {
        // One run stands for all the missed instants: the newest of them (which may fall after `up`, during the start).
        const runs = [...acc.entries()].filter(([at, w]) => w === 'run' && at > down && at < up)
        assert.ok(runs.length <= 1, `${name}: at most one run for the missed instants: ${what.join(',')}`)
        assert.ok(what.slice(0, -1).every(w => w === 'caught-up'), `${name}: older missed instants caught up by one run: ${what.join(',')}`)
        const firstAfter = [...acc.entries()].filter(([at]) => at > missed[missed.length - 1]).sort((a, b) => a[0] - b[0])
        const caughtUpBy = runs.length === 1 ? runs[0] : firstAfter.find(([, w]) => w === 'run')
        assert.ok(caughtUpBy !== undefined, `${name}: a run for the missed instants`)
      }
    }
  } finally {
    await agent.stop()
    cleanup(dataDir)
  }
})

test('S-1: SIGKILL the master just before an instant: the new master runs that instant exactly once', async () => {
  const c = await startCluster([{ name: 'k1', priority: 30 }, { name: 'k2', priority: 20 }, { name: 'k3', priority: 10 }])
  try {
    const [k1, k2, k3] = c.agents
    await waitForMaster(c.agents, 'k1')
    const body = { name: 'every5', schedule: { cron: '*/5 * * * * *' }, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] }
    await define(k2.url, body)
    await waitFor('a first run', async () => (await view(k2.url, 'every5')).runs.find(r => r.endedAt !== null), 30_000)
    // Kill the master 300 ms before the next instant.
    const next = t((await view(k2.url, 'every5')).next as string)
    await sleep(Math.max(0, next - 300 - Date.now()))
    await k1.kill()
    await waitForMembers([k2, k3], 2)
    await waitForMaster([k2, k3], 'k2')
    const v = await waitFor('the instant after the kill to be run', async () => {
      const x = await view(k3.url, 'every5')
      return x.runs.some(r => t(r.instant) === next && r.endedAt !== null) && x.runs.some(r => t(r.instant) > next) ? x : undefined
    }, 30_000)
    assert.equal(v.runs.filter(r => t(r.instant) === next).length, 1, 'exactly one run for the instant')
    assert.ok(v.runs.every(r => r.duplicateOf === undefined))
    accounted(v, 5000)
    assert.deepEqual(await mastersSeen([k2, k3]), ['k2', 'k2'])
  } finally {
    await c.stopAll()
  }
})

test('S-1, R1-6: a partition where both sides launch the same instants: both runs kept, the later marked duplicate, same hash after the heal', async () => {
  // (Info logs: once, Dec 1, the run after the heal did not come within 20 s under load; if it
  // happens again, the failure shows what each agent did.)
  const c = await startCluster([{ name: 'q1', priority: 20 }, { name: 'q2', priority: 10 }], ['--log-level', 'info'])
  try {
    const [q1, q2] = c.agents
    await waitForMaster(c.agents, 'q1')
    // overlap allow: a run in flight on the other side when the partition comes stays active
    // (unknown) on this side until lostAfter (1 min), and with overlap skip every instant until
    // then would be skipped, which is right but not what this test is about (it failed so, now
    // and then, when the cut fell within a run's few ms).
    await define(q1.url, scheduled('both', 'true', { overlap: 'allow' }))
    await waitFor('the schedule on q2', async () => (await view(q2.url, 'both')).runs.some(r => r.endedAt !== null))
    await partition([[q1], [q2]])
    await waitForMembers([q1], 1)
    await waitForMembers([q2], 1)
    await waitForMaster([q2], 'q2')
    // Both sides run the instants of the partition.
    const split = Date.now()
    const runs = async (a: typeof q1): Promise<string> => (await view(a.url, 'both')).runs.map(r => `${r.instant}${r.endedAt === null ? ' (running)' : ''}`).join(', ')
    const logs = (): string => c.agents.map(a => `--- ${a.name}:\n${a.output().split('\n').slice(-30).join('\n')}`).join('\n')
    for (const a of [q1, q2]) {
      try {
        await waitFor(`${a.name} to run on its own side`, async () => (await view(a.url, 'both')).runs.filter(r => t(r.instant) > split + PERIOD && r.endedAt !== null).length >= 2)
      } catch (err) {
        throw new Error(`${(err as Error).message}; split at ${new Date(split).toISOString()}; runs on ${a.name}: ${await runs(a)}\n${logs()}`)
      }
    }
    await heal(c.agents)
    await waitForMembers(c.agents, 2)
    await waitForMaster(c.agents, 'q1')
    const healed = Date.now()
    try {
      await waitFor('a run after the heal', async () => (await view(q2.url, 'both')).runs.some(r => t(r.instant) > healed + PERIOD && r.endedAt !== null))
    } catch (err) {
      throw new Error(`${(err as Error).message}; healed at ${new Date(healed).toISOString()}; runs on q1: ${await runs(q1)}; on q2: ${await runs(q2)}\n${logs()}`)
    }
    await waitSameHash(c.agents)
    const v = await view(q2.url, 'both')
    const byInstant = new Map<number, Run[]>()
    for (const r of v.runs) byInstant.set(t(r.instant), [...(byInstant.get(t(r.instant)) ?? []), r])
    const doubled = [...byInstant.values()].filter(rs => rs.length > 1)
    assert.ok(doubled.length >= 2, 'both sides launched the instants of the partition')
    for (const rs of doubled) {
      assert.equal(rs.length, 2)
      const dups = rs.filter(r => r.duplicateOf !== undefined)
      assert.equal(dups.length, 1, 'one of the two is marked duplicate')
      assert.equal(dups[0].duplicateOf, rs.find(r => r.duplicateOf === undefined)?.id)
      const jl = (await api(q1.url, `/v1/joblists/${dups[0].id as string}`)).body
      assert.equal(jl.duplicateOf, dups[0].duplicateOf, 'the joblist view says so too')
    }
    // After the heal: one run per instant again.
    const lastDouble = Math.max(...doubled.map(rs => t(rs[0].instant)))
    assert.ok(lastDouble < healed + PERIOD * 2, 'no instant after the heal ran twice')
    accounted(v, PERIOD, { twoSides: true })
  } finally {
    await c.stopAll()
  }
})
