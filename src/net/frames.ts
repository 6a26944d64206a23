// Length-prefixed JSON frames over libp2p streams; every frame is size-bounded.
import * as lp from 'it-length-prefixed'

export const MAX_FRAME_BYTES = 8 * 1024 * 1024

export class FrameError extends Error {
  override name = 'FrameError'
  readonly code = 'ERR_BAD_FRAME'
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame (value: unknown): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(value))
  if (bytes.length > MAX_FRAME_BYTES) throw new FrameError(`frame of ${bytes.length} bytes is over the limit of ${MAX_FRAME_BYTES}`)
  return bytes
}

export function decodeFrame (bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes))
  } catch (err) {
    throw new FrameError(`malformed frame: ${(err as Error).message}`)
  }
}

/** Decode a stream source of length-prefixed frames into JSON values; `counted` hears each frame's size. */
export async function * readFrames (source: AsyncIterable<{ subarray: () => Uint8Array } | Uint8Array>, counted?: (bytes: number) => void): AsyncGenerator<unknown> {
  for await (const chunk of lp.decode(source as never, { maxDataLength: MAX_FRAME_BYTES })) {
    const bytes = chunk.subarray()
    counted?.(bytes.length)
    yield decodeFrame(bytes)
  }
}

/** Encode JSON values into frames; `counted` hears each frame's size. */
export async function * writeFrames (values: AsyncIterable<unknown> | Iterable<unknown>, counted?: (bytes: number) => void): AsyncGenerator<Uint8Array> {
  for await (const v of values) {
    const bytes = encodeFrame(v)
    counted?.(bytes.length)
    yield bytes
  }
}

/** The unsigned varint (LEB128) of a frame's length: its prefix on the wire. */
function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

function writeVarint (n: number, into: Uint8Array, at: number): number {
  while (n >= 0x80) { into[at++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80) }
  into[at++] = n
  return at
}

/** Frames written together are gathered into buffers of about this many bytes at most. */
export const COALESCE_BYTES = 64 * 1024

/**
 * Frames, each length-prefixed, in one buffer: what one write to a stream carries. (it-length-prefixed's
 * encode yields a frame's prefix and its bytes apart, and yamux and noise then send each as a
 * frame of its own: two encryptions and two socket writes a message, where this is one.)
 */
export function prefixed (frames: readonly Uint8Array[]): Uint8Array {
  let size = 0
  for (const f of frames) {
    if (f.byteLength > MAX_FRAME_BYTES) throw new FrameError(`frame of ${f.byteLength} bytes is over the limit of ${MAX_FRAME_BYTES}`)
    size += varintLength(f.byteLength) + f.byteLength
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const f of frames) {
    at = writeVarint(f.byteLength, out, at)
    out.set(f, at)
    at += f.byteLength
  }
  return out
}

/** Length-prefix each frame (prefix and frame in one buffer). */
export async function * lpEncode (frames: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const f of frames) yield prefixed([f])
}

/**
 * Length-prefix batches of frames (what a stream's queue held at once): a batch's frames go in
 * one buffer, up to COALESCE_BYTES, so a burst of messages is one write, not one a message.
 */
export async function * lpEncodeBatches (batches: AsyncIterable<readonly Uint8Array[]>): AsyncGenerator<Uint8Array> {
  for await (const batch of batches) {
    let start = 0
    let bytes = 0
    for (let i = 0; i < batch.length; i++) {
      if (i > start && bytes + batch[i].byteLength > COALESCE_BYTES) {
        yield prefixed(batch.slice(start, i))
        start = i
        bytes = 0
      }
      bytes += batch[i].byteLength
    }
    if (start < batch.length) yield prefixed(start === 0 ? batch : batch.slice(start))
  }
}
