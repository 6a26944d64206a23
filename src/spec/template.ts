// Templates (R6-2..R6-5): literal patterns replaced in one pass.
import type { JobSpec, ReplaceMap } from './types.js'

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Replace every occurrence of every pattern by its value. Patterns are literal strings,
 * never regular expressions; values are inserted as they are (`$1`, `$&` stay). One pass:
 * a replaced value is never scanned again; at one position the longest pattern wins.
 */
export function replaceLiteral (text: string, map: ReplaceMap): string {
  const patterns = Object.keys(map).filter(p => p !== '')
  if (patterns.length === 0 || text === '') return text
  patterns.sort((a, b) => b.length - a.length || (a < b ? -1 : 1))
  const re = new RegExp(patterns.map(escape).join('|'), 'g')
  return text.replace(re, m => map[m])
}

export interface RenderedFile { path: string, content: string, mode: number }

/** A job's files with the merged map applied: file over job over joblist (R6-3, R6-4). */
export function renderJobFiles (joblistReplace: ReplaceMap, job: JobSpec): RenderedFile[] {
  return job.files.map(f => ({
    path: f.path,
    content: replaceLiteral(f.content, { ...joblistReplace, ...job.replace, ...f.replace }),
    mode: f.mode ?? 0o644
  }))
}
