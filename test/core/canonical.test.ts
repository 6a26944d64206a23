// Canonical JSON is what every event's signature covers: its bytes must never change, or
// events signed before would stop verifying. The fast form must agree with the plain one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { canonicalJson } from '../../src/util/canonical.js'
import { signedText } from '../../src/identity/keys.js'

/** The plain definition (the form events were first signed with). */
function reference (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
    return value === undefined ? 'null' : JSON.stringify(value)
  }
  if (Array.isArray(value)) return '[' + value.map(reference).join(',') + ']'
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).filter(k => obj[k] !== undefined).sort()
  return '{' + keys.map(k => JSON.stringify(k) + ':' + reference(obj[k])).join(',') + '}'
}

test('R1-5 (property): canonical JSON is the same bytes as its plain definition, for any value', () => {
  const value = fc.letrec(tie => ({
    any: fc.oneof(
      fc.constant(null), fc.constant(undefined), fc.boolean(), fc.double(), fc.integer(), fc.string(), fc.string({ unit: 'grapheme' }),
      fc.array(tie('any'), { maxLength: 5 }),
      fc.dictionary(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('origin', 'seq', '"q"', '\\', 'é', '', '10', '2', 'Z', 'a')), tie('any'), { maxKeys: 12 })
    )
  })).any
  fc.assert(fc.property(value, v => { assert.equal(canonicalJson(v), reference(v)) }), { seed: 3, numRuns: 2000 })
  // The same values parsed back from their canonical text (keys already in order): the same bytes.
  fc.assert(fc.property(value, v => {
    if (typeof v !== 'object' || v === null) return
    const sorted = JSON.parse(canonicalJson(v)) as unknown
    assert.equal(canonicalJson(sorted), reference(v))
  }), { seed: 5, numRuns: 2000 })
})

test('R1-5: values JSON.stringify writes its own way (toJSON, functions, inherited keys, integer-like keys): the same bytes as the plain definition', () => {
  const odd = [
    { a: 1, b: new Date(0) }, // toJSON
    { a: { toJSON: () => 'x' }, b: 2 },
    { a: 1, b: () => 1 }, // a function member
    { a: Buffer.from('ab'), b: [1, 2] },
    Object.assign(Object.create({ inherited: 1 }) as object, { a: 1, b: 2 }),
    { a: [{ b: 1, c: 2 }], d: { e: 1, f: NaN, g: undefined, h: -0 } },
    { 1: 'x', 10: 'y', 2: 'z' }, // integer-like keys: own order 1, 2, 10; code-unit order 1, 10, 2
    { a: Object.assign([1, 2], { toJSON: () => 'x' }) } // an array with a toJSON of its own
  ]
  for (const v of odd) assert.equal(canonicalJson(v), reference(v))
  assert.equal(canonicalJson({ 1: 'x', 10: 'y', 2: 'z' }), '{"1":"x","10":"y","2":"z"}')
  assert.equal(canonicalJson({ a: Object.assign([1, 2], { toJSON: () => 'x' }) }), '{"a":[1,2]}')
  assert.equal(canonicalJson({ a: Object.setPrototypeOf([1, 2], { toJSON: () => 'y' }) as unknown }), '{"a":[1,2]}', 'an array of another prototype')
})

test('R1-5: canonical JSON sorts keys, drops undefined members, and writes no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, undefined, { d: undefined, c: 'x' }], e: NaN }), '{"a":[1,null,{"c":"x"}],"b":1,"e":null}')
  assert.equal(canonicalJson({ a: undefined }), '{}')
  assert.equal(canonicalJson([]), '[]')
})

test('R1-5: a large object (a peer can send one; sorted by the built-in sort, not by insertion): the same bytes', () => {
  const big: Record<string, number> = {}
  for (let i = 5000; i > 0; i--) big[`k${i}`] = i
  assert.equal(canonicalJson(big), reference(big))
  assert.equal(canonicalJson(JSON.parse(canonicalJson(big))), reference(big))
})

test('R1-5 (property): what an event\'s signature covers (signedText, written out) is the canonical JSON of its six fields, for any values, missing ones too', () => {
  const any = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.double(), fc.integer(), fc.string(), fc.array(fc.integer(), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('jobId', 'b', 'a', '10', '2', 'é', ''), fc.oneof(fc.integer(), fc.string(), fc.constant(undefined)), { maxKeys: 6 }))
  const event = fc.record({ origin: any, seq: any, ts: any, lc: any, type: any, body: any, sig: any, extra: any }, { requiredKeys: [] })
  fc.assert(fc.property(event, e => {
    const x = e as Record<string, unknown>
    assert.equal(signedText(e as never), reference({ origin: x.origin, seq: x.seq, ts: x.ts, lc: x.lc, type: x.type, body: x.body }))
  }), { seed: 5, numRuns: 3000 })
})
