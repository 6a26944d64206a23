// The progress line of the admin commands (src/cli/count-progress.ts), on a fake clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CountProgress, size } from '../../src/cli/count-progress.js'

function fake (tty: boolean): { stream: { isTTY: boolean, write: (s: string) => void }, out: string[], clock: { t: number }, now: () => number } {
  const out: string[] = []
  const clock = { t: 0 }
  return { stream: { isTTY: tty, write: s => { out.push(s) } }, out, clock, now: () => clock.t }
}

test('progress: quiet during a short run; then at most one line per interval; the last line has the final count', () => {
  const f = fake(false)
  const p = new CountProgress('backup', 5000, 'events', { stream: f.stream, now: f.now, quietMs: 1000, everyMs: 5000 })
  for (let i = 1; i <= 100; i++) { f.clock.t = i * 5; p.update(i) } // 0.5 s: nothing
  assert.deepEqual(f.out, [])
  f.clock.t = 1000
  p.update(200)
  for (let i = 201; i <= 300; i++) { f.clock.t = 1000 + (i - 200) * 10; p.update(i) } // 1 s more: within the interval
  f.clock.t = 6000
  p.update(4000)
  p.end(5000)
  assert.deepEqual(f.out, ['backup: 200 / 5,000 events (4%)\n', 'backup: 4,000 / 5,000 events (80%)\n', 'backup: 5,000 / 5,000 events (100%)\n'])
})

test('progress: a run that ends while quiet prints nothing at all', () => {
  const f = fake(true)
  const p = new CountProgress('restore', 10, 'events', { stream: f.stream, now: f.now })
  p.update(5)
  f.clock.t = 999
  p.end(10)
  assert.deepEqual(f.out, [])
})

test('progress: on a terminal the line is redrawn in place, and ended with a newline', () => {
  const f = fake(true)
  const p = new CountProgress('restore', 10, 'events', { stream: f.stream, now: f.now, quietMs: 0 })
  p.update(1)
  f.clock.t = 100
  p.update(2) // within 250 ms: not drawn
  f.clock.t = 300
  p.update(3)
  p.end(10)
  assert.deepEqual(f.out, ['\r\u001b[2Krestore: 1 / 10 events (10%)', '\r\u001b[2Krestore: 3 / 10 events (30%)', '\r\u001b[2Krestore: 10 / 10 events (100%)', '\n'])
})

test('size: bytes for people', () => {
  assert.equal(size(512), '512 B')
  assert.equal(size(2640), '2.6 KB')
  assert.equal(size(5 * 1024 * 1024), '5.0 MB')
  assert.equal(size(3 * 1024 ** 3), '3.0 GB')
})
