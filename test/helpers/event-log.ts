// An EventLog of a fresh identity over a store in memory, for tests of the node's log: what it
// publishes is collected; `o` overrides any option (the store's writes, the archive, the delays).
import '../../src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import type { CisEvent } from '../../src/events/types.js'
import { EventLog } from '../../src/node/event-log.js'
import type { EventLogOptions } from '../../src/node/event-log.js'
import { apply } from '../../src/state/reducer.js'
import { MemoryEventStore } from '../../src/store/memory-store.js'

export async function memoryEventLog (o: Partial<EventLogOptions> = {}): Promise<{ events: EventLog, published: CisEvent[][] }> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key as never).toString()
  const published: CisEvent[][] = []
  const events: EventLog = new EventLog({
    identity: { id, key: key as never },
    store: new MemoryEventStore(),
    log: pino({ level: 'silent' }),
    now: () => Date.now(),
    where: 'memory',
    snapshotEvery: 5000,
    applied: es => { for (const e of es) apply(events.state, e) },
    publish: own => { published.push(own) },
    onFatal: err => { throw err },
    ...o
  })
  await events.load()
  return { events, published }
}
