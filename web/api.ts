// Calls to the agent's API from the page: the bearer token (kept in sessionStorage for the
// tab, asked for once when the API answers 401) goes with every call, streams included.

const KEY = 'cis-token'

export interface Issue { path: string, message: string }

export class ApiFailure extends Error {
  constructor (readonly status: number, message: string, readonly code: string, readonly details: Issue[] = []) { super(message) }
}

let unauthorized: () => void = () => {}

/** What to do when the API answers 401 (the app shows the token form). */
export function onUnauthorized (f: () => void): void { unauthorized = f }
export function reportUnauthorized (): void { unauthorized() }

export function token (): string | undefined {
  try { return sessionStorage.getItem(KEY) ?? undefined } catch { return undefined }
}

export function setToken (t: string): void {
  try { sessionStorage.setItem(KEY, t) } catch { /* storage off: the token lasts until reload */ }
}

export function authHeaders (): Record<string, string> {
  const t = token()
  return t === undefined || t === '' ? {} : { authorization: `Bearer ${t}` }
}

/** One API call; JSON in and out. Throws ApiFailure for any answer that is not 2xx. */
export async function call<T = unknown> (method: string, path: string, o: { json?: unknown, yaml?: string, headers?: Record<string, string> } = {}): Promise<{ status: number, body: T }> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(), ...o.headers }
  let body: string | undefined
  if (o.yaml !== undefined) { body = o.yaml; headers['content-type'] = 'application/yaml' } else if (o.json !== undefined) { body = JSON.stringify(o.json); headers['content-type'] = 'application/json' }
  const res = await fetch(path, { method, headers, ...(body !== undefined ? { body } : {}) })
  const text = await res.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch { /* not JSON */ }
  if (res.status === 401) unauthorized()
  if (!res.ok) {
    const e = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as { error?: string, code?: string, details?: unknown }
    const details = Array.isArray(e.details) ? (e.details as Issue[]).filter(d => typeof d === 'object' && d !== null && typeof d.path === 'string') : []
    throw new ApiFailure(res.status, e.error ?? `${method} ${path}: ${res.status} ${text.slice(0, 200)}`, e.code ?? `HTTP_${res.status}`, details)
  }
  return { status: res.status, body: parsed as T }
}

/** A GET that returns the body. */
export async function get<T> (path: string): Promise<T> { return (await call<T>('GET', path)).body }

/** The message to show for a failed call. */
export const messageOf = (err: unknown): string => err instanceof Error ? err.message : String(err)
