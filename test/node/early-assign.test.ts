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

test('D-3/R1-3: an assign and the master\'s verdict that the attempt is lost, taken together (a sync after a restart), do not run it; an attempt assigned before the node is ready runs once it is', { timeout: 30_000 }, async () => {
  const dir = tempDir()
  const node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'x', resources: { slot: ['slot0', 'slot1'] } }, log: pino({ level: 'silent' }), store: new MemoryEventStore(), network: false })
  try {
    await node.start()
    const master = await origin()
    const submitter = await origin()
    // A stand-in for the mesh: the master origin alive and of the highest priority (this node decides nothing).
    const alive = new Set([node.id, master.id, submitter.id])
    ;(node as unknown as { mesh: unknown }).mesh = {
      gossip: { relay: () => {} },
      replication: { pull: () => {}, pullBehind: () => {}, publishEvents: () => {}, behind: () => false, caughtUp: async () => true },
      membership: { alive: () => alive, priorityOf: (id: string) => id === master.id ? 100 : 0, silence: () => new Map(), lastSeen: () => Date.now(), unsettled: () => ({ unheard: [], claiming: [] }), settling: () => false },
      office: () => {},
      leaving: () => {},
      addresses: () => [],
      block: async () => {},
      stop: async () => {}
    }
    const spec = (name: string): EventBodies['submit']['spec'] => ({ name, priority: 0, tags: [], replace: {}, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true', needs: { slot: 1 }, env: {}, retries: 0, replace: {}, files: [] }] }] })
    // Before the node is ready (announce): a joblist assigned here...
    node.receive(submitter.event(1, 'submit', { spec: spec('early'), owner: 'someone' }), submitter.id)
    node.receive(master.event(1, 'accept', { request: `${submitter.id}:1`, id: 'mstr-1', term: 1, onLost: 'retry', maxLost: 3 }), master.id)
    node.receive(master.event(2, 'assign', { jobId: 'mstr-1.1', attempt: 1, node: node.id, resources: { slot: ['slot0'] }, term: 1 }), master.id)
    // ...and one whose assign comes before the node is ready, its job (the submit) only after.
    const lateRequest = `${submitter.id}:9`
    node.receive(master.event(3, 'accept', { request: lateRequest, id: 'mstr-3', term: 1, onLost: 'retry', maxLost: 3 }), master.id)
    node.receive(master.event(4, 'assign', { jobId: 'mstr-3.1', attempt: 1, node: node.id, resources: { slot: ['slot1'] }, term: 1 }), master.id)
    await node.flush()
    assert.equal(node.runningCount(), 0, 'nothing runs before the node is ready')
    assert.equal(node.state.attempts['mstr-1.1']?.[1]?.state, 'assigned')
    await node.announce('http://127.0.0.1:0')
    await waitFor('the attempt assigned before to run once ready', () => node.state.attempts['mstr-1.1']?.[1]?.state === 'succeeded', 15_000)
    for (let seq = 2; seq <= 8; seq++) node.receive(submitter.event(seq, 'ack', { joblistId: 'none' }), submitter.id)
    node.receive(submitter.event(9, 'submit', { spec: spec('late'), owner: 'someone' }), submitter.id)
    await waitFor('the attempt assigned before ready, whose job came after, to run', () => node.state.attempts['mstr-3.1']?.[1]?.state === 'succeeded', 15_000)
    // Ready: an assign and its lose in one message (as a pull brings them): not run.
    node.receive(submitter.event(10, 'submit', { spec: spec('gone'), owner: 'someone' }), submitter.id)
    node.receive(master.event(5, 'accept', { request: `${submitter.id}:10`, id: 'mstr-2', term: 1, onLost: 'retry', maxLost: 3 }), master.id)
    await node.flush()
    const intake = (node as unknown as { intake: { receiveMany: (raws: unknown[], from: string) => void } }).intake
    intake.receiveMany([
      master.event(6, 'assign', { jobId: 'mstr-2.1', attempt: 1, node: node.id, resources: { slot: ['slot0'] }, term: 1 }),
      master.event(7, 'lose', { jobId: 'mstr-2.1', attempt: 1, reason: 'node x is gone', term: 1 })
    ], master.id)
    await node.flush()
    await new Promise(resolve => setTimeout(resolve, 300))
    assert.equal(node.state.attempts['mstr-2.1']?.[1]?.state, 'lost', JSON.stringify(node.state.attempts['mstr-2.1']))
    assert.equal(node.runningCount(), 0, 'the attempt declared lost in the same batch did not start')
    assert.equal(node.state.attempts['mstr-2.1']?.[1]?.startedAt, undefined, 'and no start of it was told')
  } finally {
    await node.stop()
    cleanup(dir)
  }
})
