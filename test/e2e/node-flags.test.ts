// Issue 12 (idle memory): `cis agent` runs node with V8's young generation capped at 8 MB a
// semi-space, set on the first line of bin/cis.js (`#!/usr/bin/env -S node …`); node 20 lets
// it grow to 16 MB a semi-space, ~15 MB more resident in an idle agent. The helper that
// starts the tests' agents reads the same line, so tests and benches run what users run.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { CIS_NODE_FLAGS, api, cleanup, nodeFlagsOf, startAgent, waitFinal } from '../helpers/agent.js'
import { parsePromText, sampleValue } from '../helpers/prom-text.js'

test('issue 12: the node flags are read from a `#!/usr/bin/env -S node` line, and nothing else', () => {
  assert.deepEqual(nodeFlagsOf('#!/usr/bin/env -S node --max-semi-space-size=8'), ['--max-semi-space-size=8'])
  assert.deepEqual(nodeFlagsOf('#!/usr/bin/env -S node  --a=1 --b'), ['--a=1', '--b'])
  assert.deepEqual(nodeFlagsOf('#!/usr/bin/env node'), [])
  assert.deepEqual(nodeFlagsOf('#!/usr/bin/env -S node script.js'), [])
  assert.deepEqual(nodeFlagsOf('// not a shebang'), [])
  assert.ok(CIS_NODE_FLAGS.includes('--max-semi-space-size=8'), `bin/cis.js's first line: ${JSON.stringify(CIS_NODE_FLAGS)}`)
})

test('issue 12: `cis agent` started as an executable runs node with the young generation capped, and it stays capped under work', { timeout: 90_000 }, async () => {
  const a = await startAgent({ name: 'capped', asExecutable: true, args: ['--resource', 'slot=2'] })
  try {
    const pid = a.proc.pid as number
    // env(1) executes node in the same process: its command line carries the flags.
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    assert.ok(argv.includes('--max-semi-space-size=8'), `the agent's command line: ${argv.join(' ')}`)
    // Some work first (a joblist of 20 jobs), then the new space as V8 reports it.
    const jobs = Array.from({ length: 20 }, (_, i) => ({ name: `j${i}`, run: 'true', needs: { slot: 1 } }))
    const r = await api(a.url, '/v1/joblists', { body: { name: 'warm', stages: [{ name: 'all', jobs }] } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    assert.equal((await waitFinal(a.url, r.body.id, 60_000)).state, 'succeeded')
    const families = parsePromText((await api(a.url, '/metrics')).body as string)
    const newSpace = sampleValue(families, 'nodejs_heap_space_size_total_bytes', { space: 'new' })
    assert.ok(newSpace !== undefined && newSpace > 0, 'the agent reports its new space')
    assert.ok(newSpace <= 16 * 1024 * 1024, `new space ${newSpace} bytes: more than two 8 MB semi-spaces`)
  } finally {
    await a.stop()
    cleanup(a.dataDir)
  }
})
