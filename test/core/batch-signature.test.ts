// Issue 12 (R1-4): one signature per write batch. The events of a batch are signed once, over
// the Merkle root of their bytes; each event carries its proof in `sig` and verifies alone.
// Whatever is changed — a body, an index, a sibling, the count, the origin, a proof moved to
// another event — it no longer verifies; malformed signatures are refused without a throw.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CHAIN_START, MAX_SIGNED_GROUP, signBatch, signEvent, signatureChecks, verifyBytes, verifyEvent } from '../../src/identity/keys.js'
import { leafHash, leafHashOfText, merkleRoot, merkleTree, merkleWay, reachesKnown } from '../../src/identity/merkle.js'
import { canonicalJson } from '../../src/util/canonical.js'
import { Random } from '../../src/sim/random.js'
import type { CisEvent } from '../../src/events/types.js'

async function identity (): Promise<{ key: any, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key as never).toString() }
}

function events (origin: string, n: number, from = 1): CisEvent[] {
  return Array.from({ length: n }, (_, i) => ({ origin, seq: from + i, ts: 1_767_225_600_000 + i, lc: 0, type: 'ack', body: { ids: [`j-${from + i}`], note: 'é ✓' }, sig: '' }) as unknown as CisEvent)
}

test('R1-4 issue 12: every Merkle proof leads to the root, for 1 to 40 leaves; a wrong index or sibling, or one too many, does not', () => {
  for (let n = 1; n <= 40; n++) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
    const { root, paths } = merkleTree(leaves)
    for (let i = 0; i < n; i++) {
      assert.deepEqual(merkleRoot(leaves[i], i, n, paths[i]), root, `leaf ${i} of ${n}`)
      if (n > 1) {
        const other = merkleRoot(leaves[i], (i + 1) % n, n, paths[i])
        assert.ok(other === undefined || !other.equals(root), `leaf ${i} of ${n} at another index`)
        const bent = paths[i].map((h, k) => k === 0 ? leafHash(h) : h)
        assert.ok(!merkleRoot(leaves[i], i, n, bent)?.equals(root), 'a changed sibling')
      }
      // (Another count may lead to the same root — the signature covers the count: keys.ts.)
      assert.equal(merkleRoot(leaves[i], i, n, [...paths[i], leaves[i]]), undefined, 'a sibling too many')
    }
  }
})

test('R1-4 issue 12: a text\'s leaf hash is the leaf hash of its UTF-8 bytes', () => {
  for (const t of ['', 'a', '{"k":"é ✓ 🚀"}', 'x'.repeat(5000), '\u0000\u0001']) assert.deepEqual(leafHashOfText(t), leafHash(Buffer.from(t, 'utf8')), JSON.stringify(t.slice(0, 20)))
})

test('R1-4 issue 12: a signed batch of events: each verifies alone; one Ed25519 signature for the batch; a lone event gets a plain signature', async () => {
  const me = await identity()
  for (const n of [1, 2, 3, 7, 8, 9, 64]) {
    const batch = events(me.id, n)
    signBatch(me.key, batch)
    const sigs = new Set(batch.map(e => e.sig.split('.')[0]))
    assert.equal(sigs.size, 1, `one signature for ${n} events`)
    if (n === 1) assert.ok(!batch[0].sig.includes('.'), 'a lone event: a plain signature')
    for (const e of batch) assert.equal(verifyEvent(e), true, `event ${e.seq} of ${n}`)
    // As received: a copy through JSON verifies too.
    for (const e of batch) assert.equal(verifyEvent(JSON.parse(JSON.stringify(e))), true)
  }
  // More than a group: one signature per MAX_SIGNED_GROUP events.
  const big = events(me.id, MAX_SIGNED_GROUP + 5)
  signBatch(me.key, big)
  assert.equal(new Set(big.map(e => e.sig.split('.')[0])).size, 2)
  assert.ok(big.every(verifyEvent))
  // Events signed one by one (as stores written before batch signatures hold them) still verify.
  const old = signEvent(me.key, { origin: me.id, seq: 1, ts: 1, lc: 0, type: 'ack', body: { ids: ['x'] } } as any) as unknown as CisEvent
  assert.equal(verifyEvent(old), true)
})

test('R1-4 issue 12: a batch-signed event that was changed, moved or forged does not verify', async () => {
  const me = await identity()
  const mallory = await identity()
  const batch = events(me.id, 5)
  signBatch(me.key, batch)
  const [a, b] = batch
  assert.equal(verifyEvent({ ...a, body: { ids: ['other'] } } as CisEvent), false, 'changed body')
  assert.equal(verifyEvent({ ...a, seq: 99 }), false, 'changed seq')
  assert.equal(verifyEvent({ ...a, sig: b.sig }), false, 'another event\'s proof')
  assert.equal(verifyEvent({ ...a, origin: mallory.id }), false, 'another origin')
  const parts = a.sig.split('.')
  assert.equal(verifyEvent({ ...a, sig: [parts[0], '1', ...parts.slice(2)].join('.') }), false, 'changed index')
  assert.equal(verifyEvent({ ...a, sig: [...parts.slice(0, 2), '6', ...parts.slice(3)].join('.') }), false, 'changed count')
  assert.equal(verifyEvent({ ...a, sig: parts.slice(0, -1).join('.') }), false, 'a sibling left out')
  // Mallory signs her own batch and claims one of its events is from me.
  const forged = events(me.id, 3, 100)
  signBatch(mallory.key, forged)
  assert.ok(forged.every(e => !verifyEvent(e)), 'a batch signed by another key')
  // Malformed signatures: false, never a throw.
  for (const sig of ['', '.', '...', 'a.b.c', `${parts[0]}.0.2.!!`, `${parts[0]}.0.99999.${parts[3]}`, `${parts[0]}.-1.2.${parts[3]}`, 'x'.repeat(1000), `${parts[0]}.0.2.${'A'.repeat(43)}.${'A'.repeat(43)}`]) {
    assert.equal(verifyEvent({ ...a, sig }), false, `sig ${sig.slice(0, 30)}`)
  }
  assert.equal(verifyEvent({ ...a, sig: 42 as unknown as string }), false)
  // The genuine one still verifies after all that (the cache holds nothing false).
  assert.equal(verifyEvent(a), true)
})

test('R1-4 issue 12: a verified tree\'s nodes take every other proof of it in a hash or two; a proof changed anywhere above them does not pass', () => {
  for (let n = 2; n <= 40; n++) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
    const { root, paths } = merkleTree(leaves)
    const texts = paths.map(p => p.map(h => h.toString('base64url')))
    const way = merkleWay(leaves[0], 0, n, texts[0])
    assert.ok(way !== undefined && way.root.equals(root), `leaf 0 of ${n} walks to the root`)
    const known = new Map(way.nodes)
    for (let i = 0; i < n; i++) {
      assert.equal(reachesKnown(known, leaves[i], i, n, texts[i]), true, `leaf ${i} of ${n} meets the known tree`)
      assert.equal(reachesKnown(known, leaves[i], i, n, [...texts[i], texts[i][0] ?? texts[0][0]]), false, `leaf ${i} of ${n}, a sibling too many`)
      if (texts[i].length > 0) {
        for (let k = 0; k < texts[i].length; k++) {
          const bent = texts[i].map((h, m) => m === k ? leafHash(Buffer.from(h)).toString('base64url') : h)
          assert.equal(reachesKnown(known, leaves[i], i, n, bent), false, `leaf ${i} of ${n}, sibling ${k} changed`)
        }
        assert.equal(reachesKnown(known, leaves[i], i, n, texts[i].slice(0, -1)), false, `leaf ${i} of ${n}, a sibling left out`)
      }
      assert.equal(reachesKnown(known, leafHash(Buffer.from(`other ${i}`)), i, n, texts[i]), false, `another leaf at ${i} of ${n}`)
    }
  }
})

/** The reference: an event's batch proof walked to the root and the root's signature checked, nothing remembered. */
function verifiedAlone (e: CisEvent): boolean {
  const [sig, index, count, ...path] = e.sig.split('.')
  if (path.some(h => !/^[A-Za-z0-9_-]{43}$/.test(h)) || !/^\d{1,4}$/.test(index) || !/^\d{1,4}$/.test(count)) return false
  const text = canonicalJson({ origin: e.origin, seq: e.seq, ts: e.ts, lc: e.lc, type: e.type, body: e.body })
  const root = merkleRoot(leafHash(Buffer.from(text)), Number(index), Number(count), path.map(h => Buffer.from(h, 'base64url')))
  return root !== undefined && verifyBytes(e.origin, Buffer.concat([Buffer.from(`cis-batch/1:${count}:`), root]), sig)
}

test('R1-4 issue 12 (property): with the trees it remembers, verifyEvent decides exactly what a walk of each proof alone decides', async () => {
  const me = await identity()
  const random = new Random(12)
  const rnd = (): number => random.next()
  let seq = 1
  let accepted = 0
  let refused = 0
  for (let round = 0; round < 60; round++) {
    const n = 2 + Math.floor(rnd() * 30)
    const batch = events(me.id, n, seq)
    seq += n
    signBatch(me.key, batch)
    // The genuine events in a random order, each followed now and then by a changed copy.
    const order = batch.map((_, i) => i).sort(() => rnd() - 0.5)
    for (const i of order) {
      const e = batch[i]
      const [sig, index, count, ...path] = e.sig.split('.')
      const variants: CisEvent[] = [e]
      if (rnd() < 0.5 && path.length > 0) {
        const k = Math.floor(rnd() * path.length)
        variants.push({ ...e, sig: [sig, index, count, ...path.map((h, m) => m === k ? batch[(i + 1) % n].sig.split('.').at(-1) as string : h)].join('.') })
      }
      if (rnd() < 0.3) variants.push({ ...e, sig: [sig, index, count, ...path, path[0] ?? 'A'.repeat(43)].join('.') })
      if (rnd() < 0.3) variants.push({ ...e, sig: [sig, String((Number(index) + 1) % n), count, ...path].join('.') })
      if (rnd() < 0.3) variants.push({ ...e, sig: [sig, index, String(n + 1), ...path].join('.') })
      if (rnd() < 0.3) variants.push({ ...e, body: { ids: ['changed'] } } as CisEvent)
      if (rnd() < 0.3) variants.push({ ...e, sig: batch[(i + 1) % n].sig })
      for (const v of variants.sort(() => rnd() - 0.5)) {
        const expected = verifiedAlone(v)
        assert.equal(verifyEvent(v), expected, `round ${round}, event ${i} of ${n}: ${v === e ? 'genuine' : 'changed'}`)
        if (expected) accepted++; else refused++
      }
    }
  }
  assert.ok(accepted > 500 && refused > 100, `both kinds were tried (${accepted} accepted, ${refused} refused)`)
})

/** Batches of `sizes` events signed one after the other as a node's event log signs them (chained). */
function chainedBatches (me: { key: any, id: string }, sizes: number[]): CisEvent[][] {
  let link = CHAIN_START
  let seq = 1
  return sizes.map(n => {
    const batch = events(me.id, n, seq)
    seq += n
    link = signBatch(me.key, batch, link) as Buffer
    return batch
  })
}

test('R1-4 issue 12: chained batches: each event still verifies alone; verified newest first, the batches of an origin cost one Ed25519 check', async () => {
  const me = await identity()
  const sizes = [1, 2, 3, 1, 5]
  const alone = chainedBatches(me, sizes)
  for (const b of alone) for (const e of b) assert.match(e.sig, /^[^.]+\.\d+\.\d+\.p[A-Za-z0-9_-]{43}(\.|$)/, 'format 2: SIG.INDEX.COUNT.pLINK…')
  // Oldest first (as a sync pull brings them): one check a batch.
  let before = signatureChecks()
  for (const b of alone) for (const e of b) assert.equal(verifyEvent(JSON.parse(JSON.stringify(e))), true, `event ${e.seq}`)
  assert.equal(signatureChecks() - before, sizes.length, 'oldest first: a check a batch')
  // Newest first (as the intake takes a message): the newest batch vouches for the one before it, and so on.
  const chain = chainedBatches(await identity(), sizes)
  before = signatureChecks()
  for (const e of chain.flat().reverse()) assert.equal(verifyEvent(JSON.parse(JSON.stringify(e))), true, `event ${e.seq}`)
  assert.equal(signatureChecks() - before, 1, 'newest first: one check for every batch')
})

test('R1-4 issue 12: a vouched-for batch is taken only as its origin signed it: a changed body, link, count or origin, or a batch signed by another key, does not verify', async () => {
  const me = await identity()
  const mallory = await identity()
  const [older, newer] = chainedBatches(me, [3, 2])
  assert.equal(verifyEvent(newer[1]), true)
  // Each variant in a fresh copy, and after the genuine newer batch has vouched for the older one.
  const parts = older[0].sig.split('.')
  const otherLink = 'p' + Buffer.alloc(32, 7).toString('base64url')
  const variants: Array<[string, CisEvent]> = [
    ['changed body', { ...older[0], body: { ids: ['other'] } } as CisEvent],
    ['changed seq', { ...older[0], seq: 77 }],
    ['changed link', { ...older[0], sig: [...parts.slice(0, 3), otherLink, ...parts.slice(4)].join('.') }],
    ['link left out', { ...older[0], sig: [...parts.slice(0, 3), ...parts.slice(4)].join('.') }],
    ['changed count', { ...older[0], sig: [parts[0], parts[1], '4', ...parts.slice(3)].join('.') }],
    ['another origin', { ...older[0], origin: mallory.id }],
    ['another event\'s proof', { ...older[0], sig: older[1].sig }]
  ]
  for (const [what, v] of variants) assert.equal(verifyEvent(v), false, what)
  // Mallory's own chain cannot borrow me's vouching, nor me's link.
  const forged = events(me.id, 3, 1).map(e => ({ ...e, body: { ids: ['forged'] } }) as CisEvent)
  signBatch(mallory.key, forged, Buffer.from(parts[3].slice(1), 'base64url'))
  assert.ok(forged.every(e => !verifyEvent(e)), 'a batch signed by another key')
  for (const e of older) assert.equal(verifyEvent(e), true, `genuine event ${e.seq}`)
})
