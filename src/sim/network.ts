// The simulator's network: nodes in one process, links with latency and jitter, loss,
// partitions (connections across them close, as a cut cable or our test gate does), silent
// cuts (a node's traffic is dropped and no connection closes: only timeouts tell), kills
// (connections close at once, as a SIGKILLed process's do) and restarts. Messages on a link
// arrive in the order sent (one stream per link, as in libp2p). It counts what each node sends.
import type { VirtualClock } from './clock.js'
import type { Random } from './random.js'

export interface LinkOptions {
  /** One-way latency (ms) and its jitter (± ms, uniform). */
  latencyMs: number
  jitterMs: number
  /** The share of messages lost (0..1). */
  loss: number
}

/** What the network needs of a node. */
export interface Endpoint {
  message: (from: string, topic: string, data: unknown) => void
  connected: (peer: string) => void
  disconnected: (peer: string) => void
  /** Answer a sync request: frames, in order. */
  serve: (req: unknown) => AsyncIterable<unknown>
}

export interface Traffic { msgs: number, bytes: number }

/** The size of a sync frame as JSON (an event's is computed once). */
const eventBytes = new WeakMap<object, number>()
function frameBytes (frame: unknown): number {
  const e = (frame as { event?: object }).event
  if (e === undefined) return JSON.stringify(frame).length
  let n = eventBytes.get(e)
  if (n === undefined) eventBytes.set(e, n = JSON.stringify(e).length + 10)
  return n
}

export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly links = new Map<string, Set<string>>()
  /** Per directed link, the virtual time of the last delivery (FIFO). */
  private readonly lastArrival = new Map<string, Map<string, number>>()
  private readonly group = new Map<string, number>()
  private readonly cut = new Set<string>()
  /** Links cut silently between two nodes (both ways), as `a b` in code-unit order. */
  private readonly cutLinks = new Set<string>()
  readonly sent = new Map<string, Traffic>()
  /** When each open connection opened (virtual ms), by linkKey. */
  private readonly opened = new Map<string, number>()

  constructor (private readonly clock: VirtualClock, private readonly rng: Random, readonly o: LinkOptions) {}

  /** A node (re)starts: it has no connections yet. */
  join (id: string, endpoint: Endpoint): void {
    this.endpoints.set(id, endpoint)
    this.links.set(id, new Set())
    if (!this.sent.has(id)) this.sent.set(id, { msgs: 0, bytes: 0 })
  }

  isUp (id: string): boolean { return this.endpoints.has(id) }

  /** The peers a node has an open connection to. */
  peers (id: string): string[] { return [...this.links.get(id) ?? []] }

  connectionCount (id: string): number { return this.links.get(id)?.size ?? 0 }

  private reachable (a: string, b: string): boolean {
    return this.endpoints.has(a) && this.endpoints.has(b) && !this.cut.has(a) && !this.cut.has(b) && (this.group.get(a) ?? 0) === (this.group.get(b) ?? 0) &&
      (this.cutLinks.size === 0 || !this.cutLinks.has(linkKey(a, b)))
  }

  private delay (): number {
    return Math.max(0.01, this.o.latencyMs + (this.rng.next() * 2 - 1) * this.o.jitterMs)
  }

  /** When a message sent now from a to b arrives (in order on the link). */
  private arrival (a: string, b: string): number {
    let m = this.lastArrival.get(a)
    if (m === undefined) this.lastArrival.set(a, m = new Map())
    const t = Math.max(this.clock.now + this.delay(), (m.get(b) ?? 0) + 0.001)
    m.set(b, t)
    return t
  }

  /** Dial: a connection opens (both sides are told after a round trip) if the two can reach each other. */
  dial (a: string, b: string): boolean {
    if (a === b || this.links.get(a)?.has(b) === true) return true
    if (!this.reachable(a, b)) return false
    this.links.get(a)?.add(b)
    this.links.get(b)?.add(a)
    this.opened.set(linkKey(a, b), this.clock.now)
    const rtt = 2 * this.delay()
    this.clock.after(rtt, () => {
      if (this.links.get(a)?.has(b) !== true) return
      this.endpoints.get(a)?.connected(b)
      this.endpoints.get(b)?.connected(a)
    })
    return true
  }

  /** When the connection between two nodes opened (virtual ms); undefined if there is none. */
  connectedSince (a: string, b: string): number | undefined {
    return this.links.get(a)?.has(b) === true ? this.opened.get(linkKey(a, b)) : undefined
  }

  /** A node hangs up on a peer (both sides are told, as for any close). */
  hangUp (a: string, b: string): void { this.close(a, b) }

  private close (a: string, b: string): void {
    if (this.links.get(a)?.delete(b) !== true) return
    this.links.get(b)?.delete(a)
    this.opened.delete(linkKey(a, b))
    // Each side learns of the close after a one-way delay (a dead side learns nothing).
    this.clock.after(this.delay(), () => this.endpoints.get(a)?.disconnected(b))
    this.clock.after(this.delay(), () => this.endpoints.get(b)?.disconnected(a))
  }

  /** Send one message on an open connection; false if there is none. Lost or cut: dropped silently. */
  send (from: string, to: string, topic: string, data: unknown, bytes: number): boolean {
    if (this.links.get(from)?.has(to) !== true) return false
    const t = this.sent.get(from) as Traffic
    t.msgs++
    t.bytes += bytes
    if (!this.reachable(from, to) || (this.o.loss > 0 && this.rng.next() < this.o.loss)) return true
    const endpoint = this.endpoints.get(to)
    this.clock.at(this.arrival(from, to), () => {
      if (this.endpoints.get(to) === endpoint && this.links.get(to)?.has(from) === true) endpoint?.message(from, topic, data)
    })
    return true
  }

  /** A sync request: the peer's frames arrive in order; rejects if there is no connection or it times out. */
  async request (from: string, to: string, req: unknown, onFrame: (frame: unknown) => void, timeoutMs: number): Promise<void> {
    if (this.links.get(from)?.has(to) !== true) throw new Error('not connected')
    return await new Promise<void>((resolve, reject) => {
      let over = false
      const timer = this.clock.after(timeoutMs, () => { if (!over) { over = true; reject(new Error('sync timed out')) } })
      const count = (id: string, bytes: number): void => { const t = this.sent.get(id) as Traffic; t.msgs++; t.bytes += bytes }
      count(from, 64)
      if (!this.reachable(from, to)) return
      this.clock.at(this.arrival(from, to), () => {
        const server = this.endpoints.get(to)
        if (server === undefined || !this.reachable(from, to)) return
        void (async () => {
          let last = this.clock.now
          for await (const frame of server.serve(req)) {
            if (!this.reachable(from, to)) return
            count(to, frameBytes(frame))
            last = this.arrival(to, from)
            this.clock.at(last, () => { if (!over) onFrame(frame) })
          }
          this.clock.at(last, () => { if (!over) { over = true; timer.cancel(); resolve() } })
        })().catch(err => { if (!over) { over = true; timer.cancel(); reject(err as Error) } })
      })
    })
  }

  /** SIGKILL: the node's connections close (peers notice), its pending messages are lost. */
  kill (id: string): void {
    for (const p of this.peers(id)) this.close(id, p)
    this.endpoints.delete(id)
    this.links.delete(id)
    this.lastArrival.delete(id)
  }

  /** Split into groups: connections across groups close; no new one opens across until heal(). */
  partition (groups: string[][]): void {
    groups.forEach((g, i) => { for (const id of g) this.group.set(id, i + 1) })
    for (const [a, peers] of this.links) for (const b of [...peers]) if (!this.reachable(a, b) && !this.cut.has(a) && !this.cut.has(b)) this.close(a, b)
  }

  heal (): void { this.group.clear() }

  /** A silent cut: every message to and from the node is dropped; no connection closes. */
  silentCut (id: string): void { this.cut.add(id) }
  mend (id: string): void { this.cut.delete(id) }

  /** One link cut silently (a bad route between two nodes that both reach every other): messages between them dropped, no close. */
  cutLink (a: string, b: string): void { this.cutLinks.add(linkKey(a, b)) }
  mendLink (a: string, b: string): void { this.cutLinks.delete(linkKey(a, b)) }
}

const linkKey = (a: string, b: string): string => a < b ? `${a} ${b}` : `${b} ${a}`
