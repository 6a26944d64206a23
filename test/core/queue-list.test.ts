import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { QueueList, isBoundary } from '../../src/state/queue-list.js'

const keyOf = (id: string): number => Number(id.slice(2))
const before = (a: number, b: number): boolean => a < b

/** The chunks are a function of the IDs alone: cut after each boundary ID, nowhere else, none empty. */
function assertCanonical (q: QueueList, how: string): void {
  const fresh = QueueList.from(q)
  assert.deepEqual(q.chunks, fresh.chunks, `${how}: the chunks are those of the IDs`)
  assert.equal(q.length, fresh.length, how)
  for (const [c, chunk] of q.chunks.entries()) {
    assert.ok(chunk.length > 0, `${how}: no empty chunk`)
    chunk.forEach((id, i) => { if (i < chunk.length - 1) assert.ok(!isBoundary(id), `${how}: a boundary inside chunk ${c}`) })
    if (c < q.chunks.length - 1) assert.ok(isBoundary(chunk[chunk.length - 1]), `${how}: chunk ${c} ends with a boundary`)
  }
}

test('G-4 / issue 12 (property): the queue in chunks holds what a sorted array holds, through any inserts and removals, and its chunks are those of its IDs', () => {
  // The IDs that end a chunk, often: taking one out joins two chunks, putting one in cuts one.
  const boundaries = Array.from({ length: 3001 }, (_, n) => n).filter(n => isBoundary(`m-${n}`))
  assert.ok(boundaries.length > 5, `${boundaries.length} boundary IDs among m-0..m-3000`)
  const op = fc.record({ insert: fc.boolean(), n: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constantFrom(...boundaries)) })
  fc.assert(fc.property(fc.array(op, { maxLength: 400 }), fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 1500 }), (ops, start) => {
    const initial = [...new Set(start)].sort((a, b) => a - b).map(n => `m-${n}`)
    const q = QueueList.from(initial)
    const model = [...initial]
    for (const [i, o] of ops.entries()) {
      const id = `m-${o.n}`
      const at = model.findIndex(x => keyOf(x) >= o.n)
      if (o.insert) {
        if (model[at] !== id) model.splice(at < 0 ? model.length : at, 0, id)
        q.insert(id, keyOf, before)
      } else {
        const there = model[at] === id
        if (there) model.splice(at, 1)
        // Every other removal without the key (a walk), as the reducer does for a joblist replaced.
        assert.equal(i % 2 === 0 ? q.remove(id, keyOf, before) : q.remove(id), there, `removing ${id}`)
      }
      assert.equal(q.length, model.length)
    }
    assert.deepEqual([...q], model)
    assert.deepEqual(q.toArray(), model)
    assert.deepEqual(JSON.parse(JSON.stringify(q)), model, 'its JSON is the array of IDs')
    assert.deepEqual(q.map(x => x), model)
    assert.deepEqual(q.filter(x => keyOf(x) % 2 === 0), model.filter(x => keyOf(x) % 2 === 0))
    for (const k of [0, 1, model.length - 1, -1, -model.length, model.length, -model.length - 1]) assert.equal(q.at(k), model.at(k), `at(${k})`)
    if (model.length > 0) assert.ok(q.includes(model[model.length >> 1]))
    assert.ok(!q.includes('m-x'))
    assertCanonical(q, 'after the operations')
  }), { seed: 12, numRuns: 300 })
})

test('G-4 / issue 12: a long queue is cut into chunks of a few hundred, so one removal moves a chunk, not the queue', () => {
  const ids = Array.from({ length: 100_000 }, (_, i) => `kx3f-${i + 1}`)
  const q = QueueList.from(ids)
  const sizes = q.chunks.map(c => c.length)
  assert.ok(q.chunks.length > 100_000 / 2048, `${q.chunks.length} chunks`)
  assert.ok(Math.max(...sizes) < 5000, `the longest chunk holds ${Math.max(...sizes)}`)
  // Removing the first IDs one by one (a FIFO queue's joblists ending) leaves the same list as a splice would.
  const key = (id: string): number => Number(id.slice(5))
  for (let i = 0; i < 700; i++) assert.ok(q.remove(ids[i], key, (a, b) => a < b))
  assert.deepEqual(q.toArray(), ids.slice(700))
  assertCanonical(q, 'after 700 removals at the front')
  // The boundary IDs of the middle out (two chunks join each time), then back in (a chunk is cut).
  const middle = ids.slice(40_000, 60_000).filter(isBoundary)
  assert.ok(middle.length > 20)
  for (const id of middle) assert.ok(q.remove(id, key, (a, b) => a < b))
  assert.deepEqual(q.toArray(), ids.slice(700).filter(id => !middle.includes(id)))
  assertCanonical(q, 'after the middle boundaries went')
  for (const id of middle.reverse()) q.insert(id, key, (a, b) => a < b)
  assert.deepEqual(q.toArray(), ids.slice(700))
  assertCanonical(q, 'after they came back')
})
