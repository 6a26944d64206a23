// The backup file (G-6): JSON Lines that say what they are. The first line is the header,
//   {"cisystem-backup": 1, "schema": 1, "node": ID, "name": NAME, "at": ISO, "origins": {ORIGIN: SEQ}}
// then one event per line (as stored and signed), of every origin in the header, in
// (origin, seq) order, seq 1 up to the header's SEQ: a prefix of every origin's log, whole.
// No trailer: the header says how many events follow, so a cut-off file is seen as such.
//
// Pure: the agent writes it (GET /v1/admin/backup), `cis admin backup` checks what it
// receives, `cis admin restore` checks it again before writing a store.
import { addCut, covering } from '../state/cuts.js'
import type { CutRange } from '../state/cuts.js'
import type { CisEvent } from './types.js'
import { eventKey } from './types.js'

/** The version of this file format (the header's `cisystem-backup`). */
export const BACKUP_FORMAT = 1

export const BACKUP_MEDIA_TYPE = 'application/x-ndjson'

export interface BackupHeader {
  'cisystem-backup': number
  /** The store schema of the node that wrote it (STORE_SCHEMA there). */
  schema: number
  /** The node that wrote it: its ID and name. */
  node: string
  name: string
  /** When it was taken (ISO 8601). */
  at: string
  /** The highest seq of each origin in the file: its events 1..seq follow. */
  origins: Record<string, number>
}

/** How many events follow the header. */
export function backupEventCount (h: BackupHeader): number {
  return Object.values(h.origins).reduce((n, seq) => n + seq, 0)
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/**
 * The header in the first line of a file, or why it is none. A header of a newer format is
 * refused (its events may not mean what this code thinks); `what` names the file in messages.
 */
export function readBackupHeader (line: string, what: string): { header: BackupHeader } | { problem: string } {
  const notBackup = { problem: `${what} is not a cisystem backup (its first line is not a backup header); make one with 'cis admin backup FILE'` }
  let h: unknown
  try { h = JSON.parse(line) } catch { return notBackup }
  if (!isObj(h) || !('cisystem-backup' in h)) return notBackup
  const format = h['cisystem-backup']
  if (!isCount(format) || format < 1) return notBackup
  if (format > BACKUP_FORMAT) {
    return { problem: `${what} was written by a newer cisystem (backup format ${format}; this one reads format ${BACKUP_FORMAT}): restore it with that newer version` }
  }
  if (!isCount(h.schema) || h.schema < 1 || typeof h.node !== 'string' || typeof h.name !== 'string' || typeof h.at !== 'string' ||
    !isObj(h.origins) || !Object.values(h.origins).every(isCount)) {
    return { problem: `${what} has a damaged backup header (schema, node, name, at or origins is missing or wrong): it cannot be restored` }
  }
  return { header: h as unknown as BackupHeader }
}

/**
 * Checks, event by event, that what follows a header is what it announces: every origin's
 * events in seq order from seq 1, none repeated, none beyond the header's seq, each origin's
 * together, and at the end none missing. Seqs a purge took out of the log (state/cuts.ts) are
 * absent: every gap must be covered by the cut of a purge event in the same file (prove()).
 */
export class BackupSequence {
  private readonly last = new Map<string, number>()
  private current: string | undefined
  /** Seqs absent from the file, per origin: [origin, from, to]. */
  private readonly gaps: Array<[string, number, number]> = []
  /** The cuts of the file's purge events. */
  private readonly cuts: Record<string, CutRange[]> = {}
  /** Events seen so far. */
  count = 0

  constructor (private readonly header: BackupHeader) {}

  /** Why this event cannot come next, or null. */
  next (e: Pick<CisEvent, 'origin' | 'seq'>): string | null {
    const upTo = Object.hasOwn(this.header.origins, e.origin) ? this.header.origins[e.origin] : undefined
    if (upTo === undefined) return `an event of origin ${e.origin}, which the header does not list`
    const last = this.last.get(e.origin) ?? 0
    if (e.seq <= last) return `origin ${e.origin} goes from seq ${last} to ${e.seq}`
    if (e.seq > upTo) return `origin ${e.origin} has seq ${e.seq}, beyond the header's ${upTo}`
    if (this.current !== e.origin && this.last.has(e.origin)) return `the events of origin ${e.origin} are not together`
    if (e.seq > last + 1) this.gaps.push([e.origin, last + 1, e.seq - 1])
    this.current = e.origin
    this.last.set(e.origin, e.seq)
    this.count++
    return null
  }

  /** A checked, verified event of the file: a purge's cut explains gaps. */
  prove (e: CisEvent): void {
    if (e.type === 'purge') {
      const cut = (e as CisEvent<'purge'>).body.cut
      if (cut !== undefined) addCut(this.cuts, eventKey(e), cut)
    }
  }

  /** At the end: what is missing (the file was cut off, or seqs no purge took out), or null. */
  missing (): string | null {
    const gaps = [...this.gaps]
    for (const [o, seq] of Object.entries(this.header.origins)) {
      const last = this.last.get(o) ?? 0
      if (last < seq) gaps.push([o, last + 1, seq])
    }
    const open = gaps.filter(([o, from, to]) => covering(this.cuts, o, from, to) === undefined)
    if (open.length === 0) return null
    const [o, from, to] = open[0]
    return `the events of origin ${o} from seq ${from} to ${to} are missing${open.length > 1 ? ` (and ${open.length - 1} more gap(s))` : ''}, and no purge in the file took them out`
  }
}

/**
 * The file's text: the header line, then the events one per line in chunks of about
 * `chunkBytes` (a stream of them never holds the whole file).
 */
export async function * backupLines (header: BackupHeader, events: AsyncIterable<CisEvent>, chunkBytes = 64 * 1024): AsyncGenerator<string> {
  // The header alone first: the client knows at once what comes (and how much).
  yield JSON.stringify(header) + '\n'
  let chunk = ''
  for await (const e of events) {
    chunk += JSON.stringify(e) + '\n'
    if (chunk.length >= chunkBytes) { yield chunk; chunk = '' }
  }
  if (chunk !== '') yield chunk
}
