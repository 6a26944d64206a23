// CPU accounting for the throughput benchmarks: how many CPU milliseconds one job costs in
// each process involved (agents, their fork servers, the jobs themselves, the bench client).
// On a machine where the processes share the cores, that explains a throughput figure.
import { readdirSync, readFileSync } from 'node:fs'

/** Clock ticks a second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const HZ = 100

interface Times { self: number, children: number, /** Of self, in the kernel (stime). */ system: number }

/**
 * CPU seconds in a /proc `stat` file (of a process, `/proc/PID/stat`, or of one thread,
 * `/proc/PID/task/TID/stat`): its own, and its waited-for children's. Throws if it is gone.
 */
export function statTimes (file: string): Times {
  // The command name may contain spaces: the fields start after its closing parenthesis.
  const f = readFileSync(file, 'utf8').split(') ')[1].split(' ')
  return { self: (Number(f[11]) + Number(f[12])) / HZ, children: (Number(f[13]) + Number(f[14])) / HZ, system: Number(f[12]) / HZ }
}

/**
 * CPU ms of a process's threads other than its main one (Linux), or null: this process's, or
 * another's by pid (V8's workers, libuv's pool, LevelDB's compaction: all named as the process
 * is, so not told apart). Two readings' difference is what those threads spent between them.
 */
export function otherThreadsMs (pid: number = process.pid): number | null {
  try {
    let seconds = 0
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      if (t === String(pid)) continue
      try { seconds += statTimes(`/proc/${pid}/task/${t}/stat`).self } catch { /* ended meanwhile */ }
    }
    return seconds * 1000
  } catch { return null }
}

/** CPU seconds of a process, and of its children that it has waited for. */
function times (pid: number | 'self'): Times | undefined {
  try { return statTimes(`/proc/${pid}/stat`) } catch { return undefined } // gone, or not Linux
}

/** The processes whose parent is `pid` (Linux; [] elsewhere). */
export function childrenOf (pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      if (readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1] === String(pid)) out.push(Number(d))
    } catch { /* ended meanwhile */ }
  }
  return out
}

export interface CpuPerJob {
  /** The agents' own CPU. */
  agents: number
  /** Of `agents`, in the kernel (system time: syscalls, wake-ups, the network stack). */
  agentsSystem: number
  /** The fork servers' own CPU (forking, pipes, files). */
  forkServers: number
  /** The jobs (`sh -c ...`), as reaped by the fork servers. */
  jobs: number
  /** This benchmark process (HTTP client, polling). */
  client: number
  total: number
}

type Sample = Map<string, number>

/** Take a reading of agents (by pid), their fork servers and the jobs those reaped. */
function sample (agentPids: number[]): Sample {
  const s: Sample = new Map()
  const add = (k: string, v: number): void => { s.set(k, (s.get(k) ?? 0) + v) }
  for (const pid of agentPids) {
    const t = times(pid)
    add('agents', t?.self ?? 0)
    add('system', t?.system ?? 0)
    for (const child of childrenOf(pid)) {
      const t = times(child)
      if (t === undefined) continue
      add(`fork:${child}`, t.self)
      add(`jobs:${child}`, t.children)
    }
  }
  const me = times('self')
  add('client', me?.self ?? 0)
  return s
}

/** Start measuring; the returned function gives CPU ms per job for `jobs` jobs since then. */
export function cpuMeter (agentPids: number[]): (jobs: number) => CpuPerJob {
  const before = sample(agentPids)
  return jobs => {
    const after = sample(agentPids)
    const sum = (prefix: string): number => {
      let t = 0
      for (const [k, v] of after) if (k.startsWith(prefix)) t += v - (before.get(k) ?? 0)
      return t
    }
    const ms = (s: number): number => Number((s * 1000 / jobs).toFixed(2))
    const r = { agents: ms(sum('agents')), agentsSystem: ms(sum('system')), forkServers: ms(sum('fork:')), jobs: ms(sum('jobs:')), client: ms(sum('client')) }
    return { ...r, total: Number((r.agents + r.forkServers + r.jobs + r.client).toFixed(2)) }
  }
}

/** CPU ms per spawn of this process's own spawn loop: itself plus the children it reaped. */
export function selfMeter (): (spawns: number) => number {
  const b = times('self')
  return spawns => {
    const a = times('self')
    if (a === undefined || b === undefined) return NaN
    return Number((((a.self + a.children) - (b.self + b.children)) * 1000 / spawns).toFixed(2))
  }
}
