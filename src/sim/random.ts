// A seeded random source for the simulator (sfc32): the same seed gives the same sequence on
// every machine, so a run is replayable by its seed. Pure.

export class Random {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    this.a = 0x9e3779b9
    this.b = 0x243f6a88
    this.c = 0xb7e15162
    this.d = seed >>> 0
    for (let i = 0; i < 15; i++) this.next()
  }

  /** A number in [0, 1). */
  next (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  /** An integer in [0, n). */
  int (n: number): number { return Math.floor(this.next() * n) }

  /** One of the items. */
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }

  /** `n` distinct items (all if fewer), in random order. */
  sample<T> (items: readonly T[], n: number): T[] {
    const copy = [...items]
    const out: T[] = []
    while (out.length < n && copy.length > 0) out.push(copy.splice(this.int(copy.length), 1)[0])
    return out
  }
}
