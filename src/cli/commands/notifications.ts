// `cis notifications [REF]`: the webhook deliveries (issue 11), each with its attempts and
// whether it was delivered, is retrying, gave up or was disabled by a 410; then the email
// items: sent at, pending (next at) or given up.
import type { EmailNotificationView, NotificationsResponse, NotificationView } from '../api-types.js'
import { printJson } from '../context.js'
import type { Ctx } from '../context.js'
import { age, paint, table } from '../format.js'

function standing (n: NotificationView): string {
  if (n.delivered) return paint('delivered', 'green')
  if (n.retired === true) return 'unsubscribed'
  if (n.disabled) return paint('disabled (410)', 'yellow')
  if (n.gaveUp) return paint('gave up', 'red')
  return n.attempts.length === 0 ? 'due' : paint('retrying', 'yellow')
}

function emailStanding (m: EmailNotificationView): string {
  if (m.sentAt !== null) return paint(`sent ${age(m.sentAt)} ago`, 'green')
  if (m.gaveUp) return paint('gave up', 'red')
  const next = m.nextAt === null ? '' : Date.parse(m.nextAt) <= Date.now() ? ' (due now)' : ` (next at ${m.nextAt})`
  return (m.failures > 0 ? paint('retrying', 'yellow') : 'pending') + next
}

/** What a notification is about: `joblist NAME` or `job JOBLIST/JOB` (older nodes: the joblist ID). */
const of = (n: { subject?: string, name?: string, joblistId: string }): string => n.subject === undefined ? n.joblistId : `${n.subject} ${n.name ?? ''}`

export async function notifications (ctx: Ctx, ref: string | undefined): Promise<void> {
  const q = ref === undefined ? '' : `?joblist=${encodeURIComponent(ref)}`
  const r = await ctx.client.get<NotificationsResponse>(`/v1/notifications${q}`)
  if (ctx.json) { printJson(r); return }
  const emails = r.emails ?? []
  if (r.notifications.length === 0 && emails.length === 0) {
    ctx.out(ref === undefined ? "no notifications yet (notify: [{webhook: URL, on: [failed]}] or [{email: ADDRESS, on: [failed]}] on a joblist or a job asks for them; cis set changes them)" : `joblist ${ref} has no notifications (yet)`)
    return
  }
  if (emails.length > 0) {
    const lines = table(['ID', 'OF', 'STATE', 'TO', 'DIGEST', 'STATUS', 'LAST ERROR'], emails.map(m => [m.id, of(m), m.state, m.email, m.digest, emailStanding(m), m.lastError ?? '-']))
    if (r.notifications.length === 0) { ctx.out(lines); return }
    ctx.out(lines)
    ctx.out('')
  }
  ctx.out(table(['ID', 'OF', 'STATE', 'ATTEMPTS', 'STATUS', 'LAST', 'URL'], r.notifications.map(n => {
    const last = n.attempts[n.attempts.length - 1]
    const lastText = last === undefined ? '-' : `${last.ok ? 'ok' : last.error ?? `HTTP ${last.status ?? '?'}`} ${age(last.at)} ago`
    return [n.id, of(n), n.state, String(n.attempts.length), standing(n), lastText, n.url]
  })))
}
