// Progress of a long count on stderr ("backup: 12,000 / 50,000 events (24%)"), for the
// admin commands. Quiet for a short run; then redrawn in place on a terminal a few times a
// second, or one line every few seconds into a file or pipe (a log stays readable).

export interface CountProgressOptions {
  stream?: { write: (s: string) => unknown, isTTY?: boolean }
  now?: () => number
  /** Nothing shows until the run has lasted this long (ms). */
  quietMs?: number
  /** At most one update per this long (ms); default 250 on a terminal, 5000 otherwise. */
  everyMs?: number
}

const n = (x: number): string => x.toLocaleString('en-US')

export class CountProgress {
  private readonly stream: NonNullable<CountProgressOptions['stream']>
  private readonly now: () => number
  private readonly started: number
  private readonly quietMs: number
  private readonly everyMs: number
  private readonly tty: boolean
  private shownAt: number | undefined
  private lastLine = ''

  /** `what` leads the line ("backup"), `unit` follows the counts ("events"). */
  constructor (private readonly what: string, private readonly total: number, private readonly unit: string, o: CountProgressOptions = {}) {
    this.stream = o.stream ?? process.stderr
    this.now = o.now ?? Date.now
    this.started = this.now()
    this.tty = this.stream.isTTY === true
    this.quietMs = o.quietMs ?? 1000
    this.everyMs = o.everyMs ?? (this.tty ? 250 : 5000)
  }

  /** `done` of the total are done; cheap enough to call for every item. */
  update (done: number): void {
    const t = this.now()
    if (t - this.started < this.quietMs) return
    if (this.shownAt !== undefined && t - this.shownAt < this.everyMs) return
    this.shownAt = t
    this.show(done)
  }

  /** The run is over: the final count, if anything was shown (so the last line is true). */
  end (done: number): void {
    if (this.shownAt === undefined) return
    this.show(done)
    if (this.tty) this.stream.write('\n')
  }

  private show (done: number): void {
    const pct = this.total > 0 ? ` (${Math.floor((done / this.total) * 100)}%)` : ''
    const line = `${this.what}: ${n(done)} / ${n(this.total)} ${this.unit}${pct}`
    if (line === this.lastLine) return
    this.lastLine = line
    this.stream.write(this.tty ? `\r\u001b[2K${line}` : `${line}\n`)
  }
}

/** A size for people: 512 B, 3.4 KB, 12.0 MB (powers of 1024). */
export function size (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = bytes / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v.toFixed(1)} ${units[i]}`
}
