// P-5, S-5: `cis watch` draws the front page from the live copy: what needs a person first
// (failed joblists not acknowledged, paused schedules), then what runs and waits in queue
// order, then the nodes with the master marked. Pure: a copy and a time in, lines out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LiveCopy } from '../../src/live/copy.js'
import type { JoblistSummary } from '../../src/live/protocol.js'
import { renderWatch } from '../../src/cli/commands/watch.js'

const T = Date.UTC(2026, 10, 30, 12)
const summary = (id: string, name: string, state: JoblistSummary['state'], acceptedMin: number, extra: Partial<JoblistSummary> = {}): JoblistSummary => ({
  id, name, state, priority: 0, owner: 'alice', tags: [], submittedAt: new Date(T + acceptedMin * 60_000).toISOString(), acceptedAt: new Date(T + acceptedMin * 60_000).toISOString(),
  endedAt: state === 'failed' || state === 'succeeded' ? new Date(T + (acceptedMin + 1) * 60_000).toISOString() : null, currentStage: state === 'running' ? 'build' : null, duplicates: 0, jobs: { [state === 'queued' ? 'pending' : state]: 1 }, stages: 2, ...extra
})
const node = (name: string, master: boolean, alive = true): LiveCopy['nodes'][number] => ({ id: name, peerId: name, name, api: '', addresses: [], priority: master ? 10 : 1, profiles: [], resources: { slot: ['s0'] }, alive, lastSeen: null, self: name === 'n1', master, version: '0.1.0' })

test('P-5/S-5: cis watch shows failures and paused schedules first, then running and queued joblists in queue order, then the nodes with the master', () => {
  const copy = new LiveCopy()
  copy.reset({
    self: 'n1',
    joblists: [
      summary('a-1', 'old-ok', 'succeeded', 0),
      summary('a-2', 'broke', 'failed', 1, { failure: 'deploy: failed on 2 of 5 nodes: n4 (exit 1), n5 (lost)', acked: false }),
      summary('a-3', 'seen', 'failed', 2, { failure: 'x: exit 1 on n2', acked: true }),
      summary('a-4', 'busy', 'running', 3),
      summary('a-5', 'waiting', 'queued', 4)
    ],
    nodes: [node('n1', true), node('n2', false), node('n3', false, false)],
    schedules: [{ name: 'nightly', cron: '0 2 * * *', timezone: 'UTC', onFailure: 'pause', overlap: 'skip', catchUp: 'one', maxCatchUp: 100, owner: 'alice', paused: true, pausedBy: 'a-9', removed: false, next: null, last: null, failing: true, runCount: 3, skippedCount: 0 }]
  }, 'b-1')
  const lines = renderWatch(copy, T + 10 * 60_000, 200)
  const at = (re: RegExp): number => { const i = lines.findIndex(l => re.test(l)); assert.ok(i >= 0, `${String(re)} in:\n${lines.join('\n')}`); return i }
  assert.match(lines[0], /master n1 · 2\/3 nodes alive/)
  assert.ok(at(/NEEDS A PERSON \(1 failed, 1 paused\)/) < at(/failed\s+a-2\s+broke.*failed on 2 of 5 nodes/))
  assert.ok(!lines.some(l => /a-3/.test(l)), 'an acknowledged failure is not in front')
  assert.ok(at(/paused\s+schedule nightly/) < at(/RUNNING AND QUEUED \(2\)/))
  assert.ok(at(/running\s+a-4\s+busy\s+stage build of 2/) < at(/queued\s+a-5\s+waiting/))
  assert.ok(at(/NODES \(3\)/) < at(/alive\s+n1 \(master\)/))
  at(/offline n3/)
  // A change moves it: the failure is acknowledged, the queued one starts.
  copy.apply({ topic: 'joblists', joblist: summary('a-2', 'broke', 'failed', 1, { failure: 'deploy: failed', acked: true }) }, 'b-2')
  copy.apply({ topic: 'joblists', joblist: summary('a-5', 'waiting', 'running', 4) }, 'b-3')
  const after = renderWatch(copy, T + 10 * 60_000, 200)
  assert.ok(after.some(l => /NEEDS A PERSON \(0 failed, 1 paused\)/.test(l)))
  assert.ok(after.some(l => /running\s+a-5\s+waiting/.test(l)))
  assert.equal(copy.lastId, 'b-3')
})
