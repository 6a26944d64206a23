// Peak memory of job process groups (G-2), sampled from /proc on Linux: soon after a job
// starts and then every 500 ms, one pass over /proc/<pid>/stat sums the resident set sizes of
// the processes of each watched group (a job's group ID is its shell's pid), and each group
// keeps its highest sum. The pass is over all processes because a job's processes need not
// stay its shell's descendants (a daemonized child is reparented), only in its group. One
// timer and one pass serve every job this process watches; the timer stops with the last.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

export const SAMPLE_EVERY_MS = 500
/**
 * The first sample of a job, soon after it starts (for short jobs). Not at once: a process
 * that has just exec'd has nothing resident yet (its stat says rss 0).
 */
export const FIRST_SAMPLE_MS = 25

interface Watch { peakKb?: number }

const watched = new Map<number, Watch>()
let timer: NodeJS.Timeout | undefined
let procReadable: boolean | undefined
let pageKb: number | undefined

function canSample (): boolean {
  procReadable ??= process.platform === 'linux' && existsSync('/proc/self/stat')
  return procReadable
}

/** The page size in kB, asked once (4 kB if getconf cannot say): rss in stat is in pages. */
function pageSizeKb (): number {
  if (pageKb === undefined) {
    let bytes = 4096
    try {
      const n = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim())
      if (Number.isSafeInteger(n) && n >= 1024 && n % 1024 === 0) bytes = n
    } catch { /* keep 4 kB, the page size of x86-64 and most arm64 kernels */ }
    pageKb = bytes / 1024
  }
  return pageKb
}

/**
 * The process group and resident set size (in pages) in one /proc/<pid>/stat text, or
 * undefined if it is not one. The command name (field 2) is in parentheses and may hold
 * spaces and ')', so fields are counted from the last ')': state, ppid, pgrp, ... rss (24th).
 */
export function groupAndRss (stat: string): { pgid: number, rssPages: number } | undefined {
  const close = stat.lastIndexOf(')')
  if (close < 0) return undefined
  const fields = stat.slice(close + 2).split(' ')
  const pgid = Number(fields[2])
  const rssPages = Number(fields[21])
  return Number.isSafeInteger(pgid) && Number.isSafeInteger(rssPages) && rssPages >= 0 ? { pgid, rssPages } : undefined
}

/** One pass over /proc: each watched group with a process found gets a sample. */
function sample (): void {
  let names: string[]
  try { names = readdirSync('/proc') } catch { return }
  const pages = new Map<number, number>()
  for (const name of names) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue // not a process
    let stat: string
    try { stat = readFileSync(`/proc/${name}/stat`, 'latin1') } catch { continue } // ended meanwhile
    const p = groupAndRss(stat)
    if (p === undefined || !watched.has(p.pgid)) continue
    pages.set(p.pgid, (pages.get(p.pgid) ?? 0) + p.rssPages)
  }
  const kb = pageSizeKb()
  for (const [pgid, n] of pages) {
    const w = watched.get(pgid)
    // Nothing resident is no measure (a process just exec'd, or exited and not yet reaped).
    if (w !== undefined && n > 0 && (w.peakKb === undefined || n * kb > w.peakKb)) w.peakKb = n * kb
  }
}

/**
 * Watch the peak memory of process group `pgid` (a job just started as its leader). Returns
 * the function to call when the job has exited: it stops the watch and gives the peak in kB,
 * or undefined if there was no sample (not Linux, no /proc, or the job ended before one).
 */
export function watchPeakRss (pgid: number): () => number | undefined {
  if (!(pgid > 0) || !canSample()) return () => undefined
  const w: Watch = {}
  watched.set(pgid, w)
  const first = setTimeout(sample, FIRST_SAMPLE_MS)
  first.unref()
  if (timer === undefined) {
    timer = setInterval(sample, SAMPLE_EVERY_MS)
    timer.unref()
  }
  let stopped = false
  return () => {
    if (!stopped) {
      stopped = true
      clearTimeout(first)
      if (watched.get(pgid) === w) watched.delete(pgid)
      if (watched.size === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
      }
    }
    return w.peakKb
  }
}
