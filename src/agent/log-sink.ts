// Where the agent's JSON log lines go: its stdout (fd 1), written asynchronously, one write in
// flight, what came meanwhile joined into the next. pino's own destination (sonic-boom) let
// every write error but EPIPE end the agent as an unhandled 'error', and its flush at exit then
// retried a failed write every 100 ms for ever: an agent whose log file's disk filled hung,
// its API silent, with nothing said (Dec 6 audit). Here a failed write loses those lines (they
// are counted, and said on stderr once a minute at most), the next lines are tried again (the
// disk may have room by then), a reader gone (EPIPE) ends the logging, and the flush at exit
// is one attempt.
import { write as fsWrite, writeSync } from 'node:fs'

/** At most this much waits for the one write in flight (a reader that does not keep up): beyond it, lines are dropped. */
const MAX_PENDING = 16 * 1024 * 1024
/** A failed write is said on stderr at most once in this long. */
const SAY_EVERY_MS = 60_000
/** After EAGAIN (a non-blocking pipe full), the next try waits this long. */
const RETRY_MS = 20

export class LogSink {
  private pending = ''
  private writing = false
  private closed = false
  private dropped = 0
  private lastSaid = -Infinity

  constructor (private readonly fd = 1, private readonly say: (line: string) => void = line => { try { process.stderr.write(line) } catch { /* stderr gone too */ } }) {
    // (Whatever ends the process: what is pending gets one try, no loop.)
    process.once('exit', () => this.flushSync())
  }

  /** pino's call: one line (or a few). */
  write (s: string): boolean {
    if (this.closed) return true
    if (this.pending.length + s.length > MAX_PENDING) { this.dropped++; return true }
    this.pending += s
    if (!this.writing) this.next()
    return true
  }

  /** pino's flush (the agent's last lines before it exits): `done` once what is pending is written, or in 2 s at most. */
  flush (done: () => void = () => {}): void {
    if (!this.writing && this.pending === '') { done(); return }
    let called = false
    const once = (): void => { if (!called) { called = true; done() } }
    this.idle.push(once)
    setTimeout(once, 2000).unref()
  }

  private idle: Array<() => void> = []

  /** What is pending, written now in one try (at exit). */
  flushSync (): void {
    if (this.closed || this.pending === '') return
    const text = this.pending
    this.pending = ''
    try { writeSync(this.fd, text) } catch { /* lost: the process is ending */ }
  }

  private next (): void {
    if (this.pending === '' || this.closed) {
      const idle = this.idle
      this.idle = []
      for (const f of idle) f()
      return
    }
    const buf = Buffer.from(this.pending)
    this.pending = ''
    this.writing = true
    this.writeFrom(buf, 0)
  }

  private writeFrom (buf: Buffer, at: number): void {
    fsWrite(this.fd, buf, at, buf.length - at, null, (err, n) => {
      if (err !== null) {
        if (err.code === 'EAGAIN') { setTimeout(() => this.writeFrom(buf, at), RETRY_MS); return }
        this.writing = false
        if (err.code === 'EPIPE') { this.closed = true; this.pending = ''; this.next(); return } // (the reader went: `cis agent | head`)
        this.lost(buf.subarray(at), err)
        this.next()
        return
      }
      if (at + n < buf.length) { this.writeFrom(buf, at + n); return }
      this.writing = false
      this.next()
    })
  }

  private lost (text: Buffer, err: NodeJS.ErrnoException): void {
    let lines = 0
    for (const b of text) if (b === 0x0a) lines++
    this.dropped += Math.max(1, lines)
    const now = Date.now()
    if (now - this.lastSaid < SAY_EVERY_MS) return
    this.lastSaid = now
    this.say(`cis agent: cannot write its log (${err.code ?? err.message}): ${this.dropped} line(s) lost so far; the agent goes on, and the log resumes when it can be written. Is the disk full?\n`)
  }
}
