// `cis set REF --priority N --tag T [--tag T2] --webhook URL --email ADDR --on STATES`: change a
// joblist that has not ended (D-1), or with --job one of its jobs (only its notify). The tags
// given replace the joblist's tags (`--no-tags` clears them); the webhooks and emails given
// replace its notify list (`--no-notify` clears it).
import type { JobUpdateResponse, SubscriptionView, UpdateResponse } from '../api-types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export interface SetOptions {
  priority?: string
  tag?: string[]
  tags?: boolean
  webhook?: string[]
  email?: string[]
  on?: string
  digest?: string
  notify?: boolean
  job?: boolean
}

const STATES = ['running', 'succeeded', 'failed', 'stopped']

/** The notify list the options ask for, or undefined if they change nothing of it. */
export function notifyFromOptions (o: SetOptions): Array<Record<string, unknown>> | undefined {
  const webhooks = o.webhook ?? []
  const emails = o.email ?? []
  if (o.notify === false) {
    if (webhooks.length > 0 || emails.length > 0) throw new CliExit(2, '--no-notify removes every subscription: give it alone, or give --webhook/--email (they replace the list)')
    return []
  }
  if (webhooks.length === 0 && emails.length === 0) {
    if (o.on !== undefined || o.digest !== undefined) throw new CliExit(2, '--on and --digest apply to the --webhook and --email given: give at least one of those')
    return undefined
  }
  let on: string[] | undefined
  if (o.on !== undefined) {
    on = o.on.split(',').map(s => s.trim()).filter(s => s !== '')
    const bad = on.filter(s => !STATES.includes(s))
    if (on.length === 0 || bad.length > 0) throw new CliExit(2, `--on '${o.on}': expected a comma-separated list of ${STATES.join(', ')}`)
  }
  if (o.digest !== undefined && o.digest !== 'now' && o.digest !== 'daily') throw new CliExit(2, `--digest '${o.digest}': expected now or daily`)
  return [
    ...webhooks.map(w => ({ webhook: w, ...(on !== undefined ? { on } : {}) })),
    ...emails.map(e => ({ email: e, ...(on !== undefined ? { on } : {}), ...(o.digest !== undefined ? { digest: o.digest } : {}) }))
  ]
}

const subscriptionText = (subs: SubscriptionView[]): string => subs.length === 0
  ? '(none)'
  : subs.map(s => `${'webhook' in s ? s.webhook : `${s.email} (${s.digest})`} on ${s.on.join(',')}`).join('; ')

export async function set (ctx: Ctx, ref: string, o: SetOptions): Promise<void> {
  const notify = notifyFromOptions(o)
  if (o.job === true) {
    if (o.priority !== undefined || o.tag !== undefined || o.tags === false) throw new CliExit(2, "a job's priority and tags are its joblist's: leave out --job to change them on the joblist")
    if (notify === undefined) throw new CliExit(2, 'nothing to change on the job: give --webhook URL and/or --email ADDRESS (they replace its notify list), or --no-notify')
    const r = await ctx.client.json<JobUpdateResponse>('PATCH', `/v1/jobs/${encodeURIComponent(ref)}`, { notify })
    if (ctx.json) printJson(r)
    else ctx.out(`job ${r.id}: notify ${subscriptionText(r.notify)}`)
    return
  }
  const change: { priority?: number, tags?: string[], notify?: Array<Record<string, unknown>> } = {}
  if (o.priority !== undefined) {
    const n = Number(o.priority.trim())
    if (!/^[+-]?\d+$/.test(o.priority.trim()) || !Number.isSafeInteger(n)) throw new CliExit(2, `--priority '${o.priority}': expected a whole number from -1000 to 1000`)
    change.priority = n
  }
  if (o.tag !== undefined) change.tags = o.tag
  else if (o.tags === false) change.tags = []
  if (notify !== undefined) change.notify = notify
  if (Object.keys(change).length === 0) throw new CliExit(2, 'nothing to change: give --priority N, --tag T (repeatable; replaces the tags) or --no-tags, --webhook URL / --email ADDRESS (repeatable; replace the notify list) or --no-notify')
  const r = await ctx.client.json<UpdateResponse>('PATCH', `/v1/joblists/${encodeURIComponent(ref)}`, change)
  if (ctx.json) printJson(r)
  else ctx.out(`joblist ${r.id}: priority ${r.priority}, tags ${r.tags.length > 0 ? r.tags.join(', ') : '(none)'}${notify !== undefined || (r.notify ?? []).length > 0 ? `, notify ${subscriptionText(r.notify ?? [])}` : ''}`)
}
