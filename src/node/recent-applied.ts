// When this node applied each of its most recent events (`GET /v1/state?event=ORIGIN:SEQ`,
// for measuring replication: bench/mesh.ts). A ring of the last CAPACITY events: origin, seq and
// time in arrays, no key made for an event (a Map of `origin:seq` keys made a string an event and
// kept it through the young generation's collections: issue 12). Asked rarely: a lookup scans.
export class RecentApplied {
  private readonly origins: string[]
  private readonly seqs: Float64Array
  private readonly times: Float64Array
  private next = 0
  /** One copy of each origin's ID (an event's own copy would be kept by the ring). */
  private readonly ids = new Map<string, string>()

  constructor (readonly capacity = 2000) {
    this.origins = new Array<string>(capacity).fill('')
    this.seqs = new Float64Array(capacity)
    this.times = new Float64Array(capacity)
  }

  add (origin: string, seq: number, at: number): void {
    let id = this.ids.get(origin)
    if (id === undefined) {
      if (this.ids.size >= 10_000) this.ids.clear()
      this.ids.set(origin, id = origin)
    }
    this.origins[this.next] = id
    this.seqs[this.next] = seq
    this.times[this.next] = at
    this.next = (this.next + 1) % this.capacity
  }

  /** When the event was applied here, if it is among the last `capacity`. */
  at (origin: string, seq: number): number | undefined {
    // (Newest first: an event applied twice — it cannot be — would show its last time.)
    for (let k = 1; k <= this.capacity; k++) {
      const i = (this.next - k + this.capacity) % this.capacity
      if (this.seqs[i] === seq && this.origins[i] === origin && origin !== '') return this.times[i]
    }
    return undefined
  }
}
