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

export const lpEncode = lp.encode
