// Reading a job attempt's output files (stdout, stderr) in bounded chunks.
import { open, stat } from 'node:fs/promises'

export const MAX_OUTPUT_CHUNK = 1024 * 1024

export async function readOutputChunk (file: string, offset: number, max = MAX_OUTPUT_CHUNK): Promise<Buffer> {
  let size: number
  try { size = (await stat(file)).size } catch { return Buffer.alloc(0) }
  if (offset >= size) return Buffer.alloc(0)
  const len = Math.min(size - offset, max)
  const fh = await open(file, 'r')
  try {
    const buf = Buffer.alloc(len)
    const { bytesRead } = await fh.read(buf, 0, len, offset)
    return buf.subarray(0, bytesRead)
  } finally { await fh.close() }
}
