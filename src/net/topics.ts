// The names of what nodes send each other, and the shape of a message carried on another's
// frame: shared by the libp2p transport (p2p.ts) and the mesh (cluster/mesh-core.ts), which the
// simulator also runs, without loading libp2p.
export const EVENTS_TOPIC = 'cis/events/1'
export const HEARTBEAT_TOPIC = 'cis/heartbeat/1'
export const SYNC_PROTOCOL = '/cis/sync/1'

/**
 * A gossip message that rides on another's frame to some peers (a heartbeat on a frame of
 * events: cluster/carried-beats.ts), as JSON text; the frame then has both topics' keys.
 */
export interface CarriedMessage {
  topic: string
  json: string
  to: ReadonlySet<string>
  /** Called for each peer whose queue took the frame carrying it (not for one that got the frame without it, or nothing). */
  queued: (peer: string) => void
}
