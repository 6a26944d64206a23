// A point in time as people give it on a command line or in a query: an ISO 8601 date or
// time (`2026-11-30`, `2026-11-30T10:00:00Z`), `now`, or a span before now (`90m`, `12h`, `7d`,
// `2w`). Pure: `now` is passed in.

const UNIT: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }

/** ms since the epoch, or an error message that says what is accepted. */
export function parseTimeRef (v: string, now: number): number | string {
  const s = v.trim()
  if (s === 'now') return now
  const ago = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(s)
  if (ago !== null) return now - Math.round(Number(ago[1]) * UNIT[ago[2]])
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    // A date alone is midnight UTC; a time without a zone is UTC too (the same on every node).
    const iso = s.replace(' ', 'T')
    const t = Date.parse(/T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(iso) ? `${iso}Z` : iso)
    if (!Number.isNaN(t)) return t
  }
  return `'${v.slice(0, 40)}' is not a time: give an ISO date or time (2026-11-30, 2026-11-30T10:00:00Z), now, or a span before now (90m, 12h, 7d, 2w)`
}
