// The chaos run's invariant check (chaos/chaos.ts `check`) on hand-made final states: what it
// counts as one resource instance held by two attempts at once, and what it must not.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { check } from '../../chaos/chaos.js'

interface Att { n: number, node: string, resources: Record<string, string[]>, startedAt: number, endedAt: number, ranOn: string, startPos: unknown[], finishPos: unknown[] }

const attempt = (n: number, node: string, slot: string, from: number, to: number, ranOn = node): Att =>
  ({ n, node, resources: { slot: [slot] }, startedAt: from, endedAt: to, ranOn, startPos: [from, 0, ranOn, 1], finishPos: [to, 0, ranOn, 2] })

/** A final state of two one-job joblists, whose jobs' attempts are `a` and `b`. */
function stateOf (a: Att[], b: Att[]): unknown {
  const jl = (id: string, job: string): unknown => ({ id, name: id, state: 'succeeded', duplicates: 0, stages: [{ jobIds: [job] }] })
  const attempts = (list: Att[]): Record<number, unknown> => Object.fromEntries(list.map(x => [x.n, { ...x, state: 'succeeded' }]))
  return {
    joblists: { A: jl('A', 'A.1'), B: jl('B', 'B.1') },
    jobs: { 'A.1': { id: 'A.1' }, 'B.1': { id: 'B.1' } },
    attempts: { 'A.1': attempts(a), 'B.1': attempts(b) }
  }
}

test('chaos check (R1-1, DESIGN: the executing node never runs two attempts on one instance): two overlapping attempts on one node\'s instance are one double hold', () => {
  const r = check(stateOf([attempt(1, 'n1', 'slot0', 100, 200)], [attempt(1, 'n1', 'slot0', 150, 250)]), ['A', 'B'])
  assert.equal(r.doubleHeld, 1)
  assert.equal(r.lost, 0)
})

test('chaos check: the same instance name on two nodes, or one after the other on one node, is no double hold', () => {
  assert.equal(check(stateOf([attempt(1, 'n1', 'slot0', 100, 200)], [attempt(1, 'n2', 'slot0', 150, 250)]), ['A', 'B']).doubleHeld, 0)
  assert.equal(check(stateOf([attempt(1, 'n1', 'slot0', 100, 200)], [attempt(1, 'n1', 'slot0', 200, 250)]), ['A', 'B']).doubleHeld, 0)
})

test('chaos check: an attempt run by another node than the one whose assign the record kept (two masters) is not counted on the kept assign\'s instances', () => {
  // Two masters gave attempt 1 of A.1 to n1 (kept: its position is lower) and to n2; n2 ran it.
  // The record holds n1's resources (slot0), not what n2 held: B.1 on n2's slot0 at the same time is no hold.
  const conflict = attempt(1, 'n1', 'slot0', 100, 200, 'n2')
  assert.equal(check(stateOf([conflict], [attempt(1, 'n2', 'slot0', 150, 250)]), ['A', 'B']).doubleHeld, 0)
})

test('chaos check with purgeAfter (G-6): a joblist missing at the end is accounted for only if its ID is purged and it was told ended first', async () => {
  const { accountPurged } = await import('../../chaos/chaos.js')
  const { purgedSetOf } = await import('../../src/state/purged.js')
  // kx3f-1 purged after its end was told; kx3f-2 purged though never told ended; kx3f-3 told
  // ended but not purged (gone: lost); kx3f-4 still there; "never" told nothing.
  // "ended" was accepted twice (kx3f-1 won and ended; kx3f-5, told queued once, lost): both purged.
  const state = { joblists: { 'kx3f-4': { id: 'kx3f-4', name: 'present' } }, ...purgedSetOf(['kx3f-1', 'kx3f-2', 'kx3f-5']) }
  const told = new Map([
    ['ended', { ids: new Set(['kx3f-5', 'kx3f-1']), ended: new Set(['kx3f-1']) }],
    ['open', { ids: new Set(['kx3f-2']), ended: new Set<string>() }],
    ['vanished', { ids: new Set(['kx3f-3']), ended: new Set(['kx3f-3']) }],
    ['present', { ids: new Set(['kx3f-4']), ended: new Set(['kx3f-4']) }]
  ])
  const r = accountPurged(state, ['ended', 'open', 'vanished', 'present', 'never'], told)
  assert.deepEqual([...r.accounted], ['ended'])
  assert.equal(r.purged, 1)
  assert.equal(r.purgedOpen, 1)
  // What is not accounted for, the check counts: the open one purged, the vanished one and the one never told are lost.
  const left = ['ended', 'open', 'vanished', 'present', 'never'].filter(n => !r.accounted.has(n))
  const c = check({ joblists: { 'kx3f-4': { id: 'kx3f-4', name: 'present', state: 'succeeded', duplicates: 0, stages: [] } }, jobs: {}, attempts: {} }, left)
  assert.equal(c.lost, 3)
})
