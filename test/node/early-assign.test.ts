// Events of different origins arrive in any order (R1-5): a node may learn the master's
// assign of an attempt to it before the submit that makes the job. It must run the attempt
// once the job is known, not leave it assigned forever.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { defaultConfig } from '../../src/config/config.js'
import type { EventBodies, EventType } from '../../src/events/types.js'
import { signEvent } from '../../src/identity/keys.js'
import { CisNode } from '../../src/node/node.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'
import { cleanup, tempDir, waitFor } from '../helpers/agent.js'

async function origin (): Promise<{ id: string, event: <T extends EventType>(seq: number, type: T, body: EventBodies[T]) => unknown }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  return { id, event: (seq, type, body) => signEvent(key as never, { origin: id, seq, ts: Date.now(), lc: 0, type, body }) }
}

test('R1-5/R3-1: an assign that arrives before its job is known runs once the submit arrives', { timeout: 30_000 }, async () => {
  const dir = tempDir()
  const node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'x', resources: { slot: ['slot0'] } }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  try {
    await node.start()
    await node.announce('http://127.0.0.1:0')
    const master = await origin()
    const submitter = await origin()
    const request = `${submitter.id}:1`
    const spec = { name: 'late', priority: 0, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 }, env: {}, retries: 0, replace: {}, files: [] }] }] }
    // The master's accept and assign come first...
    node.receive(master.event(1, 'accept', { request, id: 'mstr-1', term: 1, onLost: 'retry', maxLost: 3 }), master.id)
    node.receive(master.event(2, 'assign', { jobId: 'mstr-1.1', attempt: 1, node: node.id, resources: { slot: ['slot0'] }, term: 1 }), master.id)
    await node.flush()
    assert.equal(node.state.attempts['mstr-1.1']?.[1]?.state, 'assigned')
    assert.equal(node.state.jobs['mstr-1.1'], undefined, 'the job is not known yet')
    // ...then the submit that makes the job.
    node.receive(submitter.event(1, 'submit', { spec, owner: 'someone' }), submitter.id)
    await waitFor('the attempt to run and succeed', () => node.state.attempts['mstr-1.1']?.[1]?.state === 'succeeded', 15_000)
    assert.equal(node.state.joblists['mstr-1']?.state, 'succeeded')
  } finally {
    await node.stop()
    cleanup(dir)
  }
})
