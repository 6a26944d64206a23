// Yamux flow control, as the spec's reference (hashicorp/yamux) and rust-yamux do it: a
// receiver grants the sender more window once it has consumed half of it, not after every
// message it reads. @chainsafe/libp2p-yamux 7 sends a window update after each chunk read, so
// every gossip message or beat cost a second, empty frame the other way (its own noise
// encryption, socket write and read, and yamux parsing on both sides): on a busy agent about
// a third of the frames it sent. The spec leaves the moment to the receiver; the sender may
// always use the whole window, so holding the update until half is consumed cannot stall it.
// Frames with flags (the SYN/ACK that open a stream, the FIN/RST that end it) go out as before.
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/** The fields of a YamuxStream this reads (private ones named as in @chainsafe/libp2p-yamux 7). */
interface WindowFields { state: StreamState, recvWindow: number, recvWindowCapacity: number }

let installed = false

/** Send window updates only once half the receive window is consumed (once per process). */
export function installYamuxWindowUpdates (): void {
  if (installed) return
  installed = true
  const proto = YamuxStream.prototype as unknown as WindowFields & { sendWindowUpdate: () => void }
  const send = proto.sendWindowUpdate
  if (typeof send !== 'function') return
  proto.sendWindowUpdate = function (this: WindowFields): void {
    // Only an established stream waits (in Init or SYNReceived the update carries the SYN or
    // ACK that opens the stream); a version without these fields keeps its own behaviour.
    if (this.state === StreamState.Established && typeof this.recvWindow === 'number' &&
      typeof this.recvWindowCapacity === 'number' && this.recvWindowCapacity > this.recvWindow / 2) return
    send.call(this)
  }
}
