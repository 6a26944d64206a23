// Who is alive, in this node's view (pure): a peer is alive if we heard its heartbeat within
// the timeout and no connection-close hint came after it.

export interface PeerSeen {
  /** Last heartbeat (ms). */
  lastSeen: number
  /** When the connection to it closed, if after lastSeen: a faster hint than the timeout. */
  downAt?: number
  /** When its agent was found gone for certain (its address refused a connection), if after lastSeen. */
  goneAt?: number
  priority: number
  /** When its current alive period began (it was heard or connected after being not alive). */
  aliveSince?: number
  /** When its last heartbeat arrived (a connection alone does not set it). */
  heardAt?: number
  /** Its last heartbeat said it holds the master office (its master role is established). */
  claimsOffice?: boolean
}

export type MembershipView = Record<string, PeerSeen>

/** A connection-close hint (or a down notice) or a certain end came after its last heartbeat. */
export function isDown (p: PeerSeen): boolean {
  return (p.downAt !== undefined && p.downAt >= p.lastSeen) || (p.goneAt !== undefined && p.goneAt >= p.lastSeen)
}

export function isAlive (p: PeerSeen | undefined, now: number, timeoutMs: number): boolean {
  return p !== undefined && !isDown(p) && now - p.lastSeen <= timeoutMs
}

export function aliveSet (view: MembershipView, self: string, now: number, timeoutMs: number): Set<string> {
  const out = new Set<string>([self])
  for (const [id, p] of Object.entries(view)) if (isAlive(p, now, timeoutMs)) out.add(id)
  return out
}

/**
 * The known nodes this node does not hear from now (not alive), and for how long (ms): the two
 * clocks of a disconnection. Silent past the heartbeat timeout, a node is disconnected (no
 * longer alive: the election moves on); its attempts are lost only when the silence exceeds
 * `lostAfter` (decided by the scheduler). A node whose agent is certainly gone (`goneAt`) has
 * an infinite silence: its attempts are lost at once. `since` (when this node started) gives
 * every node a first chance to be heard. Self is never silent.
 */
export function silence (view: MembershipView, knownNodes: Iterable<string>, self: string, now: number, timeoutMs: number, since: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const id of knownNodes) {
    if (id === self) continue
    const p = view[id]
    if (isAlive(p, now, timeoutMs)) continue
    if (p?.goneAt !== undefined && p.goneAt >= p.lastSeen) { out.set(id, Infinity); continue }
    out.set(id, Math.max(0, now - Math.max(p?.lastSeen ?? 0, since)))
  }
  return out
}
