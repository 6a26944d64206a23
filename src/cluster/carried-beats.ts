// Heartbeats carried on event frames (issue 12), in a small cluster: a node sending a peer a
// gossip frame of events adds its heartbeat to the frame when the peer is due one, and the
// heartbeat timer sends a beat of its own only to a peer that had none for half an interval. A
// busy node's peers then get its beats inside frames they read anyway, instead of one more
// message (one more wake-up, on these VMs the dear part) each interval. A peer gets carried
// beats only once its own heartbeat said it reads them (`carried: true`, Heartbeat): a node of
// an older version reads only a frame's events, and would find a busy peer silent.
//
// With nothing lost, the gap between two beats to a peer stays under 1.5 intervals (a carried
// beat just before a tick makes that tick skip the peer; the next tick sends), below half the
// timeout, where a silent peer starts to be asked about, when the timeout is at least four
// intervals (the defaults: 200 ms, 800 ms); with a shorter timeout nothing is carried and every
// tick beats. A carried beat counts as sent only once a peer's queue took its frame
// (CarriedMessage.queued); times are the node's monotonic clock (a wall clock stepped back
// would hold the beats back).

export class CarriedBeats {
  /** When this node last sent each peer a beat (carried or its own), by the node's clock. */
  private readonly sentAt = new Map<string, number>()
  /** Peers whose heartbeat says they read a beat carried on an event frame. */
  private readonly readers = new Set<string>()

  /** Carrying at all: the timeout leaves room for a skipped tick (four intervals or more). */
  readonly on: boolean

  constructor (private readonly intervalMs: number, timeoutMs: number) {
    this.on = timeoutMs >= 4 * intervalMs
  }

  /** A peer's heartbeat: does it read carried beats? */
  heard (peer: string, hb: { carried?: unknown }): void {
    if (hb.carried === true) this.readers.add(peer)
    else this.readers.delete(peer)
  }

  /** The peer went (or hung up): what it could read may change with its next version. */
  forget (peer: string): void {
    this.sentAt.delete(peer)
    this.readers.delete(peer)
  }

  /** Should an event frame to `peer` now carry this node's beat? */
  carryTo (peer: string, now: number): boolean {
    return this.on && this.readers.has(peer) && !this.recent(peer, now)
  }

  /** Should the heartbeat timer send `peer` a beat of its own now (not if a carried one went within half an interval)? */
  beatTo (peer: string, now: number): boolean {
    return !(this.on && this.readers.has(peer) && this.recent(peer, now))
  }

  sent (peer: string, now: number): void {
    this.sentAt.set(peer, now)
  }

  private recent (peer: string, now: number): boolean {
    const at = this.sentAt.get(peer)
    return at !== undefined && now - at < this.intervalMs / 2
  }
}
