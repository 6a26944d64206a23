// The simulator's virtual clock: tasks run in order of their virtual time (ties in the order
// they were scheduled), one at a time, and between two tasks the promise continuations they
// started run (a few microtask turns), so async code (a sync pull, an append) moves on at the
// same virtual time. No real timer is involved: a run is deterministic and as fast as the CPU.

interface Task { at: number, seq: number, fn: () => void, cancelled: boolean }

/** Microtask turns given to async continuations after each task. */
const TURNS = 8

export class VirtualClock {
  now = 0
  private readonly heap: Task[] = []
  private seq = 0
  /** Tasks run so far. */
  ran = 0

  /** Run `fn` at virtual time `at` (not before now). */
  at (at: number, fn: () => void): { cancel: () => void } {
    const task: Task = { at: Math.max(at, this.now), seq: this.seq++, fn, cancelled: false }
    this.push(task)
    return { cancel: () => { task.cancelled = true } }
  }

  after (ms: number, fn: () => void): { cancel: () => void } { return this.at(this.now + ms, fn) }

  /** Run `fn` every `ms`, the first time after `first` (default `ms`). */
  every (ms: number, fn: () => void, first = ms): { cancel: () => void } {
    let handle = { cancel: () => {} }
    let stopped = false
    const tick = (): void => { if (stopped) return; fn(); handle = this.after(ms, tick) }
    handle = this.after(first, tick)
    return { cancel: () => { stopped = true; handle.cancel() } }
  }

  /** Run the tasks due up to virtual time `until`; then the clock reads `until`. */
  async run (until: number): Promise<void> {
    while (this.heap.length > 0 && this.heap[0].at <= until) {
      const task = this.pop()
      if (task.cancelled) continue
      this.now = task.at
      this.ran++
      task.fn()
      for (let i = 0; i < TURNS; i++) await null
    }
    this.now = Math.max(this.now, until)
  }

  private less (x: Task, y: Task): boolean { return x.at < y.at || (x.at === y.at && x.seq < y.seq) }

  private push (t: Task): void {
    const h = this.heap
    h.push(t)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  private pop (): Task {
    const h = this.heap
    const top = h[0]
    const last = h.pop() as Task
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }
}
