// The simulator's virtual clock: tasks run in order of their virtual time (ties in the order
// they were scheduled), one at a time, and between two tasks the promise continuations they
// started run (a few microtask turns), so async code (a sync pull, an append) moves on at the
// same virtual time. No real timer is involved: a run is deterministic and as fast as the CPU.

import { MinHeap } from '../util/min-heap.js'

interface Task { at: number, seq: number, fn: () => void, cancelled: boolean }

/** Microtask turns given to async continuations after each task. */
const TURNS = 8

export class VirtualClock {
  now = 0
  private readonly heap = new MinHeap<Task>((x, y) => x.at < y.at || (x.at === y.at && x.seq < y.seq))
  private seq = 0
  /** Tasks run so far. */
  ran = 0

  /** Run `fn` at virtual time `at` (not before now). */
  at (at: number, fn: () => void): { cancel: () => void } {
    const task: Task = { at: Math.max(at, this.now), seq: this.seq++, fn, cancelled: false }
    this.heap.push(task)
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
    while (this.heap.size > 0 && (this.heap.peek() as Task).at <= until) {
      const task = this.heap.pop() as Task
      if (task.cancelled) continue
      this.now = task.at
      this.ran++
      task.fn()
      for (let i = 0; i < TURNS; i++) await null
    }
    this.now = Math.max(this.now, until)
  }
}
