// The answers that stay open as long as their client listens (the live stream, followed
// output): ended when the API closes. An HTTP server's close waits for every connection to
// end, so one dashboard or `cis watch` left open kept a stopping agent waiting until its
// forced exit, which skips the graceful stop (running jobs ended and recorded, the store closed).

/** How long the API's close waits for answers still going (a backup download) once the streams are ended, before it cuts their connections. */
export const CLOSE_GRACE_MS = 3000

export class OpenStreams {
  private readonly enders = new Set<() => void>()
  private closing = false

  /**
   * An open stream and how to end it. Returns what to call once it ended by itself. A stream
   * opened while the API closes is ended at once.
   */
  add (end: () => void): () => void {
    if (this.closing) { end(); return () => {} }
    this.enders.add(end)
    return () => { this.enders.delete(end) }
  }

  /** End every open stream (the API closes). */
  endAll (): void {
    this.closing = true
    const all = [...this.enders]
    this.enders.clear()
    for (const end of all) {
      try { end() } catch { /* a stream whose connection is already gone */ }
    }
  }
}
