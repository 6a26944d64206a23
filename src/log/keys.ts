// The node's identity: an Ed25519 libp2p key kept in the data directory. Its peer ID is
// the node ID, and it signs every event the node writes.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { canonicalJson } from '../util/canonical.js'
import type { CisEvent, UnsignedEvent } from '../events/types.js'

type PrivateKey = ReturnType<typeof privateKeyFromProtobuf>
interface PublicKey { verify: (data: Uint8Array, sig: Uint8Array) => boolean | Promise<boolean> }

export interface NodeIdentity {
  id: string
  key: PrivateKey
}

export async function loadOrCreateIdentity (dataDir: string): Promise<NodeIdentity> {
  const file = join(dataDir, 'node.key')
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(await readFile(file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read the node key ${file}: ${(err as Error).message}. Restore it from a backup, or move it away to start as a new node.`)
    }
    key = await generateKeyPair('Ed25519')
    await writeFile(file, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  }
  return { id: peerIdFromPrivateKey(key as never).toString(), key }
}

const encoder = new TextEncoder()

function signedBytes (e: UnsignedEvent): Uint8Array {
  return encoder.encode(canonicalJson({ origin: e.origin, seq: e.seq, ts: e.ts, lc: e.lc, type: e.type, body: e.body }))
}

export function signEvent<T extends UnsignedEvent> (key: PrivateKey, e: T): T & { sig: string } {
  const sig = key.sign(signedBytes(e)) as Uint8Array
  return { ...e, sig: Buffer.from(sig).toString('base64') }
}

const publicKeys = new Map<string, PublicKey>()

/** True if `e.sig` is the origin's signature over the event. */
export function verifyEvent (e: CisEvent): boolean {
  try {
    let pub = publicKeys.get(e.origin)
    if (pub === undefined) {
      const id = peerIdFromString(e.origin)
      if (id.publicKey === undefined) return false
      pub = id.publicKey as unknown as PublicKey
      if (publicKeys.size > 10_000) publicKeys.clear()
      publicKeys.set(e.origin, pub)
    }
    return pub.verify(signedBytes(e), Buffer.from(e.sig, 'base64')) as boolean
  } catch {
    return false
  }
}
