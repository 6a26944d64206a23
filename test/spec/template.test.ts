import { test } from 'node:test'
import assert from 'node:assert/strict'
import { replaceLiteral, renderJobFiles } from '../../src/spec/index.js'
import type { JobSpec } from '../../src/spec/index.js'

const job = (files: JobSpec['files'], replace: Record<string, string> = {}): JobSpec => ({ name: 'j', run: 'x', needs: {}, env: {}, retries: 0, replace, files })

test('R6-2: a file is a template whose patterns are replaced', () => {
  assert.equal(replaceLiteral('version=@V@ and @V@ again', { '@V@': '1.4' }), 'version=1.4 and 1.4 again')
})

test('R6-3: the job map applies to all files of the job', () => {
  const out = renderJobFiles({}, job([{ path: 'a', content: '@X@', replace: {} }, { path: 'b', content: 'b=@X@', replace: {} }], { '@X@': 'y' }))
  assert.deepEqual(out.map(f => f.content), ['y', 'b=y'])
})

test('R6-4: a file map applies only to its own file and wins over the job and joblist maps', () => {
  const out = renderJobFiles({ '@A@': 'joblist', '@B@': 'joblist' }, job([
    { path: 'a', content: '@A@ @B@ @C@', replace: { '@A@': 'file-a' } },
    { path: 'b', content: '@A@ @B@ @C@', replace: {} }
  ], { '@B@': 'job', '@C@': 'job-c' }))
  assert.equal(out[0].content, 'file-a job job-c')
  assert.equal(out[1].content, 'joblist job job-c')
})

test('R6-5: patterns are literal strings, never regular expressions; values are never interpreted', () => {
  assert.equal(replaceLiteral('a.b axb', { '.': '!' }), 'a!b axb')
  assert.equal(replaceLiteral('x+y (z) [w] ^$', { 'x+y': '1', '(z)': '2', '[w]': '3', '^$': '4' }), '1 2 3 4')
  assert.equal(replaceLiteral('@V@', { '@V@': '$& $1 $$' }), '$& $1 $$')
  assert.equal(replaceLiteral('\\d+', { '\\d+': 'digits' }), 'digits')
})

test('R6-5: one pass: a replaced value is not scanned again; the longest pattern wins at a position', () => {
  assert.equal(replaceLiteral('A', { A: 'B', B: 'C' }), 'B')
  assert.equal(replaceLiteral('@VERSION@ @V@', { '@V@': 'short', '@VERSION@': 'long' }), 'long short')
  assert.equal(replaceLiteral('keep', { '': 'never' }), 'keep')
})

test('R6-1: files keep their paths and modes', () => {
  const out = renderJobFiles({}, job([{ path: 'bin/run.sh', content: '#!/bin/sh', replace: {}, mode: 0o755 }, { path: 'x', content: '', replace: {} }]))
  assert.deepEqual(out.map(f => [f.path, f.mode]), [['bin/run.sh', 0o755], ['x', 0o644]])
})
