// Durations in joblists and config: "500ms", "30s", "10m", "1h30m", "2d", or a number of seconds.
import { MAX_DURATION_MS } from './limits.js'

const UNIT: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds, or an error message. */
export function parseDuration (v: unknown, maxMs: number = MAX_DURATION_MS): number | string {
  let ms: number
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return 'must be a positive duration, e.g. 30s or 10m'
    ms = Math.round(v * 1000)
  } else if (typeof v === 'string') {
    const s = v.trim()
    if (/^\d+(\.\d+)?$/.test(s)) {
      ms = Math.round(Number(s) * 1000)
    } else {
      const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy
      ms = 0
      let m: RegExpExecArray | null
      let consumed = 0
      while ((m = re.exec(s)) !== null) { ms += Number(m[1]) * UNIT[m[2]]; consumed = re.lastIndex }
      if (consumed !== s.length || s.length === 0) return `'${v.slice(0, 40)}' is not a duration; use e.g. 500ms, 30s, 10m, 1h30m`
      ms = Math.round(ms)
    }
  } else {
    return 'must be a duration like 30s or 10m'
  }
  if (ms <= 0) return 'must be a positive duration, e.g. 30s or 10m'
  if (ms > maxMs) return `at most ${Math.round(maxMs / 86_400_000)} days`
  return ms
}

export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  let s = Math.round(ms / 1000)
  const parts: string[] = []
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= size) { parts.push(`${Math.floor(s / size)}${unit}`); s %= size }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`)
  return parts.join('')
}
