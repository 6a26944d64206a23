// Issue 12: which peers need a write batch at once (src/cluster/urgency.ts), the others get it
// within the batch window.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { urgentPeers } from '../../src/cluster/urgency.js'
import type { CisEvent } from '../../src/events/types.js'

const ev = (type: string, body: unknown, origin = 'X'): CisEvent => ({ origin, seq: 1, ts: 1, lc: 0, type, body, sig: 's' }) as never

test('R1-5 issue 12: a job\'s events are needed at once by the master, the node assigned the job and the node whose submit is accepted', () => {
  const assign = ev('assign', { jobId: 'j', attempt: 1, node: 'E', resources: {}, term: 1 }, 'M')
  const accept = ev('accept', { request: 'A:17', id: 'jl', term: 1, onLost: 'retry', maxLost: 1 }, 'M')
  assert.deepEqual([...urgentPeers([accept, assign], 'M') as Set<string>].sort(), ['A', 'E', 'M'])
  const started = ev('started', { jobId: 'j', attempt: 1, pid: 9 }, 'E')
  const finished = ev('finished', { jobId: 'j', attempt: 1, state: 'succeeded', exitCode: 0, signal: null }, 'E')
  assert.deepEqual([...urgentPeers([started, finished], 'M') as Set<string>], ['M'], 'an executor\'s events: the master only')
  assert.deepEqual([...urgentPeers([ev('submit', { spec: {}, owner: 'u' }, 'A')], 'M') as Set<string>], ['M'])
  const carrying = ev('accept', { request: 'A:18', id: 'jl2', term: 1, onLost: 'retry', maxLost: 1, assign: [{ jobId: 'jl2.1', attempt: 1, node: 'F', resources: {} }] }, 'M')
  assert.deepEqual([...urgentPeers([carrying], 'M') as Set<string>].sort(), ['A', 'F', 'M'], 'an accept carrying an assign: its node too')
  assert.deepEqual([...urgentPeers([started], undefined) as Set<string>], [], 'no master known: nobody in particular')
})

test('R1-5 issue 12: any other event (a master\'s claim, a stop, a cancel, a node\'s resources) goes to every peer at once', () => {
  for (const type of ['master', 'stop', 'cancel', 'lose', 'node', 'schedule', 'purge']) {
    assert.equal(urgentPeers([ev('started', { jobId: 'j', attempt: 1, pid: 1 }), ev(type, {})], 'M'), 'all', type)
  }
})
