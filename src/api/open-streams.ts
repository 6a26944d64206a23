// The answers that stay open as long as their client listens (the live stream, followed
// output): ended when the API closes. An HTTP server's close waits for every connection to
// end, so one dashboard or `cis watch` left open kept a stopping agent waiting until its
// forced exit, which skips the graceful stop (running jobs ended and recorded, the store closed).

import type { FastifyReply } from 'fastify'

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

/**
 * Close a stream's connection once its response is out (the API is closing): a keep-alive
 * connection whose answer ended after the server's sweep of idle ones would stay, and the
 * client's next request on it would get a 503.
 */
export function endConnection (reply: FastifyReply): void {
  const socket = reply.raw.socket
  if (socket === null) return
  if (reply.raw.writableFinished) socket.destroySoon()
  else reply.raw.once('finish', () => socket.destroySoon())
}
