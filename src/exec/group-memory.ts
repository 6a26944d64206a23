// Peak memory of job process groups (G-2), sampled from /proc on Linux: soon after a job
// starts and then every 500 ms, the resident set sizes of the processes of each watched group
// (a job's group ID is its shell's pid) are summed, and each group keeps its highest sum.
//
// Where the processes are found: a job's own tree (its shell and the shell's descendants, by
// /proc/<pid>/task/<pid>/children), read for the job alone; and, every FULL_PASS_EVERY ticks,
// one pass over every process's /proc/<pid>/stat, for a group's processes that left its tree
// (a daemonized child is reparented, but stays in the group). A pass over every process
// costs ~27 µs a process on these VMs in a loop (2-3 ms with 65 processes, tens of ms on a host
// with thousands), more in a fork server between its forks: made for each job's first sample
// and at every tick, it made a fork server running jobs of 50 ms spend 18-21 ms of CPU a job
// here instead of 8.5-9.3, and 28-30 with 500 more processes (bench/fork-server.ts, Dec 7); a
// tree costs what the job has. A kernel without the children files gets the pass each time.
// One timer serves every job this process watches; it stops with the last.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

export const SAMPLE_EVERY_MS = 500
/**
 * The first sample of a job, soon after it starts (for short jobs). Not at once: a process
 * that has just exec'd has nothing resident yet (its stat says rss 0).
 */
export const FIRST_SAMPLE_MS = 25
/** Every this many ticks (5 s) the tick's sample is a pass over every process; the others read the jobs' trees. */
export const FULL_PASS_EVERY = 10
/** The most processes of one job's tree read in one sample (a fork bomb does not make a sample endless). */
export const MAX_TREE = 1024

/** How samples read /proc (tests give a /proc of their own): a file's text, or undefined if it cannot be read (gone, not there); a directory's names. */
export interface ProcReader {
  text: (path: string) => string | undefined
  names: (dir: string) => string[] | undefined
}

const realProc: ProcReader = {
  text: path => { try { return readFileSync(path, 'latin1') } catch { return undefined } },
  names: dir => { try { return readdirSync(dir) } catch { return undefined } }
}

interface Watch { peakKb?: number }

const watched = new Map<number, Watch>()
let timer: NodeJS.Timeout | undefined
let ticks = 0
let procReadable: boolean | undefined
let pageKb: number | undefined
/** False once a job's tree could not be read although its shell was there: this kernel has no children files. */
let treesReadable = true

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

/** Resident pages of each of `groups` over every process (one pass over /proc); groups with no process found are left out. */
export function passAll (groups: ReadonlySet<number>, proc: ProcReader = realProc): Map<number, number> {
  const pages = new Map<number, number>()
  for (const name of proc.names('/proc') ?? []) {
    const c = name.charCodeAt(0)
    if (c < 48 || c > 57) continue // not a process
    const stat = proc.text(`/proc/${name}/stat`) // (undefined: ended meanwhile)
    const p = stat === undefined ? undefined : groupAndRss(stat)
    if (p === undefined || !groups.has(p.pgid)) continue
    pages.set(p.pgid, (pages.get(p.pgid) ?? 0) + p.rssPages)
  }
  return pages
}

/**
 * Resident pages of group `pgid`'s processes in its leader's tree: the leader (pid `pgid`) and
 * its descendants (each one's children from /proc/<pid>/task/<pid>/children: those its main
 * thread started), at most MAX_TREE processes, those of another group left out. 0 if the
 * leader is gone; undefined if its children cannot be read while it is there (a kernel
 * without the children files: read every process instead).
 */
export function treePages (pgid: number, proc: ProcReader = realProc): number | undefined {
  let pages = 0
  const queue = [pgid]
  for (let k = 0; k < queue.length && k < MAX_TREE; k++) {
    const pid = queue[k]
    const stat = proc.text(`/proc/${pid}/stat`)
    if (stat === undefined) continue // ended meanwhile
    const p = groupAndRss(stat)
    if (p !== undefined && p.pgid === pgid) pages += p.rssPages
    const children = proc.text(`/proc/${pid}/task/${pid}/children`)
    if (children === undefined) {
      // (The leader there and its children not readable: no children files here. A descendant
      // that ended between its two reads is only that.)
      if (k === 0 && proc.text(`/proc/${pid}/stat`) !== undefined) return undefined
      continue
    }
    for (const text of children.split(' ')) {
      const child = Number(text)
      if (text !== '' && Number.isSafeInteger(child) && child > 0) queue.push(child)
    }
  }
  return pages
}

/** A sample of the watched groups' pages made into their peaks (nothing resident is no measure: a process just exec'd, or exited and not yet reaped). */
function record (pages: Map<number, number>): void {
  const kb = pageSizeKb()
  for (const [pgid, n] of pages) {
    const w = watched.get(pgid)
    if (w !== undefined && n > 0 && (w.peakKb === undefined || n * kb > w.peakKb)) w.peakKb = n * kb
  }
}

/** A sample of `groups` (every watched group if not given): their trees, or one pass over every process when `full` or trees cannot be read. */
function sample (groups?: number[], full = false): void {
  if (!full && treesReadable) {
    const pages = new Map<number, number>()
    for (const pgid of groups ?? watched.keys()) {
      const n = treePages(pgid)
      if (n === undefined) { treesReadable = false; break }
      pages.set(pgid, n)
    }
    if (treesReadable) { record(pages); return }
  }
  record(passAll(new Set(watched.keys())))
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
  const first = setTimeout(() => { if (watched.get(pgid) === w) sample([pgid]) }, FIRST_SAMPLE_MS)
  first.unref()
  if (timer === undefined) {
    ticks = 0
    timer = setInterval(() => { sample(undefined, ++ticks % FULL_PASS_EVERY === 0) }, SAMPLE_EVERY_MS)
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
