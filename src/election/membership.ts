// Who is alive, in this node's view (pure): a peer is alive if we heard its heartbeat within
// the timeout and no connection-close hint came after it.

export interface PeerSeen {
  /** Last heartbeat (ms). */
  lastSeen: number
  /** When the connection to it closed, if after lastSeen: a faster hint than the timeout. */
  downAt?: number
  priority: number
}

export type MembershipView = Record<string, PeerSeen>

export function isAlive (p: PeerSeen | undefined, now: number, timeoutMs: number): boolean {
  if (p === undefined) return false
  if (p.downAt !== undefined && p.downAt >= p.lastSeen) return false
  return now - p.lastSeen <= timeoutMs
}

export function aliveSet (view: MembershipView, self: string, now: number, timeoutMs: number): Set<string> {
  const out = new Set<string>([self])
  for (const [id, p] of Object.entries(view)) if (isAlive(p, now, timeoutMs)) out.add(id)
  return out
}

/**
 * Nodes whose attempts may be declared lost: not heard from for longer than the timeout.
 * A connection-close hint alone is not enough (the peer may be reachable through others).
 * `since` (when this node started) gives every node a first chance to be heard.
 */
export function lostSet (view: MembershipView, knownNodes: Iterable<string>, self: string, now: number, timeoutMs: number, since: number): Set<string> {
  const out = new Set<string>()
  for (const id of knownNodes) {
    if (id === self) continue
    const heard = Math.max(view[id]?.lastSeen ?? 0, since)
    if (now - heard > timeoutMs) out.add(id)
  }
  return out
}
