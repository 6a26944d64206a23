// A bounded queue of messages read as an async iterable: what a long-lived stream sends.
// Pushing past the bound drops the message (the stream's messages are best effort); end()
// drops what is queued and ends the iteration.
export class Outbox<T> implements AsyncIterable<T> {
  private items: T[] = []
  private wake: (() => void) | undefined
  private ended = false

  constructor (private readonly max: number) {}

  /** Queue a message; false if the box is full or ended (the message is dropped). */
  push (item: T): boolean {
    if (this.ended || this.items.length >= this.max) return false
    this.items.push(item)
    this.wake?.()
    return true
  }

  end (): void {
    this.ended = true
    this.items = []
    this.wake?.()
  }

  get size (): number { return this.items.length }

  /** What is queued each time, all of it at once (a stream writes it in one go); ends as the iteration does. */
  async * batches (): AsyncGenerator<T[]> {
    while (true) {
      if (this.ended) return
      if (this.items.length > 0) {
        const batch = this.items
        this.items = []
        yield batch
        continue
      }
      await new Promise<void>(resolve => { this.wake = resolve })
      this.wake = undefined
    }
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<T> {
    for await (const batch of this.batches()) {
      for (const item of batch) { if (this.ended) return; yield item }
    }
  }
}
