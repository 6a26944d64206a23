// Cron expressions (S-1) through croner: parsing, time zones and daylight-saving rules as
// Vixie cron (a fixed time in the skipped hour runs just after the gap; a fixed time in the
// repeated hour runs once; interval jobs follow real time). Pure: times are passed in.
import { Cron } from 'croner'

const OPTIONS = { paused: true, mode: '5-or-6-parts', fixedTimeRule: 'no-wildcard' } as const
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']

/** Why `timezone` is not an IANA time zone name, or null. */
export function checkTimezone (timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone }).format(0)
    return null
  } catch {
    return `unknown time zone '${timezone}': use an IANA name like UTC or Europe/Berlin`
  }
}

/** Why `expr` is not a usable cron expression, or null. */
export function checkCron (expr: string, timezone = 'UTC'): string | null {
  // croner's own message for a wrong count offers 7 fields, which this mode refuses.
  const text = expr.trim()
  const fields = text === '' ? 0 : text.split(/\s+/).length
  if (text.startsWith('@') ? fields !== 1 || !NICKNAMES.includes(text.toLowerCase()) : fields !== 5 && fields !== 6) {
    return text.startsWith('@')
      ? `unknown nickname '${text}': use ${NICKNAMES.join(', ')}`
      : `'${expr}' has ${fields} field${fields === 1 ? '' : 's'}: use 5 (minute hour day-of-month month day-of-week), 6 (a seconds field first), or a nickname like @hourly or @daily`
  }
  try {
    const c = new Cron(expr, { ...OPTIONS, timezone })
    if (c.nextRun(new Date(0)) === null && c.nextRun(new Date()) === null) return 'never fires'
    return null
  } catch (err) {
    return (err as Error).message.replace(/^CronPattern: /, '')
  }
}

const cache = new Map<string, Cron>()

function cronOf (expr: string, timezone: string): Cron {
  const key = `${timezone} ${expr}`
  let c = cache.get(key)
  if (c === undefined) {
    c = new Cron(expr, { ...OPTIONS, timezone })
    if (cache.size > 1000) cache.clear()
    cache.set(key, c)
  }
  return c
}

/** The first instant (ms) strictly after `after`, or null if there is none. */
export function nextInstant (expr: string, timezone: string, after: number): number | null {
  const d = cronOf(expr, timezone).nextRun(new Date(after))
  return d === null ? null : d.getTime()
}

/**
 * The instants in (after, until], oldest first, at most `limit` of them; `more` says whether
 * instants beyond the limit remain in the range.
 */
export function instantsBetween (expr: string, timezone: string, after: number, until: number, limit: number): { instants: number[], more: boolean } {
  const c = cronOf(expr, timezone)
  const instants: number[] = []
  let t = after
  for (;;) {
    const d = c.nextRun(new Date(t))
    if (d === null || d.getTime() > until) return { instants, more: false }
    if (instants.length >= limit) return { instants, more: true }
    t = d.getTime()
    instants.push(t)
  }
}
