// An event store that fails on demand, for tests: it wraps another store and, when told to,
// makes writes reject as a full disk would (ENOSPC). This tests the node's full-disk path
// (D-3) without root, a loop device or filling a real disk. A failed write writes nothing:
// the error is raised before the wrapped store is called, so the write stays atomic.
import type { CisEvent } from '../events/types.js'
import type { EventStore, SnapshotWrite, StoredSnapshot } from './event-store.js'

/** The error a full disk gives: code ENOSPC. */
export function diskFullError (): Error {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
}

export class FaultyStore implements EventStore {
  /** Writes that succeeded (empty ones included). */
  writes = 0
  /** Writes that were refused. */
  failures = 0
  private error: Error | undefined
  /** Writes left before `error` applies (undefined: it applies now, if set). */
  private allowed: number | undefined

  constructor (readonly inner: EventStore) {}

  /** Every later write rejects with `err` (default: a full-disk error), until heal(). */
  failWrites (err: Error = diskFullError()): void {
    this.error = err
    this.allowed = undefined
  }

  /** `n` more writes succeed, then every write rejects with `err`, until heal(). */
  failAfterWrites (n: number, err: Error = diskFullError()): void {
    this.error = err
    this.allowed = n
  }

  /** Writes succeed again. */
  heal (): void {
    this.error = undefined
    this.allowed = undefined
  }

  async open (): Promise<void> { await this.inner.open() }
  async close (): Promise<void> { await this.inner.close() }

  async write (events: CisEvent[], snapshot?: SnapshotWrite): Promise<void> {
    if (this.error !== undefined) {
      if (this.allowed !== undefined && this.allowed > 0) {
        this.allowed--
      } else {
        this.failures++
        throw this.error
      }
    }
    await this.inner.write(events, snapshot)
    this.writes++
  }

  async reclaim (events: CisEvent[], done?: string): Promise<void> {
    if (this.error !== undefined) { this.failures++; throw this.error }
    await this.inner.reclaim(events, done)
  }

  async reclaimed (): Promise<string[]> { return await this.inner.reclaimed() }
  readOrigin (origin: string, after: number): AsyncIterable<CisEvent> { return this.inner.readOrigin(origin, after) }
  async origins (): Promise<string[]> { return await this.inner.origins() }
  async getEvent (origin: string, seq: number): Promise<CisEvent | undefined> { return await this.inner.getEvent(origin, seq) }
  async loadSnapshot (): Promise<StoredSnapshot | undefined> { return await this.inner.loadSnapshot() }
  readSubject (subject: string): AsyncIterable<CisEvent> { return this.inner.readSubject(subject) }
  async readArchive (id: string): Promise<string | undefined> { return await this.inner.readArchive(id) }
  readArchiveIndex (range: { gte: string, lt: string, reverse?: boolean, limit?: number }): AsyncIterable<[string, string]> { return this.inner.readArchiveIndex(range) }
  async schemaVersion (): Promise<number> { return await this.inner.schemaVersion() }
}
