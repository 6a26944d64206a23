// `cis notifications [REF]`: the webhook deliveries (issue 11), each with its attempts and
// whether it was delivered, is retrying, gave up or was disabled by a 410.
import type { NotificationsResponse, NotificationView } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, paint, table } from '../format.js'

function standing (n: NotificationView): string {
  if (n.delivered) return paint('delivered', 'green')
  if (n.disabled) return paint('disabled (410)', 'yellow')
  if (n.gaveUp) return paint('gave up', 'red')
  return n.attempts.length === 0 ? 'due' : paint('retrying', 'yellow')
}

export async function notifications (ctx: Ctx, ref: string | undefined): Promise<void> {
  const q = ref === undefined ? '' : `?joblist=${encodeURIComponent(ref)}`
  const r = await ctx.client.get<NotificationsResponse>(`/v1/notifications${q}`)
  if (ctx.json) { printJson(r); return }
  if (r.notifications.length === 0) {
    ctx.out(ref === undefined ? "no webhook notifications yet (a joblist's notify: [{webhook: URL, on: [failed]}] asks for them)" : `joblist ${ref} has no webhook notifications (yet)`)
    return
  }
  ctx.out(table(['ID', 'STATE', 'ATTEMPTS', 'STATUS', 'LAST', 'URL'], r.notifications.map(n => {
    const last = n.attempts[n.attempts.length - 1]
    const lastText = last === undefined ? '-' : `${last.ok ? 'ok' : last.error ?? `HTTP ${last.status ?? '?'}`} ${age(last.at)} ago`
    return [n.id, n.state, String(n.attempts.length), standing(n), lastText, n.url]
  })))
}
