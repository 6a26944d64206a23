// G-6: a purge takes a request with every ID it was accepted under (state/purge.ts). One of those
// may be running on this node (a second accept by another master across a failover, whose run the
// purging node never saw): its attempts leave every state, so the process must not go on
// holding its resources. The executor bridge stops it; a joblist not purged runs on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import { ExecutorBridge } from '../../src/node/executor-bridge.js'
import { apply } from '../../src/state/reducer.js'
import type { CisEvent, EventBodies, EventType, UnsignedEvent } from '../../src/events/types.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { cleanup, sleep, tempDir } from '../helpers/agent.js'

test('G-6: an attempt running here whose joblist a purge takes (its request purged under another ID) is stopped; another joblist\'s runs on', async () => {
  const h = new Harness('M')
  h.node('me', { slot: ['s0', 's1'] })
  const reqs = ['purged', 'kept'].map(name => h.submit(joblist(name, [['s', [job('long', { run: 'sleep 30' })]]]), 'me'))
  h.settle(['me'])
  const [gone, kept] = reqs.map(r => h.joblistId(r))
  assert.deepEqual([gone, kept].map(id => h.state.attempts[`${id}.1`]?.[1]?.node), ['me', 'me'])
  const dir = tempDir('cis-purge-running-')
  const told: Array<{ type: string, body: Record<string, unknown> }> = []
  const config = defaultConfig()
  const bridge = new ExecutorBridge({
    self: 'me',
    config: { ...config, exec: { ...config.exec, forkServer: false, killGraceMs: 500 } },
    dataDir: dir,
    log: pino({ level: 'silent' }),
    apiUrl: () => '',
    append: async <T extends EventType>(type: T, body: EventBodies[T]) => { told.push({ type, body: body as unknown as Record<string, unknown> }) },
    clock: () => Date.now()
  })
  bridge.start()
  try {
    bridge.launchAssigned(h.state)
    assert.equal(bridge.running, 2)
    // The purge a node wrote that knew the request under another ID only (none of these).
    const purge: UnsignedEvent<'purge'> = { origin: 'P', seq: 1, ts: h.now + 1, lc: 0, type: 'purge', body: { before: h.now, ids: ['m-999'], requests: [reqs[0]] } }
    apply(h.state, purge)
    assert.equal(h.state.joblists[gone], undefined, 'the purge took the joblist of the request')
    bridge.react(h.state, { ...purge, sig: '' } as CisEvent)
    for (let i = 0; i < 100 && bridge.running > 1; i++) await sleep(50)
    assert.equal(bridge.running, 1, 'the purged joblist\'s attempt ended')
    const ended = told.filter(t => t.type === 'finished').map(t => [t.body.jobId, t.body.state])
    assert.deepEqual(ended, [[`${gone}.1`, 'stopped']])
    assert.ok(h.state.joblists[kept] !== undefined)
  } finally {
    await bridge.stop()
    cleanup(dir)
  }
})
