// R4-4: joblists.log gets one line per finished joblist, also across restarts: at start the node
// learns which are logged (reading each line's ID without parsing the whole line) and adds only
// the ones a crash left out; a torn last line does not stop it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { NodeRecords } from '../../src/node/records.js'
import { joblistSummary, joblistView } from '../../src/state/views.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { cleanup, tempDir } from '../helpers/agent.js'

test('R4-4: a restart logs only the finished joblists not in joblists.log yet; a torn last line is skipped', async () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2'] })
  const ids: string[] = []
  for (const name of ['one', 'two', 'three']) {
    const req = h.submit(joblist(name, [['s', [job('x')]]]), 'A')
    h.settle()
    ids.push(h.joblistId(req))
  }
  h.runAll()
  h.settle()
  const dir = tempDir()
  try {
    const first = new NodeRecords(dir, pino({ level: 'silent' }))
    const logged = h.state.joblists[ids[0]]
    first.joblistFinished(h.state, logged)
    await first.stop()
    appendFileSync(join(dir, 'joblists.log'), '{"at":"2026-11-30T00:00:00.000Z","id":"torn-')
    const again = new NodeRecords(dir, pino({ level: 'silent' }))
    await again.start(h.state)
    await again.stop()
    const lines = readFileSync(join(dir, 'joblists.log'), 'utf8').split('\n').filter(l => l.startsWith('{"at"') && l.endsWith('}'))
    const seen = lines.map(l => (JSON.parse(l) as { id: string }).id)
    assert.deepEqual(seen.sort(), [...ids].sort(), 'each finished joblist once: the one logged before is not logged again')
  } finally { cleanup(dir) }
})

test('R4-4, D-3: an ended joblist whose job records are not whole does not stop the node\'s start: it is said (an error naming the jobs) and logged without them, the others whole', async () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const ids = ['whole', 'torn'].map(name => { const req = h.submit(joblist(name, [['s', [job('x'), job('y')]]]), 'A'); h.settle(); return h.joblistId(req) })
  for (let i = 0; i < 3; i++) { h.runAll(); h.settle() }
  assert.deepEqual(ids.map(id => h.state.joblists[id].state), ['succeeded', 'succeeded'])
  delete h.state.jobs[`${ids[1]}.2`]
  const dir = tempDir()
  const said: Array<Record<string, unknown>> = []
  const log = pino({ level: 'error' }, { write: (line: string) => { said.push(JSON.parse(line) as Record<string, unknown>) } })
  try {
    const records = new NodeRecords(dir, log)
    await records.start(h.state)
    await records.stop()
    const lines = readFileSync(join(dir, 'joblists.log'), 'utf8').split('\n').filter(l => l.startsWith('{'))
    const logged = lines.map(l => JSON.parse(l) as { id: string, missingJobs?: string[], stages: Array<{ jobs: Array<{ id: string }> }> })
    assert.deepEqual(logged.map(l => l.id), ids)
    assert.deepEqual(logged.map(l => l.stages.flatMap(s => s.jobs.map(j => j.id))), [[`${ids[0]}.1`, `${ids[0]}.2`], [`${ids[1]}.1`]])
    assert.deepEqual(logged.map(l => l.missingJobs), [undefined, [`${ids[1]}.2`]])
    assert.equal(said.length, 1, JSON.stringify(said))
    assert.equal(said[0].joblist, ids[1])
    assert.deepEqual(said[0].missingJobs, [`${ids[1]}.2`])
  } finally { cleanup(dir) }
})

test('R1-7, D-3: the summary and the view of a joblist whose job records are not whole count and name the missing job instead of failing (one broken joblist does not take GET /v1/joblists down, and can be looked at)', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const req = h.submit(joblist('torn', [['s', [job('x'), job('y')]]]), 'A')
  h.settle()
  const id = h.joblistId(req)
  for (let i = 0; i < 3; i++) { h.runAll(); h.settle() }
  assert.deepEqual(joblistSummary(h.state, h.state.joblists[id]).jobs, { succeeded: 2 })
  delete h.state.jobs[`${id}.2`]
  const s = joblistSummary(h.state, h.state.joblists[id])
  assert.deepEqual(s.jobs, { succeeded: 1, missing: 1 })
  assert.equal(s.id, id)
  assert.equal(s.stages, 1)
  // A failed one (its failure line reads each job), and its full view (GET /v1/joblists/{id}).
  const req2 = h.submit(joblist('torn-failed', [['s', [job('x'), job('y')]]]), 'A')
  h.settle()
  const id2 = h.joblistId(req2)
  for (let i = 0; i < 3; i++) { h.runAll('failed'); h.settle() }
  assert.equal(h.state.joblists[id2].state, 'failed')
  delete h.state.jobs[`${id2}.1`]
  const f = joblistSummary(h.state, h.state.joblists[id2])
  assert.deepEqual(f.jobs, { failed: 1, missing: 1 })
  assert.match(f.failure ?? '', /^y: /)
  const v = joblistView(h.state, h.state.joblists[id2])
  assert.deepEqual(v.missingJobs, [`${id2}.1`])
  assert.deepEqual(v.stages[0].jobs.map(j => j.id), [`${id2}.2`])
})
