// What a message's handling costs run cold (issue 12), in this process: `node dist/bench/cold.js`.
// An agent hears a message every few ms; between two, the other processes on the machine's
// cores (other agents, the jobs) run and evict the CPU's caches, so each message runs through
// code and data that are no longer cached. Here a few steps of receiving a submit are timed
// warm (called in a tight loop) and cold (a walk over 64 MB between two calls, which evicts the
// caches), medians side by side (and the cold calls' mean): the ratio is what "cold" costs
// on this machine.
//
// Two more gaps tell where the cold comes from (Dec 4): the thread asleep 30 ms between two calls
// (in the kernel, as an idle agent waits for its next message), and the thread spinning 30 ms on
// a clock read (no call of its own into the kernel, no memory walked: only the interrupts the
// machine takes meanwhile). On this project's VMs (Firecracker, kernel booted with `pti=on`, a
// CPU without PCID: /sys/devices/system/cpu/vulnerabilities/meltdown says "Mitigation: PTI")
// every entry into the kernel, an interrupt's too, switches page tables and so empties the
// TLB: a call after either gap ran 10-17x its warm time (Dec 4 20:15, checking a submit 18.5 µs
// warm, 324 µs after a 30 ms sleep), the spin as slow as the sleep. It is the machine's, not the
// agents' (nothing else ran); it is what an agent's CPU a message is made of here. The
// bench prints the mitigation it runs under (`machine`).
import '../src/polyfill.js'
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { checkEvent } from '../src/events/check.js'
import { validateJoblist } from '../src/spec/validate.js'
import { canonicalJson } from '../src/util/canonical.js'

/**
 * µs a call: medians, and the cold calls' mean (what a CPU total adds up); after a 30 ms sleep
 * and after a 30 ms spin (medians).
 */
export interface ColdFigure { step: string, warmUs: number, coldUs: number, coldMeanUs: number, ratio: number, sleptUs: number, spunUs: number }

/** The gap of the slept and spun calls, ms. */
const GAP_MS = 30

/** The kernel's Meltdown mitigation and whether the CPU has PCID (Linux; null elsewhere): why a gap makes code cold. */
export function machineMitigation (): { meltdown: string | null, pcid: boolean | null } {
  let meltdown: string | null = null
  let pcid: boolean | null = null
  try { meltdown = readFileSync('/sys/devices/system/cpu/vulnerabilities/meltdown', 'utf8').trim() } catch {}
  try { pcid = /^flags\s*:.*\bpcid\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')) } catch {}
  return { meltdown, pcid }
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const r2 = (x: number): number => Number(x.toFixed(2))

export function coldBench (rounds = 100, gapRounds = 25): ColdFigure[] {
  const spec = validateJoblist({ name: 'cold-1', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] })
  if (!spec.ok) throw new Error('the bench joblist does not validate')
  const submit = { origin: 'o', seq: 1, ts: 1, lc: 0, sig: 's', type: 'submit', body: { spec: spec.spec, owner: 'bench' } }
  const finished = { origin: 'o', seq: 2, ts: 2, lc: 0, sig: 's', type: 'finished', body: { jobId: 'j-1.1', attempt: 1, state: 'succeeded', exitCode: 0, signal: null } }
  const text = JSON.stringify(submit)
  const steps: Array<[string, () => unknown]> = [
    ['JSON.parse of a submit event', () => JSON.parse(text)],
    ['checkEvent of a submit (the joblist validated)', () => checkEvent(submit)],
    ['checkEvent of a finished', () => checkEvent(finished)],
    ['canonical JSON of a submit (what its signature covers)', () => canonicalJson(submit)]
  ]
  const evict = new Float64Array(8_000_000)
  let sink = 0
  const out: ColdFigure[] = []
  for (const [step, fn] of steps) {
    for (let i = 0; i < 2000; i++) fn()
    const warm: number[] = []
    for (let r = 0; r < rounds; r++) {
      const t = performance.now()
      for (let i = 0; i < 100; i++) fn()
      warm.push((performance.now() - t) * 10) // µs a call
    }
    const cold: number[] = []
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < evict.length; i += 8) sink += evict[i]
      const t = performance.now()
      fn()
      cold.push((performance.now() - t) * 1000)
    }
    // After a sleep (Atomics.wait: the thread blocked in the kernel) and after a spin (no
    // syscall: performance.now reads the clock in user space), fewer rounds: each costs 30 ms.
    const slept: number[] = []
    const spun: number[] = []
    const cell = new Int32Array(new SharedArrayBuffer(4))
    for (let r = 0; r < gapRounds; r++) {
      Atomics.wait(cell, 0, 0, GAP_MS)
      let t = performance.now()
      fn()
      slept.push((performance.now() - t) * 1000)
      const until = performance.now() + GAP_MS
      while (performance.now() < until);
      t = performance.now()
      fn()
      spun.push((performance.now() - t) * 1000)
    }
    const w = median(warm)
    const c = median(cold)
    out.push({ step, warmUs: r2(w), coldUs: r2(c), coldMeanUs: r2(cold.reduce((a, b) => a + b, 0) / cold.length), ratio: r2(c / w), sleptUs: r2(median(slept)), spunUs: r2(median(spun)) })
  }
  if (sink !== 0) throw new Error('unreachable')
  return out
}

export function formatCold (figures: ColdFigure[], machine = machineMitigation()): string[] {
  return [
    `cold vs warm (µs a call, medians; cold: after a 64 MB walk; after ${GAP_MS} ms asleep; after ${GAP_MS} ms spinning without a syscall):`,
    ...figures.map(f => `  ${f.step.padEnd(56)} warm ${f.warmUs}, cold ${f.coldUs} (${f.ratio}x; cold mean ${f.coldMeanUs}), slept ${f.sleptUs} (${r2(f.sleptUs / f.warmUs)}x), spun ${f.spunUs} (${r2(f.spunUs / f.warmUs)}x)`),
    `  machine: Meltdown ${machine.meltdown ?? 'unknown'}; PCID ${machine.pcid === null ? 'unknown' : machine.pcid ? 'yes' : 'no'}${machine.meltdown?.includes('PTI') === true && machine.pcid === false ? ' (every entry into the kernel empties the TLB)' : ''}`
  ]
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = coldBench()
  for (const line of formatCold(figures)) console.log(line)
  console.log(JSON.stringify(figures))
}
