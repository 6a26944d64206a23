// Issue 12 (R1-4, R1-5): a node's event log puts each body it appends in canonical form before
// anything applies it, so its own state, its store and its peers hold the same values in the
// same order, and a peer's canonical JSON of the body (to verify the signature) is one
// JSON.stringify. A body with no JSON form is refused to the caller; the node keeps running.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import type { CisEvent } from '../../src/events/types.js'
import { verifyEvent } from '../../src/identity/keys.js'
import { CisNode } from '../../src/node/node.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { canonicalJson } from '../../src/util/canonical.js'
import { cleanup, tempDir } from '../helpers/agent.js'

test('R1-4 issue 12: an appended body is stored, signed and applied in canonical key order; a peer verifies it; one with no JSON form is refused', { timeout: 30_000 }, async () => {
  const dir = tempDir()
  const node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'x', resources: {} }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  try {
    await node.start()
    // Keys out of order, nested, with an undefined member (JSON has no form for it: dropped).
    const spec = { stages: [{ jobs: [{ run: 'true', name: 'j', env: { Z: '1', A: '2' } }], name: 's' }], name: 'ordered', values: { b: '1', a: '2' }, note: undefined }
    const e = await node.append('submit', { spec: spec as never, owner: 'someone' })
    assert.deepEqual(Object.keys(e.body), ['owner', 'spec'])
    const body = e.body as unknown as { spec: { stages: Array<{ jobs: Array<{ env: object }> }>, values: object } }
    assert.deepEqual(Object.keys(body.spec), ['name', 'stages', 'values'])
    assert.deepEqual(Object.keys(body.spec.stages[0].jobs[0]), ['env', 'name', 'run'])
    assert.deepEqual(Object.keys(body.spec.stages[0].jobs[0].env), ['A', 'Z'])
    assert.equal(JSON.stringify(e.body), canonicalJson(spec && { spec, owner: 'someone' }), 'the body is its canonical JSON')
    await node.flush()
    const stored = (await node.storedEvents()).find(x => x.origin === node.id && x.seq === e.seq) as CisEvent
    assert.equal(JSON.stringify(stored.body), JSON.stringify(e.body), 'stored as applied')
    const atPeer = JSON.parse(JSON.stringify(stored)) as CisEvent
    assert.equal(verifyEvent(atPeer), true)
    // No JSON form: the append fails, nothing is applied, the node goes on.
    const seq = node.state.applied[node.id] ?? 0
    await assert.rejects(node.append('ack', { ids: [() => 1] } as never), SyntaxError)
    assert.equal(node.state.applied[node.id] ?? 0, seq)
    const next = await node.append('ack', { ids: ['x-1'] } as never)
    assert.equal(next.seq, seq + 1)
  } finally {
    await node.stop()
    cleanup(dir)
  }
})
