// Canonical JSON is what every event's signature covers: its bytes must never change, or
// events signed before would stop verifying. The fast form must agree with the plain one.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { canonicalJson } from '../../src/util/canonical.js'

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
})

test('R1-5: canonical JSON sorts keys, drops undefined members, and writes no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: [1, undefined, { d: undefined, c: 'x' }], e: NaN }), '{"a":[1,null,{"c":"x"}],"b":1,"e":null}')
  assert.equal(canonicalJson({ a: undefined }), '{}')
  assert.equal(canonicalJson([]), '[]')
})
