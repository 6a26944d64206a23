// The journal of this node's own events (issue 12): each write batch of them appended to a
// file synchronously (write(2), no fsync) before it is published, so the batch is durable as
// LevelDB's own writes are (its log is written the same way: in the OS's cache, surviving the
// process's crash), without waiting for LevelDB's write on its thread pool. That wait was a
// wake-up of the agent for every batch it wrote (an executor: one a job, beside the job's exit);
// now the events go into LevelDB with peers' events, PEER_WRITE_DELAY_MS later, one write for
// all of them. On open, events of the journal that LevelDB does not hold (a crash came between
// the two) are written into it before anything reads the store (level-store.ts).
//
// Two files, used in turn: records are appended to the current one; once it holds more than
// `limitBytes`, the other one (every event of it in LevelDB by then) is emptied and becomes the
// current one. A record is a line: the CRC-32 of its JSON (8 hex digits), a space, the JSON of
// the batch's events. A torn or damaged line (a machine that lost power) ends what is read of
// that file: the events after it were never published (each batch is published after its line
// is written whole).
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { CisEvent } from '../events/types.js'

/** A journal file is emptied for reuse once it holds more than this (and LevelDB has all of it). */
export const JOURNAL_FILE_BYTES = 1024 * 1024

/** The journal's two files in a store's directory (LevelDB leaves files whose names it does not know). */
export function journalPaths (dir: string): [string, string] {
  return [join(dir, 'cis-journal-0'), join(dir, 'cis-journal-1')]
}

/** A line's check: the CRC-32 of its JSON, 8 hex digits. */
export function lineCheck (json: string): string {
  return crc32(json).toString(16).padStart(8, '0')
}

/** One line of the journal: its check, a space, the events' JSON, a newline. */
export function journalLine (events: readonly CisEvent[]): string {
  const json = JSON.stringify(events)
  return lineCheck(json) + ' ' + json + '\n'
}

/** The events of a journal file's text: its whole lines in order, up to the first torn or damaged one. */
export function readJournalText (text: string): { events: CisEvent[], damaged: boolean } {
  const events: CisEvent[] = []
  let at = 0
  while (at < text.length) {
    const end = text.indexOf('\n', at)
    if (end < 0) return { events, damaged: true }
    const line = text.slice(at, end)
    at = end + 1
    const json = line.slice(9)
    if (line[8] !== ' ' || line.slice(0, 8) !== lineCheck(json)) return { events, damaged: true }
    let batch: unknown
    try { batch = JSON.parse(json) } catch { return { events, damaged: true } }
    if (!Array.isArray(batch)) return { events, damaged: true }
    events.push(...batch as CisEvent[])
  }
  return { events, damaged: false }
}

/**
 * The events of a journal that follow `top` (the highest seq of `origin` the store holds),
 * without a gap: what the store lacks. Others (older, or of another origin) are left.
 */
export function missingFrom (events: readonly CisEvent[], origin: string, top: number): CisEvent[] {
  const bySeq = new Map<number, CisEvent>()
  for (const e of events) if (e !== null && typeof e === 'object' && e.origin === origin && Number.isSafeInteger(e.seq) && e.seq > top) bySeq.set(e.seq, e)
  const out: CisEvent[] = []
  for (let seq = top + 1; bySeq.has(seq); seq++) out.push(bySeq.get(seq) as CisEvent)
  return out
}

export class OwnJournal {
  private readonly fds: [number, number]
  private readonly sizes: [number, number] = [0, 0]
  /** The highest seq each file holds (0: none). */
  private readonly tops: [number, number] = [0, 0]
  private current = 0
  /** The highest seq of the journal's origin that LevelDB holds. */
  private storedSeq = 0
  private closed = false

  /**
   * Opens (creates) the two files, empty: what they held was read (read()) and is in the store.
   * Appending (O_APPEND): a file emptied for reuse is written from its start again.
   */
  constructor (paths: [string, string], private readonly limitBytes = JOURNAL_FILE_BYTES) {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND
    const a = openSync(paths[0], flags, 0o600)
    let b: number
    try { b = openSync(paths[1], flags, 0o600) } catch (err) { closeSync(a); throw err }
    this.fds = [a, b]
  }

  /** The origin whose events the journal holds (the first appended's). */
  private origin: string | undefined

  /** What the journal's files hold (absent files: nothing), and whether one was damaged. */
  static read (paths: [string, string]): { events: CisEvent[], damaged: boolean } {
    const events: CisEvent[] = []
    let damaged = false
    for (const p of paths) {
      let text: string
      try { text = readFileSync(p, 'utf8') } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw err
      }
      const r = readJournalText(text)
      events.push(...r.events)
      damaged ||= r.damaged
    }
    return { events, damaged }
  }

  /** Append one batch of own events (seq order), synchronously; throws what the disk says (ENOSPC). */
  append (events: readonly CisEvent[]): void {
    if (events.length === 0) return
    if (this.closed) throw new Error('the journal is closed')
    const other = 1 - this.current
    if (this.sizes[this.current] > this.limitBytes && this.tops[other] <= this.storedSeq) {
      ftruncateSync(this.fds[other], 0)
      this.sizes[other] = 0
      this.tops[other] = 0
      this.current = other
    }
    this.origin ??= events[0].origin
    const bytes = Buffer.from(journalLine(events))
    let done = 0
    while (done < bytes.length) done += writeSync(this.fds[this.current], bytes, done)
    this.sizes[this.current] += bytes.length
    this.tops[this.current] = Math.max(this.tops[this.current], events[events.length - 1].seq)
  }

  /** These events are in LevelDB now: a file holding none later than the journal's origin's among them may be reused. */
  stored (events: readonly CisEvent[]): void {
    const origin = this.origin
    if (origin === undefined) return
    for (const e of events) if (e.origin === origin && e.seq > this.storedSeq) this.storedSeq = e.seq
  }

  /** Bytes in the journal's files. */
  get bytes (): number { return this.sizes[0] + this.sizes[1] }

  /** Close the files: emptied if LevelDB holds all they hold (a graceful stop), kept for the next open if not (a write that failed). */
  close (): void {
    if (this.closed) return
    this.closed = true
    const empty = Math.max(this.tops[0], this.tops[1]) <= this.storedSeq
    for (const fd of this.fds) {
      try { if (empty) ftruncateSync(fd, 0) } finally { closeSync(fd) }
    }
  }
}
