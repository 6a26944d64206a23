// The per-role bench of each role's own path (bench/roles-core.ts, issue 12) runs, and what a
// one-job joblist costs each role in events is what the design says: the master writes at most two (its
// submit carrying the accept, the assign, which the accept carries when there is room), the executor one or two (a finished carrying a short
// job's start; a `started` of its own when the job ran past the hold; with a fork server that
// starts nothing, `executor-nofork`, its jobs end at once: one), the observer none; each applies
// the three. No figure of time is checked (the machines are noisy): npm run bench
// prints those.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { medianRun, rolesCoreBench } from '../../bench/roles-core.js'
import type { RoleCoreRun } from '../../bench/roles-core.js'

test('R1-5 (issue 12): each role applies a job\'s three events; the master writes at most two, the executor one or two (one with a fork server that starts nothing), the observer none', { timeout: 180_000 }, async () => {
  const r = await rolesCoreBench(() => {}, { jobs: 30, warm: 10, rounds: 1 })
  assert.equal(r.rounds, 1)
  const byRole = new Map(r.runs.map(x => [x.role, x]))
  assert.deepEqual([...byRole.keys()], ['master', 'executor', 'executor-nofork', 'observer'])
  const master = byRole.get('master')
  const executor = byRole.get('executor')
  const nofork = byRole.get('executor-nofork')
  const observer = byRole.get('observer')
  assert.ok(master !== undefined && executor !== undefined && nofork !== undefined && observer !== undefined)
  // The master: the submit (its accept carried) and the assign are its (the assign carried in
  // the accept too when the joblist is placed as it is accepted); X's finished is applied.
  assert.ok(master.ownEventsPerJob >= 1 && master.ownEventsPerJob <= 2, `master wrote ${master.ownEventsPerJob} events a job`)
  assert.equal(Number((master.eventsPerJob - master.ownEventsPerJob).toFixed(3)), 1)
  // The executor: M's two and its own finished (and a started when a job outlasted the hold).
  assert.ok(executor.ownEventsPerJob >= 1 && executor.ownEventsPerJob <= 2, `executor wrote ${executor.ownEventsPerJob} events a job`)
  assert.equal(Number((executor.eventsPerJob - executor.ownEventsPerJob).toFixed(3)), 2)
  // The same with a fork server that starts nothing: each job ended at once, its start told with its end.
  assert.equal(nofork.ownEventsPerJob, 1)
  assert.equal(nofork.eventsPerJob, 3)
  assert.equal(nofork.jobsMsPerJob ?? 0, 0, 'no job ran')
  assert.equal(observer.ownEventsPerJob, 0)
  assert.equal(observer.eventsPerJob, 3)
  for (const x of r.runs) {
    assert.equal(x.jobs, 30)
    assert.ok(x.cpuMsPerJob > 0 && Number.isFinite(x.cpuMsPerJob), `${x.role}: ${x.cpuMsPerJob} CPU ms a job`)
    assert.equal(x.met, x.cpuMsPerJob <= x.target)
    assert.deepEqual(r.allCpuMsPerJob[x.role], [x.cpuMsPerJob])
  }
})

test('issue 12: a role\'s figure is its median run of the rounds (of an even count, the lower middle one)', () => {
  const run = (cpuMsPerJob: number): RoleCoreRun => ({ role: 'observer', jobs: 1, jobsPerSec: 1, cpuMsPerJob, otherThreadsMsPerJob: 0, standInMsPerJob: 0, forkServerMsPerJob: 0, jobsMsPerJob: 0, eventsPerJob: 3, ownEventsPerJob: 0, wakeUpsPerJob: 0, target: 0.25, met: cpuMsPerJob <= 0.25 })
  assert.equal(medianRun([run(0.3), run(0.2), run(0.25)]).cpuMsPerJob, 0.25)
  assert.equal(medianRun([run(0.4), run(0.1)]).cpuMsPerJob, 0.1)
  assert.equal(medianRun([run(0.9)]).cpuMsPerJob, 0.9)
  assert.throws(() => medianRun([]), /no run/)
})
