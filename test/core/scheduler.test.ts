import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Harness, job, joblist } from '../helpers/harness.js'

test('R2-1/R2-6: a joblist is a named list of named jobs; the master accepts it with an ID', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const req = h.submit(joblist('nightly', [['build', [job('compile'), job('lint')]]]))
  h.step()
  const id = h.joblistId(req)
  const jl = h.state.joblists[id]
  assert.equal(jl.name, 'nightly')
  assert.deepEqual(jl.stages[0].jobIds.map(j => h.state.jobs[j].name), ['compile', 'lint'])
})

test('R4-3: the master assigns joblist IDs with its own prefix; IDs never repeat', () => {
  const h = new Harness('M')
  h.node('A', { slot: ['s0'] })
  const reqs = [1, 2, 3].map(i => h.submit(joblist(`j${i}`, [['s', [job('x')]]])))
  h.step()
  const ids = reqs.map(r => h.joblistId(r))
  assert.deepEqual(ids, ['m-1', 'm-2', 'm-3'])
  const other = new Harness('Q')
  other.node('A', { slot: ['s0'] })
  other.submit(joblist('j1', [['s', [job('x')]]]))
  other.step()
  assert.ok(!ids.includes(Object.keys(other.state.joblists)[0]), 'another master hands out other IDs')
})

test('R2-4: all jobs of a stage are placed at once when resources allow', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2'] })
  h.submit(joblist('p', [['one', [job('a'), job('b'), job('c')]]]))
  const ds = h.assigns(h.settle())
  assert.equal(ds.length, 3)
})

test('R2-5: the next stage starts only after every job of the current stage has ended', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2', 's3'] })
  const req = h.submit(joblist('p', [['first', [job('a'), job('b')]], ['second', [job('c')]]]))
  h.settle()
  const id = h.joblistId(req)
  assert.deepEqual(Object.keys(h.state.attempts).sort(), [`${id}.1`, `${id}.2`])
  h.start(`${id}.1`); h.finish(`${id}.1`)
  assert.equal(h.assigns(h.settle()).length, 0, 'b still runs: c must wait')
  assert.equal(h.state.joblists[id].state, 'running')
  h.start(`${id}.2`); h.finish(`${id}.2`)
  const next = h.assigns(h.settle())
  assert.deepEqual(next.map(d => d.jobId), [`${id}.3`])
  h.start(`${id}.3`); h.finish(`${id}.3`)
  assert.equal(h.state.joblists[id].state, 'succeeded')
})

test('R2-5: a failed stage fails the joblist and later stages never run', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1'] })
  const req = h.submit(joblist('p', [['first', [job('a'), job('b')]], ['second', [job('c')]]]))
  h.settle()
  const id = h.joblistId(req)
  h.start(`${id}.1`); h.finish(`${id}.1`, 'failed')
  assert.equal(h.state.joblists[id].state, 'running', 'b is still running')
  h.start(`${id}.2`); h.finish(`${id}.2`)
  assert.equal(h.assigns(h.settle()).length, 0)
  const jl = h.state.joblists[id]
  assert.equal(jl.state, 'failed')
  assert.equal(jl.stages[0].state, 'failed')
  assert.equal(jl.stages[1].state, 'stopped')
  assert.equal(h.state.jobs[`${id}.3`].state, 'stopped')
})

test('R3-1: a job asking for a type gets concrete instance IDs of it', () => {
  const h = new Harness()
  h.node('A', { gpu: ['gpu0', 'gpu1'], slot: ['s0'] })
  h.submit(joblist('g', [['s', [job('train', { needs: { gpu: 2, slot: 1 } })]]]))
  const [d] = h.assigns(h.settle())
  assert.deepEqual(d.resources, { gpu: ['gpu0', 'gpu1'], slot: ['s0'] })
})

test('R3-2/R3-3: jobs run only where a node provides what they need; an instance is never given twice', () => {
  const h = new Harness()
  h.node('A', { slot: ['a0'] })
  h.node('B', { slot: ['b0'], gpu: ['g0'] })
  h.submit(joblist('x', [['s', [job('cpu1'), job('cpu2'), job('cpu3'), job('gpu', { needs: { gpu: 1 } })]]]))
  const ds = h.assigns(h.settle())
  const used = ds.flatMap(d => Object.entries(d.resources).flatMap(([t, ids]) => ids.map(i => `${d.node}/${t}/${i}`)))
  assert.equal(new Set(used).size, used.length, 'no instance twice')
  assert.equal(ds.find(d => d.resources.gpu !== undefined)?.node, 'B')
  assert.equal(ds.filter(d => d.resources.slot !== undefined).length, 2, 'only two slots exist: the third cpu job waits')
})

test('R3-4: joblists start in the order they were added', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const r1 = h.submit(joblist('first', [['s', [job('a')]]]))
  const r2 = h.submit(joblist('second', [['s', [job('a')]]]))
  h.settle()
  const [id1, id2] = [h.joblistId(r1), h.joblistId(r2)]
  assert.ok(h.state.attempts[`${id1}.1`] !== undefined)
  assert.equal(h.state.attempts[`${id2}.1`], undefined)
  h.runAll()
  const next = h.assigns(h.settle())
  assert.deepEqual(next.map(d => d.jobId), [`${id2}.1`])
})

test('R3-5: a later joblist does not take a type an earlier waiting joblist needs, but backfills other types', () => {
  const h = new Harness()
  h.node('A', { gpu: ['g0', 'g1'], slot: ['s0', 's1'] })
  // One GPU is busy: the big joblist waits for two.
  const r0 = h.submit(joblist('busy', [['s', [job('hold', { needs: { gpu: 1 } })]]]))
  h.settle()
  const rBig = h.submit(joblist('big', [['s', [job('train', { needs: { gpu: 2 } })]]]))
  const rSmall = h.submit(joblist('small-gpu', [['s', [job('infer', { needs: { gpu: 1 } })]]]))
  const rCpu = h.submit(joblist('cpu', [['s', [job('build', { needs: { slot: 1 } })]]]))
  const ds = h.assigns(h.settle())
  const placed = ds.map(d => h.state.jobs[d.jobId].joblistId)
  assert.ok(!placed.includes(h.joblistId(rSmall)), 'the free GPU stays for the earlier big joblist')
  assert.ok(placed.includes(h.joblistId(rCpu)), 'the CPU joblist fills the hole')
  h.runAll()
  const after = h.assigns(h.settle())
  assert.ok(after.some(d => h.state.jobs[d.jobId].joblistId === h.joblistId(rBig)), 'big runs once both GPUs are free')
  assert.ok(h.joblistId(r0) !== undefined)
})

test('retries: a failed attempt gets a new attempt until retries are used up', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('r', [['s', [job('flaky', { retries: 1 })]]]))
  h.settle()
  const jobId = `${h.joblistId(req)}.1`
  h.start(jobId); h.finish(jobId, 'failed')
  const again = h.assigns(h.settle())
  assert.deepEqual(again.map(d => [d.jobId, d.attempt]), [[jobId, 2]])
  h.start(jobId); h.finish(jobId, 'failed')
  assert.equal(h.assigns(h.settle()).length, 0)
  assert.equal(h.state.jobs[jobId].state, 'failed')
  assert.equal(h.state.joblists[h.joblistId(req)].state, 'failed')
})

test('D-3: a lost attempt is retried by policy and does not use up retries', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('l', [['s', [job('x')]]]))
  h.settle()
  const jobId = `${h.joblistId(req)}.1`
  h.start(jobId); h.finish(jobId, 'lost')
  assert.equal(h.state.jobs[jobId].state, 'pending')
  const again = h.assigns(h.settle())
  assert.equal(again[0].attempt, 2)
  h.start(jobId); h.finish(jobId)
  assert.equal(h.state.joblists[h.joblistId(req)].state, 'succeeded')
})

test('D-3: lost attempts beyond maxLost make the job lost and fail the joblist', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('l', [['s', [job('x')]]]))
  for (let i = 0; i < 3; i++) { h.settle(); const id = `${h.joblistId(req)}.1`; h.start(id); h.finish(id, 'lost') }
  assert.equal(h.assigns(h.settle()).length, 0)
  assert.equal(h.state.jobs[`${h.joblistId(req)}.1`].state, 'lost')
  assert.equal(h.state.joblists[h.joblistId(req)].state, 'failed')
})

test('R4-2: a stop request is turned into a cancel; pending jobs stop, the joblist ends stopped', () => {
  const h = new Harness()
  h.node('A', { slot: ['s0'] })
  const req = h.submit(joblist('s', [['one', [job('a'), job('b')]], ['two', [job('c')]]]))
  h.settle()
  const id = h.joblistId(req)
  h.start(`${id}.1`)
  h.emit('B', 'stop', { joblistId: id })
  const ds = h.settle()
  assert.deepEqual(ds.filter(d => d.type === 'cancel').map(d => d.type === 'cancel' && d.joblistId), [id])
  assert.equal(h.state.jobs[`${id}.2`].state, 'stopped', 'b never started')
  assert.equal(h.state.joblists[id].state, 'running', 'a is still being stopped')
  h.finish(`${id}.1`, 'stopped')
  assert.equal(h.state.joblists[id].state, 'stopped')
  assert.equal(h.assigns(h.settle()).length, 0, 'nothing of a stopped joblist is placed')
})

test('R1-1: attempts on a node that is gone are declared lost and the job runs on another node', () => {
  const h = new Harness()
  h.node('A', { slot: ['a0'] })
  h.node('B', { slot: ['b0'] })
  const req = h.submit(joblist('x', [['s', [job('one'), job('two')]]]))
  h.settle()
  const id = h.joblistId(req)
  const onB = [`${id}.1`, `${id}.2`].find(j => h.attempt(j).node === 'B') as string
  h.start(onB)
  // B dies: A is the only node alive; B is lost.
  const ds = h.settle(['A', 'M'], ['B'])
  assert.ok(ds.some(d => d.type === 'lose' && d.jobId === onB))
  assert.equal(h.state.attempts[onB][1].state, 'lost')
  const other = onB === `${id}.1` ? `${id}.2` : `${id}.1`
  h.start(other); h.finish(other)
  const retry = h.assigns(h.settle(['A', 'M'], ['B']))
  assert.deepEqual(retry.map(d => [d.jobId, d.attempt, d.node]), [[onB, 2, 'A']])
})

test('duplicates: if a node thought lost finishes after all, both attempts stay and the first success counts', () => {
  const h = new Harness()
  h.node('A', { slot: ['a0'] })
  h.node('B', { slot: ['b0'] })
  const req = h.submit(joblist('x', [['s', [job('one', { needs: { slot: 1 } })]]]))
  h.settle(['B', 'M'])
  const id = `${h.joblistId(req)}.1`
  h.start(id)
  h.settle(['A', 'M'], ['B'])
  h.start(id); h.finish(id) // attempt 2 on A succeeds
  // B was alive after all and reports its attempt 1 as succeeded.
  h.emit('B', 'finished', { jobId: id, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
  const jl = h.state.joblists[h.joblistId(req)]
  assert.equal(jl.state, 'succeeded')
  assert.equal(jl.duplicates, 1)
  assert.deepEqual(Object.values(h.state.attempts[id]).map(a => a.state), ['succeeded', 'succeeded'])
})
