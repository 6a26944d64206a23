// Which peers need a write batch of this node's events at once (replication.ts batches the
// rest by peer, under load). A job's course is five events: submit, accept, assign, started,
// finished; three for a short job placed as its joblist is accepted (the accept carries the
// assign; the start is told with the end, start-hold.ts); two when it was submitted on the
// master (the submit carries the accept). Each has one or two nodes that act on
// it: the master on every one (it decides), the node assigned the job on its assign (or the
// accept carrying it), the node whose submit request waits for an answer on the accept. Every
// other node only records them, and may hear of them a few milliseconds later together with the
// next ones. Any other event (a master's claim, a node's resources, a stop,
// a cancel, a loss, a schedule...) goes to every peer at once.
import type { CisEvent } from '../events/types.js'
import { acceptOf } from '../events/types.js'

/** The event types whose batch may wait for the peers that do not act on them. */
const BATCHABLE = new Set(['submit', 'accept', 'assign', 'started', 'finished'])

/** The node that wrote a request (`<origin>:<seq>`, events/types.ts eventKey). */
function requester (request: string): string {
  const at = request.lastIndexOf(':')
  return at > 0 ? request.slice(0, at) : request
}

/**
 * The peers that need `events` at once: the master (as this node sees it), the nodes assigned
 * jobs in them, the nodes whose requests they accept; 'all' if any event is of another kind.
 */
export function urgentPeers (events: readonly CisEvent[], master: string | undefined): ReadonlySet<string> | 'all' {
  const out = new Set<string>()
  if (master !== undefined) out.add(master)
  for (const e of events) {
    if (!BATCHABLE.has(e.type)) return 'all'
    if (e.type === 'assign') out.add((e as CisEvent<'assign'>).body.node)
    else {
      // (An accept, or the accept a master's own submit carries.)
      const b = acceptOf(e)?.body
      if (b === undefined) continue
      out.add(requester(b.request))
      for (const a of b.assign ?? []) out.add(a.node)
    }
  }
  return out
}
