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
  /** Every message as it came, before it is applied (`cis watch --json`). */
  onMessage?: (m: { event: string, id: string, data: unknown }) => void
  /** Called when the connection drops or cannot be made (then it retries). */
  onError?: (err: Error) => void
  /** Called when connected (again). */
  onOpen?: () => void
  /**
   * Opens the stream at `path` with these headers (default: fetch against `base`, with the
   * token). The CLI passes its own (node:http), and adds the token itself.
   */
  open?: (path: string, headers: Record<string, string>, signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>
}

async function fetchOpen (base: string, token: string | undefined, path: string, headers: Record<string, string>, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
  const h = { accept: 'text/event-stream', ...headers, ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) }
  const res = await fetch(base + path, { headers: h, signal })
  if (!res.ok || res.body === null) {
    const text = await res.text().catch(() => '')
    throw Object.assign(new Error(`GET ${path}: ${res.status} ${text.slice(0, 200)}`), { status: res.status })
  }
  return res.body
}

export class LiveClient {
  readonly copy = new LiveCopy()
  private readonly abort = new AbortController()
  private running = false

  constructor (private readonly o: LiveClientOptions) {}

  /**
   * Connect and keep the copy up to date until close(); resolves when closed. `fatal` says
   * which errors end it instead of a retry (default: none; a 4xx answer is one for the CLI).
   */
  async run (fatal: (err: Error) => boolean = () => false): Promise<void> {
    this.running = true
    let delay = 250
    while (this.running) {
      try {
        await this.once()
        delay = 250
      } catch (err) {
        if (!this.running) break
        if (fatal(err as Error)) { this.running = false; throw err }
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

  private path (): string {
    const q: string[] = []
    if (this.o.topics !== undefined) q.push(`topic=${this.o.topics.join(',')}`)
    if (this.o.joblist !== undefined) q.push(`joblist=${encodeURIComponent(this.o.joblist)}`)
    return `/v1/events${q.length > 0 ? `?${q.join('&')}` : ''}`
  }

  private async once (): Promise<void> {
    const headers: Record<string, string> = {}
    if (this.copy.lastId !== null) headers['last-event-id'] = this.copy.lastId
    const body = this.o.open !== undefined
      ? await this.o.open(this.path(), headers, this.abort.signal)
      : await fetchOpen(this.o.base, this.o.token, this.path(), headers, this.abort.signal)
    this.o.onOpen?.()
    for await (const m of readSse(body, this.abort.signal)) {
      if (m.id === null) continue
      if (this.o.onMessage !== undefined) this.o.onMessage({ event: m.event, id: m.id, data: JSON.parse(m.data) as unknown })
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
