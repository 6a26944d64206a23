// G-6: the backup file's format (src/events/backup-format.ts): the header is recognised or
// refused with a reason, the events after it are checked against it, the lines are chunked.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { BackupHeader } from '../../src/events/backup-format.js'
import { BACKUP_FORMAT, BackupSequence, backupEventCount, backupLines, readBackupHeader } from '../../src/events/backup-format.js'
import type { CisEvent } from '../../src/events/types.js'

const header = (origins: Record<string, number>): BackupHeader => ({ 'cisystem-backup': BACKUP_FORMAT, schema: 1, node: 'n1', name: 'one', at: '2026-01-01T00:00:00.000Z', origins })
const ev = (origin: string, seq: number): CisEvent => ({ origin, seq, ts: seq, lc: 0, type: 'master', body: { term: seq }, sig: 's' }) as CisEvent

test('G-6: a backup header is read back; anything else is "not a cisystem backup"; a newer format or a damaged header says so', () => {
  const h = header({ a: 2, b: 1 })
  assert.deepEqual(readBackupHeader(JSON.stringify(h), 'f'), { header: h })
  assert.equal(backupEventCount(h), 3)
  for (const line of ['', 'hello', '[1]', '{"origin":"a","seq":1}', '{"cisystem-backup":0}', '{"cisystem-backup":"1"}']) {
    const r = readBackupHeader(line, 'x.jsonl')
    assert.ok('problem' in r, line)
    assert.match(r.problem, /^x\.jsonl is not a cisystem backup .*cis admin backup FILE/, line)
  }
  const newer = readBackupHeader(JSON.stringify({ ...h, 'cisystem-backup': BACKUP_FORMAT + 1 }), 'f')
  assert.ok('problem' in newer)
  assert.match(newer.problem, new RegExp(`written by a newer cisystem \\(backup format ${BACKUP_FORMAT + 1}; this one reads format ${BACKUP_FORMAT}\\)`))
  for (const damaged of [{ ...h, origins: { a: -1 } }, { ...h, schema: 0 }, { ...h, node: 5 }, { ...h, origins: [] }]) {
    const r = readBackupHeader(JSON.stringify(damaged), 'f')
    assert.ok('problem' in r && /damaged backup header/.test(r.problem), JSON.stringify(damaged))
  }
})

test('G-6: the events after a header must be each origin\'s seq 1, 2, 3... up to the header\'s, origins one after another, none missing (unless a purge took them out: next test)', () => {
  const ok = new BackupSequence(header({ a: 2, b: 1 }))
  for (const e of [ev('a', 1), ev('a', 2), ev('b', 1)]) assert.equal(ok.next(e), null)
  assert.equal(ok.missing(), null)
  assert.equal(ok.count, 3)

  const problem = (origins: Record<string, number>, events: CisEvent[]): string | null => {
    const s = new BackupSequence(header(origins))
    for (const e of events) { const p = s.next(e); if (p !== null) return p }
    return s.missing()
  }
  assert.match(problem({ a: 2 }, [ev('a', 2)]) ?? '', /origin a from seq 1 to 1 are missing/)
  assert.match(problem({ a: 3 }, [ev('a', 1), ev('a', 3)]) ?? '', /^the events of origin a from seq 2 to 2 are missing, and no purge in the file took them out/)
  assert.match(problem({ a: 1 }, [ev('a', 1), ev('a', 1)]) ?? '', /goes from seq 1 to 1/)
  assert.match(problem({ a: 3 }, [ev('a', 1), ev('a', 3), ev('a', 2)]) ?? '', /goes from seq 3 to 2/)
  assert.match(problem({ a: 1 }, [ev('a', 1), ev('a', 2)]) ?? '', /seq 2, beyond the header's 1/)
  assert.match(problem({ a: 1 }, [ev('z', 1)]) ?? '', /origin z, which the header does not list/)
  assert.match(problem({ a: 1 }, [ev('constructor', 1)]) ?? '', /origin constructor, which the header does not list/)
  assert.match(problem({ a: 2, b: 1 }, [ev('a', 1), ev('b', 1), ev('a', 2)]) ?? '', /events of origin a are not together/)
  assert.match(problem({ a: 2, b: 2 }, [ev('a', 1), ev('a', 2), ev('b', 1)]) ?? '', /^the events of origin b from seq 2 to 2 are missing/)
  assert.match(problem({ a: 1, b: 1, c: 1 }, [ev('a', 1)]) ?? '', /^the events of origin b from seq 1 to 1 are missing \(and 1 more gap\(s\)\)/)
})

test('G-6: seqs a purge took out of the log may be absent from a backup, where a purge event in the file covers them; others may not', () => {
  const purge = (origin: string, seq: number, cut: Record<string, Array<[number, number]>>): CisEvent => ({ origin, seq, ts: seq, lc: 0, type: 'purge', body: { before: 1, ids: [], requests: [], cut }, sig: 's' }) as CisEvent
  const run = (origins: Record<string, number>, events: CisEvent[]): string | null => {
    const s = new BackupSequence(header(origins))
    for (const e of events) { const p = s.next(e); if (p !== null) return p; s.prove(e) }
    return s.missing()
  }
  // a's 2..4 and its tail 6..7, and all of c, are covered by p's purge (which comes after them in the file).
  const p = purge('p', 1, { a: [[2, 4], [6, 7]], c: [[1, 3]] })
  assert.equal(run({ a: 7, c: 3, p: 1 }, [ev('a', 1), ev('a', 5), p]), null)
  assert.match(run({ a: 8, c: 3, p: 1 }, [ev('a', 1), ev('a', 5), p]) ?? '', /origin a from seq 6 to 8 are missing/, 'seq 8 is in no cut')
  assert.match(run({ a: 7, c: 3, p: 1 }, [ev('a', 1), ev('a', 5), ev('p', 1)]) ?? '', /origin a from seq 2 to 4 are missing \(and 2 more gap/, 'a purge without a cut proves nothing')
})

test('G-6: backupLines gives the header line then one line per event, in chunks, whatever the chunk size', async () => {
  const h = header({ a: 3 })
  async function * events (): AsyncGenerator<CisEvent> { for (let i = 1; i <= 3; i++) yield ev('a', i) }
  for (const chunkBytes of [1, 100, 1 << 20]) {
    const chunks: string[] = []
    for await (const c of backupLines(h, events(), chunkBytes)) chunks.push(c)
    const lines = chunks.join('').split('\n')
    assert.equal(lines.pop(), '', 'the last line ends with a newline')
    assert.deepEqual(JSON.parse(lines[0]), h)
    assert.deepEqual(lines.slice(1).map(l => JSON.parse(l)), [ev('a', 1), ev('a', 2), ev('a', 3)])
    if (chunkBytes === 1) assert.equal(chunks.length, 4, 'a chunk per line when each line fills one')
    if (chunkBytes === 1 << 20) assert.equal(chunks.length, 2, 'the header, then the events together')
  }
})
