// Plain-text rendering for the CLI: tables, durations, ages, colour on a terminal only.

export const useColor = (stream: NodeJS.WriteStream = process.stdout): boolean =>
  stream.isTTY === true && (process.env.NO_COLOR === undefined || process.env.NO_COLOR === '')

const CODES: Record<string, [number, number]> = { red: [31, 39], green: [32, 39], yellow: [33, 39], dim: [2, 22], bold: [1, 22], cyan: [36, 39] }

export function paint (text: string, style: keyof typeof CODES, on = useColor()): string {
  if (!on) return text
  const [a, b] = CODES[style]
  return `\u001b[${a}m${text}\u001b[${b}m`
}

export function stateColor (state: string): keyof typeof CODES {
  if (state === 'succeeded') return 'green'
  if (state === 'failed' || state === 'lost') return 'red'
  if (state === 'running') return 'cyan'
  if (state === 'stopped' || state === 'unknown') return 'yellow'
  return 'dim'
}

// eslint-disable-next-line no-control-regex
const visible = (s: string): number => s.replace(/\u001b\[\d+m/g, '').length

/** A table with a header row; columns padded to their widest cell. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(visible(h), ...rows.map(r => visible(r[i] ?? ''))))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c + ' '.repeat(widths[i] - visible(c))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

export function duration (ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-'
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m${Math.round(s % 60)}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h${m % 60}m`
  return `${Math.floor(h / 24)}d${h % 24}h`
}

export function age (iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return '-'
  return duration(now - new Date(iso).getTime())
}

export function resources (res: Record<string, string[]> | undefined): string {
  if (res === undefined) return ''
  return Object.entries(res).map(([t, ids]) => `${t}:${ids.join(',')}`).join(' ')
}

export function jobCounts (jobs: Record<string, number>): string {
  const total = Object.values(jobs).reduce((a, b) => a + b, 0)
  const parts = [`${jobs.succeeded ?? 0}/${total} ok`]
  for (const s of ['running', 'failed', 'lost', 'stopped']) if ((jobs[s] ?? 0) > 0) parts.push(`${jobs[s]} ${s}`)
  return parts.join(', ')
}

/** An ISO time to the second: `2026-11-30T02:00:00Z`. */
export function instant (iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '-'
  return iso.replace(/\.\d+Z$/, 'Z')
}

/** How long until an ISO time: `3h2m`, `0ms` once it is past. */
export function until (iso: string, now = Date.now()): string {
  return duration(Math.max(0, new Date(iso).getTime() - now))
}

/** A schedule's state in a word or three: `removed`, `paused by user`, `paused by kx3f-12`, `failing`, `active`. */
export function scheduleState (s: { removed: boolean, paused: boolean, pausedBy: string | null, failing: boolean }): string {
  if (s.removed) return paint('removed', 'dim')
  if (s.paused) return paint(`paused by ${s.pausedBy ?? 'user'}`, 'yellow')
  if (s.failing) return paint('failing', 'red')
  return paint('active', 'green')
}
