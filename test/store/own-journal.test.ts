// Issue 12 / D-3: the journal of own events (src/store/own-journal.ts). An own batch is durable
// once appended to it, ahead of its LevelDB write: a crash between the two loses nothing (the
// store writes the journal's missing events into LevelDB as it opens), a torn line ends what is
// read, and the files are reused once LevelDB holds what they hold.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CisEvent } from '../../src/events/types.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { JOURNAL_FILE_BYTES, OwnJournal, journalLine, journalPaths, lineCheck, missingFrom, readJournalText } from '../../src/store/own-journal.js'
import { cleanup, tempDir } from '../helpers/agent.js'
import { storeEvent } from './conformance.js'

const range = (origin: string, from: number, to: number): CisEvent[] => Array.from({ length: to - from + 1 }, (_, i) => storeEvent(origin, from + i))

async function seqsOf (store: LevelEventStore, origin: string): Promise<number[]> {
  const seqs: number[] = []
  for await (const e of store.readOrigin(origin, 0)) seqs.push(e.seq)
  return seqs
}

test('issue 12 / D-3: own events journaled but not yet in LevelDB when the process is killed (SIGKILL) are in the store when it opens again', async () => {
  const dir = tempDir('cis-journal-')
  try {
    const path = join(dir, 'store')
    const levelStore = fileURLToPath(new URL('../../src/store/level-store.js', import.meta.url))
    const conformance = fileURLToPath(new URL('./conformance.js', import.meta.url))
    // A child writes seqs 1-3 into LevelDB, journals 4-6 and 7 (two batches), and is killed before writing them.
    const script = `
      const { LevelEventStore } = await import(${JSON.stringify(levelStore)})
      const { storeEvent } = await import(${JSON.stringify(conformance)})
      const store = new LevelEventStore(${JSON.stringify(path)}, { journal: true })
      await store.open()
      const ev = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => storeEvent('me', a + i))
      store.journal.append(ev(1, 3))
      await store.write(ev(1, 3))
      store.journal.append(ev(4, 6))
      store.journal.append(ev(7, 7))
      process.kill(process.pid, 'SIGKILL')
    `
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })
    assert.equal(r.signal, 'SIGKILL', `the child was killed, not ended otherwise: ${r.stderr}`)

    const told: string[] = []
    const store = new LevelEventStore(path, { journal: true, log: m => told.push(m) })
    await store.open()
    try {
      assert.deepEqual(await seqsOf(store, 'me'), [1, 2, 3, 4, 5, 6, 7], 'the journaled events are in the store')
      assert.deepEqual(await store.getEvent('me', 5), storeEvent('me', 5), 'as they were journaled')
      assert.deepEqual(await store.origins(), ['me'])
      assert.equal(told.length, 1, told.join('\n'))
      assert.match(told[0], /wrote 4 own events from the journal into the store at .* \(the agent stopped before it had written them\)/)
    } finally {
      await store.close()
    }
    // A graceful close with everything in LevelDB leaves the journal empty; opening again writes nothing.
    for (const p of journalPaths(path)) assert.equal(statSync(p).size, 0, p)
    const again = new LevelEventStore(path, { journal: true, log: m => told.push(m) })
    await again.open()
    assert.deepEqual(await seqsOf(again, 'me'), [1, 2, 3, 4, 5, 6, 7])
    await again.close()
    assert.equal(told.length, 1, 'nothing more to write from the journal')
  } finally {
    cleanup(dir)
  }
})

test('issue 12 / D-3: a store closed after a failed write keeps its journal, and writes it into LevelDB when it opens', async () => {
  const dir = tempDir('cis-journal-')
  try {
    const path = join(dir, 'store')
    const store = new LevelEventStore(path, { journal: true })
    await store.open()
    store.journal?.append(range('me', 1, 2))
    await store.write(range('me', 1, 2))
    store.journal?.append(range('me', 3, 4)) // (its write never came)
    await store.close()
    assert.ok(statSync(journalPaths(path)[0]).size > 0, 'the journal was kept')
    // Opened without a journal of its own (a tool reading the store): it still writes what the journal held.
    const reader = new LevelEventStore(path)
    await reader.open()
    assert.deepEqual(await seqsOf(reader, 'me'), [1, 2, 3, 4])
    assert.equal(reader.journal, undefined, 'no journal kept without the option')
    await reader.close()
  } finally {
    cleanup(dir)
  }
})

test('issue 12: a journal line torn by a crash, or damaged, ends what is read of its file; the whole lines before it are read', () => {
  const a = journalLine(range('me', 1, 2))
  const b = journalLine(range('me', 3, 3))
  assert.deepEqual(readJournalText(a + b), { events: range('me', 1, 3), damaged: false })
  assert.deepEqual(readJournalText(a + b.slice(0, b.length - 5)), { events: range('me', 1, 2), damaged: true }, 'torn: no newline at its end')
  const flipped = a + b.slice(0, 20) + (b[20] === 'x' ? 'y' : 'x') + b.slice(21)
  assert.deepEqual(readJournalText(flipped), { events: range('me', 1, 2), damaged: true }, 'a changed byte fails its CRC')
  const notBatch = '{"seq":1}'
  assert.deepEqual(readJournalText(lineCheck(notBatch) + ' ' + notBatch + '\n' + b), { events: [], damaged: true }, 'a whole line that is not a batch of events')
  assert.deepEqual(readJournalText(''), { events: [], damaged: false })
})

test('issue 12: what a journal adds to a store is the run of its origin\'s events right after the store\'s highest seq', () => {
  const events = [...range('me', 3, 6), ...range('peer', 1, 2), ...range('me', 9, 9)]
  assert.deepEqual(missingFrom(events, 'me', 4).map(e => e.seq), [5, 6], 'not what the store has (≤ 4), not past a gap (9)')
  assert.deepEqual(missingFrom(events, 'me', 6), [])
  assert.deepEqual(missingFrom(events, 'me', 1), [], 'seq 2 is not in the journal: nothing follows the store without a gap')
  assert.deepEqual(missingFrom(events, 'peer', 0).map(e => e.seq), [1, 2])
})

test('issue 12: the journal\'s files are reused once LevelDB holds what they hold, so it stays small; not before', () => {
  const dir = tempDir('cis-journal-')
  try {
    const paths = journalPaths(dir)
    const limit = 2_000
    const stored = new OwnJournal(paths, limit)
    let seq = 0
    let most = 0
    for (let i = 0; i < 200; i++) {
      const batch = range('me', seq + 1, seq + 3)
      seq += 3
      stored.append(batch)
      stored.stored(batch) // (its LevelDB write completed)
      most = Math.max(most, stored.bytes)
    }
    const line = journalLine(range('me', 1, 3)).length
    assert.ok(most <= 2 * (limit + line), `at most two files of about the limit: ${most} bytes`)
    assert.ok(seq * 100 > 10 * most, 'far less than everything appended')
    stored.close()

    // LevelDB behind: nothing is reused, everything appended is still there to read.
    const behind = new OwnJournal(paths, limit)
    for (let i = 0; i < 50; i++) behind.append(range('me', 3 * i + 1, 3 * i + 3))
    behind.stored(range('me', 1, 3))
    behind.close()
    assert.deepEqual(OwnJournal.read(paths).events.map(e => e.seq), Array.from({ length: 150 }, (_, i) => i + 1))
    assert.ok(JOURNAL_FILE_BYTES >= 64 * 1024)
  } finally {
    cleanup(dir)
  }
})

test('issue 12: a store opened with a damaged journal says so and writes the whole lines before the damage', async () => {
  const dir = tempDir('cis-journal-')
  try {
    const path = join(dir, 'store')
    const first = new LevelEventStore(path)
    await first.open()
    await first.write(range('me', 1, 1))
    await first.close()
    const [p0] = journalPaths(path)
    writeFileSync(p0, journalLine(range('me', 2, 3)))
    appendFileSync(p0, journalLine(range('me', 4, 4)).slice(0, 30))
    const told: string[] = []
    const store = new LevelEventStore(path, { journal: true, log: m => told.push(m) })
    await store.open()
    assert.deepEqual(await seqsOf(store, 'me'), [1, 2, 3])
    assert.ok(told.some(m => /ends in a torn or damaged line/.test(m)), told.join('\n'))
    await store.close()
    assert.equal(readFileSync(p0, 'utf8'), '', 'emptied: LevelDB holds all of it')
  } finally {
    cleanup(dir)
  }
})
