// A live client: reads `GET /v1/events` with fetch (so it can send a bearer token, which
// EventSource cannot), keeps a LiveCopy, reconnects with Last-Event-ID after a drop (bounded
// backoff). Runs in a browser and in Node 20 alike.
import { LiveCopy } from './copy.js'
import type { Change, Snapshot, Topic } from './protocol.js'
import { readSse } from './sse.js'

export interface LiveClientOptions {
  /** The agent's base URL ('' in a browser page served by the agent). */
  base: string
  token?: string
  topics?: Topic[]
  joblist?: string
  /** Called after each message is applied to the copy. */
  onUpdate?: (copy: LiveClient['copy'], kind: 'snapshot' | 'change') => void
  /** Called when the connection drops or cannot be made (then it retries). */
  onError?: (err: Error) => void
  /** Called when connected (again). */
  onOpen?: () => void
}

export class LiveClient {
  readonly copy = new LiveCopy()
  private readonly abort = new AbortController()
  private running = false

  constructor (private readonly o: LiveClientOptions) {}

  /** Connect and keep the copy up to date until close(); resolves when closed. */
  async run (): Promise<void> {
    this.running = true
    let delay = 250
    while (this.running) {
      try {
        await this.once()
        delay = 250
      } catch (err) {
        if (!this.running) break
        this.o.onError?.(err as Error)
      }
      if (!this.running) break
      await new Promise(resolve => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 5000)
    }
  }

  close (): void {
    this.running = false
    this.abort.abort()
  }

  private url (): string {
    const q: string[] = []
    if (this.o.topics !== undefined) q.push(`topic=${this.o.topics.join(',')}`)
    if (this.o.joblist !== undefined) q.push(`joblist=${encodeURIComponent(this.o.joblist)}`)
    return `${this.o.base}/v1/events${q.length > 0 ? `?${q.join('&')}` : ''}`
  }

  private async once (): Promise<void> {
    const headers: Record<string, string> = { accept: 'text/event-stream' }
    if (this.o.token !== undefined) headers.authorization = `Bearer ${this.o.token}`
    if (this.copy.lastId !== null) headers['last-event-id'] = this.copy.lastId
    const res = await fetch(this.url(), { headers, signal: this.abort.signal })
    if (!res.ok || res.body === null) {
      const text = await res.text().catch(() => '')
      throw new Error(`GET /v1/events: ${res.status} ${text.slice(0, 200)}`)
    }
    this.o.onOpen?.()
    for await (const m of readSse(res.body, this.abort.signal)) {
      if (m.id === null) continue
      if (m.event === 'snapshot') {
        this.copy.reset(JSON.parse(m.data) as Snapshot, m.id)
        this.o.onUpdate?.(this.copy, 'snapshot')
      } else if (m.event === 'change') {
        this.copy.apply(JSON.parse(m.data) as Change, m.id)
        this.o.onUpdate?.(this.copy, 'change')
      }
    }
    if (this.running) throw new Error('the stream ended')
  }
}
