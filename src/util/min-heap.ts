// A binary min-heap under a comparison: push and pop in a logarithm of its size. Pure.
export class MinHeap<T> {
  private items: T[] = []

  constructor (private readonly less: (a: T, b: T) => boolean) {}

  get size (): number { return this.items.length }

  /** The least item, not taken out (undefined when empty). */
  peek (): T | undefined { return this.items[0] }

  push (x: T): void {
    const h = this.items
    h.push(x)
    let i = h.length - 1
    while (i > 0) {
      const up = (i - 1) >> 1
      if (!this.less(h[i], h[up])) break
      ;[h[i], h[up]] = [h[up], h[i]]
      i = up
    }
  }

  /** The least item, taken out (undefined when empty). */
  pop (): T | undefined {
    const h = this.items
    if (h.length === 0) return undefined
    const top = h[0]
    const last = h.pop() as T
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

  /** Hold exactly these items (in any order) from now on. */
  reset (items: T[]): void {
    this.items = []
    for (const x of items) this.push(x)
  }
}
