// The HTTP client for a cis agent: the same client for the local node or a remote one (P-7).

export class UnreachableError extends Error {
  override name = 'UnreachableError'
  readonly code = 'ERR_UNREACHABLE'
  constructor (readonly url: string, reason: string) {
    super(`cannot reach the cis agent at ${url} (${reason}). Is 'cis agent' running? Set --addr or CIS_ADDR to another node.`)
  }
}

export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message)
  }
}

export interface ClientOptions { addr: string, token?: string, timeoutMs?: number }

export interface Raw { status: number, headers: Headers, text: string }

export class Client {
  readonly addr: string
  constructor (private readonly o: ClientOptions) {
    this.addr = o.addr.replace(/\/+$/, '')
  }

  async raw (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Raw> {
    const h: Record<string, string> = { ...headers }
    if (this.o.token !== undefined && this.o.token !== '') h.authorization = `Bearer ${this.o.token}`
    if (body !== undefined) h['content-type'] = 'application/json'
    let res: Response
    try {
      res = await fetch(this.addr + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000) })
    } catch (err) {
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const reason = cause?.code === 'ECONNREFUSED'
        ? 'connection refused'
        : (err as Error).name === 'TimeoutError' ? 'timed out' : cause?.code ?? cause?.message ?? (err as Error).message
      throw new UnreachableError(this.addr, reason)
    }
    return { status: res.status, headers: res.headers, text: await res.text() }
  }

  async json<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const r = await this.raw(method, path, body, headers)
    let parsed: any
    try { parsed = r.text === '' ? {} : JSON.parse(r.text) } catch {
      throw new ApiError(r.status, 'ERR_BAD_RESPONSE', `the agent at ${this.addr} answered ${r.status} with something that is not JSON`)
    }
    if (r.status >= 400) throw new ApiError(r.status, parsed.code ?? 'ERR_HTTP', parsed.error ?? `HTTP ${r.status}`, parsed.details)
    return parsed as T
  }

  async get<T = any>(path: string): Promise<T> { return await this.json<T>('GET', path) }
  async post<T = any>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> { return await this.json<T>('POST', path, body ?? {}, headers) }
}
