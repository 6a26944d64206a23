// The private network key (libp2p pnet): only peers holding it can connect.
import { readFile, writeFile } from 'node:fs/promises'
import { generateKey } from '@libp2p/pnet'

export class SwarmKeyError extends Error {
  override name = 'SwarmKeyError'
  readonly code = 'ERR_SWARM_KEY'
}

const HEADER = '/key/swarm/psk/1.0.0/'

export function newSwarmKey (): Uint8Array {
  const key = new Uint8Array(95)
  generateKey(key)
  return key
}

/** Write a new key to `file`; never overwrites an existing file. */
export async function writeNewSwarmKey (file: string): Promise<void> {
  try {
    await writeFile(file, newSwarmKey(), { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new SwarmKeyError(`${file} exists already; keygen never overwrites a key. Choose another file name.`)
    throw err
  }
}

export async function readSwarmKey (file: string): Promise<Uint8Array> {
  let bytes: Buffer
  try { bytes = await readFile(file) } catch (err) {
    throw new SwarmKeyError(`cannot read the swarm key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Create one with 'cis keygen FILE'.`)
  }
  const text = bytes.toString('utf8')
  const lines = text.split(/\r?\n/)
  if (lines[0] !== HEADER || lines[1] !== '/base16/' || !/^[0-9a-fA-F]{64}$/.test(lines[2] ?? '')) {
    throw new SwarmKeyError(`${file} is not a swarm key (expected the ${HEADER} format written by 'cis keygen')`)
  }
  return new Uint8Array(bytes.subarray(0, 95))
}

/** The key at `file`, or a new one written there when `create` and the file is missing. */
export async function loadOrCreateSwarmKey (file: string, create: boolean): Promise<{ key: Uint8Array, created: boolean }> {
  try {
    return { key: await readSwarmKey(file), created: false }
  } catch (err) {
    if (!create) throw err
    try { await writeNewSwarmKey(file) } catch (e) { if (!(e instanceof SwarmKeyError)) throw e }
    return { key: await readSwarmKey(file), created: true }
  }
}
