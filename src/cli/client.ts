// The HTTP client for a cis agent: the same client for the local node or a remote one (P-7).
// It speaks node:http rather than fetch: fetch loads Node's bundled undici on first use, which
// costs about as much start-up time and memory as the rest of `cis status` together. Both
// node:http and node:https load on the first request, so `cis --version` or `--help` loads neither.
import type { IncomingHttpHeaders } from 'node:http'
import { ApiError } from '../api/errors.js'
import type { ErrorBody } from './api-types.js'
import { ContextError } from './contexts.js'

export class UnreachableError extends Error {
  override name = 'UnreachableError'
  readonly code = 'ERR_UNREACHABLE'
  constructor (readonly url: string, readonly reason: string) {
    super(`cannot reach the cis agent at ${url} (${reason}). Is 'cis agent' running? Set --addr or CIS_ADDR to another node.`)
  }
}

/**
 * Does this error end following a stream (`cis logs -f`, `submit --wait`, `watch`)? The agent
 * refused the request (a 4xx or 5xx answer; a 503 once connected is an agent closing: retried),
 * or could not be reached at the first try (exit 3). A drop once connected is retried.
 */
export function endsFollowing (err: unknown, connected: boolean): boolean {
  if (err instanceof ContextError) return true // (a malformed address: trying again changes nothing)
  if (err instanceof ApiError) return !(connected && err.status === 503)
  if (err instanceof UnreachableError) return !connected
  return false
}

export interface ClientOptions { addr: string, token?: string, timeoutMs?: number }

/** Response headers, read like fetch's: by lower- or mixed-case name, null when absent. */
export interface ResponseHeaders { get: (name: string) => string | null }

export interface Raw { status: number, headers: ResponseHeaders, text: string }

function responseHeaders (h: IncomingHttpHeaders): ResponseHeaders {
  return {
    get: name => {
      const v = h[name.toLowerCase()]
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
    }
  }
}

export class Client {
  readonly addr: string
  constructor (private readonly o: ClientOptions) {
    this.addr = o.addr.replace(/\/+$/, '')
  }

  /** One request; the whole answer as text, whatever its status. UnreachableError if there is no answer. */
  async raw (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Raw> {
    const h: Record<string, string> = { ...headers }
    if (this.o.token !== undefined && this.o.token !== '') h.authorization = `Bearer ${this.o.token}`
    const payload = body !== undefined ? Buffer.from(JSON.stringify(body), 'utf8') : undefined
    if (payload !== undefined) { h['content-type'] = 'application/json'; h['content-length'] = String(payload.length) }
    let url: URL
    try { url = new URL(this.addr + path) } catch { throw new ContextError(`the agent's address ${this.addr} is not a valid URL (e.g. http://10.0.0.5:7700, or 10.0.0.5:7700): check --addr, CIS_ADDR or the context's address`, 'ERR_BAD_ADDR') }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UnreachableError(this.addr, `cannot use ${url.protocol}, only http: and https:`)
    const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const timeoutMs = this.o.timeoutMs ?? 30_000
    return await new Promise<Raw>((resolve, reject) => {
      let timedOut = false
      const fail = (err: Error & { code?: string }): void => {
        clearTimeout(timer)
        const reason = timedOut ? 'timed out' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.code ?? err.message
        reject(new UnreachableError(this.addr, reason))
      }
      const req = request(url, { method, headers: h }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => { chunks.push(c) })
        res.on('error', fail)
        res.on('end', () => {
          clearTimeout(timer)
          resolve({ status: res.statusCode ?? 0, headers: responseHeaders(res.headers), text: Buffer.concat(chunks).toString('utf8') })
        })
      })
      // Bounds the whole exchange, the answer's body included.
      const timer = setTimeout(() => { timedOut = true; req.destroy(new Error('timed out')) }, timeoutMs)
      req.on('error', fail)
      req.end(payload)
    })
  }

  /** The parsed JSON answer; an ApiError for a 4xx/5xx answer. T is what the caller expects (not checked). */
  async json<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.raw(method, path, body, headers)
    let parsed: unknown
    try { parsed = r.text === '' ? {} : JSON.parse(r.text) } catch {
      throw new ApiError(r.status, 'ERR_BAD_RESPONSE', `the agent at ${this.addr} answered ${r.status} with something that is not JSON`)
    }
    if (r.status >= 400) {
      const e: ErrorBody = typeof parsed === 'object' && parsed !== null ? parsed : {}
      throw new ApiError(r.status, e.code ?? 'ERR_HTTP', e.error ?? `HTTP ${r.status}`, e.details)
    }
    return parsed as T
  }

  /**
   * A Server-Sent Events stream (GET): its body as a web stream of bytes, for readSse. An
   * ApiError for a 4xx/5xx answer; UnreachableError if there is no answer. No timeout once
   * it is open (a stream may be quiet for long); `signal` ends it.
   */
  async openStream (path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const h: Record<string, string> = { accept: 'text/event-stream', ...headers }
    if (this.o.token !== undefined && this.o.token !== '') h.authorization = `Bearer ${this.o.token}`
    let url: URL
    try { url = new URL(this.addr + path) } catch { throw new ContextError(`the agent's address ${this.addr} is not a valid URL (e.g. http://10.0.0.5:7700, or 10.0.0.5:7700): check --addr, CIS_ADDR or the context's address`, 'ERR_BAD_ADDR') }
    const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const { Readable } = await import('node:stream')
    return await new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', headers: h, ...(signal !== undefined ? { signal } : {}) }, res => {
        const status = res.statusCode ?? 0
        if (status >= 400) {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => { chunks.push(c) })
          res.on('end', () => {
            let e: ErrorBody = {}
            try { e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ErrorBody } catch { /* not JSON */ }
            reject(new ApiError(status, e.code ?? 'ERR_HTTP', e.error ?? `HTTP ${status}`, e.details))
          })
          return
        }
        resolve(Readable.toWeb(res) as ReadableStream<Uint8Array>)
      })
      const connect = setTimeout(() => req.destroy(new Error('timed out')), this.o.timeoutMs ?? 30_000)
      req.on('response', () => clearTimeout(connect))
      req.on('error', (err: Error & { code?: string }) => {
        clearTimeout(connect)
        reject(err.name === 'AbortError' ? err : new UnreachableError(this.addr, err.code === 'ECONNREFUSED' ? 'connection refused' : err.code ?? err.message))
      })
      req.end()
    })
  }

  async get<T = unknown>(path: string): Promise<T> { return await this.json<T>('GET', path) }
  async post<T = unknown>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> { return await this.json<T>('POST', path, body ?? {}, headers) }
  async delete<T = unknown>(path: string): Promise<T> { return await this.json<T>('DELETE', path) }
}
