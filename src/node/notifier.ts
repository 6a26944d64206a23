// The master's webhook deliveries (issue 11). Which deliveries are due is derived from the
// state (state/notifications.ts); this module only sends them: a signed POST per due
// delivery not already in flight here, bounded by the timeout and a cap on concurrent
// requests, then a `delivery` event with the outcome. A hanging receiver delays nothing else.
// At least once: a master that dies between the POST and its event leaves the delivery
// unrecorded, and the next master sends it again with the same webhook-id.
import { createHmac } from 'node:crypto'
import type { Logger } from 'pino'
import type { NotifyConfig } from '../config/config.js'
import type { CisEvent, EventBodies, EventType } from '../events/types.js'
import { dueDeliveries, hostAllowed } from '../state/notifications.js'
import type { Delivery } from '../state/notifications.js'
import type { ClusterState } from '../state/types.js'
import { jobView, joblistView } from '../state/views.js'

export const MAX_CONCURRENT_DELIVERIES = 16

export interface NotifierOptions {
  config: NotifyConfig
  log: Logger
  now: () => number
  append: <T extends EventType>(type: T, body: EventBodies[T]) => Promise<CisEvent<T>>
}

/** The key a secret signs with: a `whsec_<base64>` secret's decoded bytes, else its UTF-8 bytes. */
export function secretKey (secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8')
}

/** The webhook-signature header (Standard Webhooks): one `v1,<base64 HMAC-SHA256>` per secret. */
export function signature (secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets.map(s => `v1,${createHmac('sha256', secretKey(s)).update(`${id}.${timestamp}.${body}`).digest('base64')}`).join(' ')
}

/** A Retry-After header (seconds or an HTTP date) → ms from now, if it says something usable. */
export function retryAfterMs (v: string | null, now: number): number | undefined {
  if (v === null || v.trim() === '') return undefined
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

export class Notifier {
  /** Delivery IDs being sent now by this master (cleared when the role is revoked). */
  private inFlight = new Set<string>()

  constructor (private readonly o: NotifierOptions) {}

  get sending (): number { return this.inFlight.size }

  /** Send what is due and not in flight (called on every pass of the master role). */
  pass (state: ClusterState, term: number, among?: Iterable<string>): void {
    if (this.inFlight.size >= MAX_CONCURRENT_DELIVERIES) return
    const now = this.o.now()
    for (const d of dueDeliveries(state, now, { retryForMs: this.o.config.retryForMs }, among)) {
      if (this.inFlight.size >= MAX_CONCURRENT_DELIVERIES) break
      if (this.inFlight.has(d.id)) continue
      const set = this.inFlight
      set.add(d.id)
      void this.deliver(state, d, term)
        .catch(err => this.o.log.error({ delivery: d.id, err: (err as Error).message }, 'webhook delivery failed unexpectedly'))
        .finally(() => set.delete(d.id))
    }
  }

  /** The role is revoked: nothing of this term carries over (a request under way still records its outcome). */
  clear (): void {
    this.inFlight = new Set()
  }

  private async deliver (state: ClusterState, d: Delivery, term: number): Promise<void> {
    const attempt = d.attempts.length + 1
    const outcome = await this.send(state, d)
    const body: EventBodies['delivery'] = { id: d.id, attempt, ok: outcome.ok, term, ...outcome.extra }
    this.o.log[outcome.ok ? 'info' : 'warn']({ delivery: d.id, attempt, ok: outcome.ok, ...outcome.extra }, outcome.ok ? 'webhook delivered' : 'webhook delivery failed')
    try {
      await this.o.append('delivery', body)
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, delivery: d.id }, 'cannot record a webhook delivery')
    }
  }

  private async send (state: ClusterState, d: Delivery): Promise<{ ok: boolean, extra: Omit<EventBodies['delivery'], 'id' | 'attempt' | 'ok' | 'term'> }> {
    const c = this.o.config
    // Checked again here: the master's own config decides what it sends to.
    if (c.secrets.length === 0) return { ok: false, extra: { error: 'no notify.secret configured on the master: webhooks are not sent unsigned' } }
    if (!hostAllowed(d.url, c.allowHosts)) return { ok: false, extra: { error: `host of ${d.url} is not in the master's notify.allowHosts` } }
    const jl = state.joblists[d.joblistId]
    const job = d.subject === 'job' ? state.jobs[d.subjectId] : undefined
    let payload: string
    try {
      const data = d.subject === 'job' ? (job === undefined ? null : jobView(state, job)) : jl === undefined ? null : joblistView(state, jl)
      payload = JSON.stringify({ type: `${d.subject}.${d.state}`, id: d.id, at: new Date(d.reachedAt).toISOString(), data })
    } catch (err) {
      // (A view that cannot be made — a defect — is this delivery's failure, not the master's end: pass() does not wait on it.)
      return { ok: false, extra: { error: `cannot make the payload: ${(err as Error).message}` } }
    }
    const now = this.o.now()
    const timestamp = Math.floor(now / 1000)
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(c.timeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'cisystem-webhooks',
          'webhook-id': d.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signature(c.secrets, d.id, timestamp, payload)
        },
        body: payload
      })
      await res.body?.cancel().catch(() => {})
      const ok = res.status >= 200 && res.status < 300
      const after = ok ? undefined : retryAfterMs(res.headers.get('retry-after'), this.o.now())
      return {
        ok,
        extra: {
          status: res.status,
          ...(ok ? {} : { error: `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}` }),
          ...(after !== undefined ? { retryAfterMs: Math.min(after, c.retryForMs) } : {}),
          ...(res.status === 410 ? { gone: true as const } : {})
        }
      }
    } catch (err) {
      const e = err as Error & { cause?: { code?: string, message?: string } }
      const why = e.name === 'TimeoutError' ? `no answer within ${c.timeoutMs} ms` : e.cause?.code ?? e.cause?.message ?? e.message
      return { ok: false, extra: { error: String(why).slice(0, 1000) } }
    }
  }
}
