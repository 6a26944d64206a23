// The node's identity: an Ed25519 libp2p key kept in the data directory. Its peer ID is
// the node ID, and it signs every event the node writes.
import { createPrivateKey, createPublicKey, hash, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { canonicalJson } from '../util/canonical.js'
import type { CisEvent, UnsignedEvent } from '../events/types.js'
import { leafHashOfText, merkleTree, merkleWay, reachesKnown } from './merkle.js'
import type { KnownNodes } from './merkle.js'

type PrivateKey = ReturnType<typeof privateKeyFromProtobuf>

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

/**
 * What an event's signature covers: the canonical JSON of all but `sig`, i.e.
 * canonicalJson({ origin, seq, ts, lc, type, body }), written out in its keys' order (body, lc,
 * origin, seq, ts, type): no object to build and sort for each event signed or checked. A field
 * missing (a malformed event) goes the general way, which leaves it out.
 */
export function signedText (e: UnsignedEvent): string {
  if (e.body === undefined || e.lc === undefined || e.origin === undefined || e.seq === undefined || e.ts === undefined || e.type === undefined) {
    return canonicalJson({ origin: e.origin, seq: e.seq, ts: e.ts, lc: e.lc, type: e.type, body: e.body })
  }
  return '{"body":' + canonicalJson(e.body) + ',"lc":' + canonicalJson(e.lc) + ',"origin":' + canonicalJson(e.origin) +
    ',"seq":' + canonicalJson(e.seq) + ',"ts":' + canonicalJson(e.ts) + ',"type":' + canonicalJson(e.type) + '}'
}

function signedBytes (e: UnsignedEvent): Uint8Array {
  return encoder.encode(signedText(e))
}

const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url')

/**
 * A signer for one libp2p Ed25519 key using Node's own Ed25519 (the key object is built once;
 * libp2p's key rebuilds it on every signature, which costs about a millisecond).
 */
export class Signer {
  private readonly key: KeyObject
  constructor (privateKey: PrivateKey) {
    const raw = (privateKey as unknown as { raw: Uint8Array }).raw
    if (privateKey.type !== 'Ed25519' || raw.length !== 64) throw new Error('the node key must be an Ed25519 key')
    this.key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(raw.subarray(0, 32)), x: b64url(raw.subarray(32)) }, format: 'jwk' })
  }

  sign (data: Uint8Array): string {
    return cryptoSign(null, data, this.key).toString('base64')
  }
}

const signers = new WeakMap<object, Signer>()

export function signerFor (key: PrivateKey): Signer {
  let s = signers.get(key)
  if (s === undefined) { s = new Signer(key); signers.set(key, s) }
  return s
}

export function signEvent<T extends UnsignedEvent> (key: PrivateKey, e: T): T & { sig: string } {
  return { ...e, sig: signerFor(key).sign(signedBytes(e)) }
}

/** The most events one batch signature covers (its proofs stay short: 8 siblings at most). */
export const MAX_SIGNED_GROUP = 256

/** What a batch signature signs: a domain tag (never the '{' of an event's bytes), the leaf count and the root. */
function batchBytes (count: number, root: Buffer): Uint8Array {
  return Buffer.concat([Buffer.from(`cis-batch/1:${count}:`), root])
}

/**
 * What a chained batch signature signs (format 2): a domain tag, the leaf count, the digest of
 * the origin's previous signed batch (CHAIN_START: none known) and the root. The digest of a
 * batch is the SHA-256 of these bytes, so it covers that batch's own link too.
 */
function chainedBytes (count: number, prev: Buffer, root: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`cis-batch/2:${count}:`), prev, root])
}

/** The link of a node's first batch since it started (no previous batch known). */
export const CHAIN_START: Buffer = Buffer.alloc(32)

/**
 * Sign the events of one write batch (each `sig` is set): one Ed25519 signature per group of
 * up to MAX_SIGNED_GROUP events, over the Merkle root of their bytes (merkle.ts). Each event's
 * `sig` is `SIGNATURE.INDEX.COUNT.SIBLING…` (base64, decimal, base64url), so an event still
 * verifies alone, wherever it goes (a gossip message, a sync pull, a backup, the export). A
 * lone event gets a plain signature of its own bytes, as before batches were signed.
 *
 * With `prev` (what the node's event log does): chained, format 2. Every group, a lone event's
 * too, also signs the digest of the origin's batch before it, carried in each event's `sig` as
 * `SIGNATURE.INDEX.COUNT.pDIGEST.SIBLING…`; the digest of the last group is returned, the
 * `prev` of the node's next batch. A receiver that verified a batch then takes the one it names
 * as previous without an Ed25519 check (verifyEvent): one check for the several batches of an
 * origin in one message, verified newest first (intake.ts).
 */
export function signBatch (key: PrivateKey, events: Array<UnsignedEvent & { sig: string }>, prev?: Buffer): Buffer | undefined {
  const signer = signerFor(key)
  let link = prev
  for (let start = 0; start < events.length; start += MAX_SIGNED_GROUP) {
    const group = events.slice(start, start + MAX_SIGNED_GROUP)
    if (group.length === 1 && link === undefined) { group[0].sig = signer.sign(signedBytes(group[0])); continue }
    const { root, paths } = merkleTree(group.map(e => leafHashOfText(signedText(e))))
    const bytes = link === undefined ? batchBytes(group.length, root) : chainedBytes(group.length, link, root)
    const sig = signer.sign(bytes)
    const head = link === undefined ? [sig, String(group.length)] : [sig, String(group.length), 'p' + link.toString('base64url')]
    group.forEach((e, i) => { e.sig = [head[0], String(i), ...head.slice(1), ...paths[i].map(h => h.toString('base64url'))].join('.') })
    if (link !== undefined) link = hash('sha256', bytes, 'buffer')
  }
  return link
}

const publicKeys = new Map<string, KeyObject | null>()

/** The Ed25519 public key inside a peer ID, as a Node key object (cached). */
export function publicKeyOf (peerId: string): KeyObject | null {
  let pub = publicKeys.get(peerId)
  if (pub !== undefined) return pub
  try {
    const id = peerIdFromString(peerId)
    const raw = (id.publicKey as unknown as { type?: string, raw?: Uint8Array } | undefined)
    pub = raw?.type === 'Ed25519' && raw.raw !== undefined ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw.raw) }, format: 'jwk' }) : null
  } catch {
    pub = null
  }
  if (publicKeys.size > 10_000) publicKeys.clear()
  publicKeys.set(peerId, pub)
  return pub
}

let checks = 0

/** Ed25519 signature checks this process made so far (verifyBytes): `cis_signature_checks_total`. */
export function signatureChecks (): number { return checks }

/** True if `sig` (base64) is `peerId`'s signature over `data`. */
export function verifyBytes (peerId: string, data: Uint8Array, sig: string): boolean {
  const pub = publicKeyOf(peerId)
  if (pub === null) return false
  checks++
  try { return cryptoVerify(null, data, pub, Buffer.from(sig, 'base64')) } catch { return false }
}

/**
 * The trees of batch signatures verified lately, by origin, count, signature and link: their
 * nodes (merkle.ts, KnownNodes). The other events of a batch then verify with a hash or two
 * (reachesKnown) instead of a walk to the root and an Ed25519 check. At most VERIFIED_BATCHES
 * trees (the oldest go): a batch's events arrive together, in one message or one pull.
 */
const verifiedTrees = new Map<string, KnownNodes>()
const VERIFIED_BATCHES = 128

/**
 * `origin digest` of chained batches (format 2) that a verified batch of the same origin
 * names as its previous: the origin signed their digest, so they need no Ed25519 check of their
 * own. At most VOUCHED (the oldest go): the batches of one message are verified newest first.
 */
const vouched = new Set<string>()
const VOUCHED = 1024

const PROOF_NODE = /^[A-Za-z0-9_-]{43}$/
const PROOF_NUMBER = /^\d{1,4}$/
const LINK = /^p[A-Za-z0-9_-]{43}$/
const START_LINK = CHAIN_START.toString('base64url')

function remember (origin: string, digest: string): void {
  if (digest === START_LINK) return
  if (vouched.size >= VOUCHED) vouched.delete(vouched.values().next().value as string)
  vouched.add(`${origin} ${digest}`)
}

/** True if `e.sig` is the origin's signature over the event, alone or as one of a signed batch (signBatch). */
export function verifyEvent (e: CisEvent): boolean {
  if (typeof e.sig !== 'string') return false
  const dot = e.sig.indexOf('.')
  if (dot < 0) return verifyBytes(e.origin, signedBytes(e), e.sig)
  const [sig, indexText, countText, ...rest] = e.sig.split('.')
  const link = rest.length > 0 && LINK.test(rest[0]) ? (rest.shift() as string).slice(1) : undefined
  const path = rest
  if (!PROOF_NUMBER.test(indexText) || !PROOF_NUMBER.test(countText) || path.some(h => !PROOF_NODE.test(h))) return false
  const index = Number(indexText)
  const count = Number(countText)
  if (count > MAX_SIGNED_GROUP) return false
  const leaf = leafHashOfText(signedText(e))
  const batch = `${e.origin} ${count} ${sig} ${link ?? ''}`
  const known = verifiedTrees.get(batch)
  if (known !== undefined && reachesKnown(known, leaf, index, count, path)) return true
  const way = merkleWay(leaf, index, count, path)
  if (way === undefined) return false
  if (link === undefined) {
    if (!verifyBytes(e.origin, batchBytes(count, way.root), sig)) return false
  } else {
    const bytes = chainedBytes(count, Buffer.from(link, 'base64url'), way.root)
    if (!vouched.has(`${e.origin} ${hash('sha256', bytes, 'base64url')}`) && !verifyBytes(e.origin, bytes, sig)) return false
    remember(e.origin, link)
  }
  if (count === 1) return true // (no other event shares its tree)
  let tree = known
  if (tree === undefined) {
    if (verifiedTrees.size >= VERIFIED_BATCHES) verifiedTrees.delete(verifiedTrees.keys().next().value as string)
    verifiedTrees.set(batch, tree = new Map())
  }
  for (const [at, node] of way.nodes) tree.set(at, node)
  return true
}
