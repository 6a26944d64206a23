// R4-4: joblists.log gets one line per finished joblist, also across restarts: at start the node
// learns which are logged (reading each line's ID without parsing the whole line) and adds only
// the ones a crash left out; a torn last line does not stop it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pino } from 'pino'
import { NodeRecords } from '../../src/node/records.js'
import { Harness, job, joblist } from '../helpers/harness.js'
import { cleanup, tempDir } from '../helpers/agent.js'

test('R4-4: a restart logs only the finished joblists not in joblists.log yet; a torn last line is skipped', async () => {
  const h = new Harness()
  h.node('A', { slot: ['s0', 's1', 's2'] })
  const ids: string[] = []
  for (const name of ['one', 'two', 'three']) {
    const req = h.submit(joblist(name, [['s', [job('x')]]]), 'A')
    h.settle()
    ids.push(h.joblistId(req))
  }
  h.runAll()
  h.settle()
  const dir = tempDir()
  try {
    const first = new NodeRecords(dir, pino({ level: 'silent' }))
    const logged = h.state.joblists[ids[0]]
    first.joblistFinished(h.state, logged)
    await first.stop()
    appendFileSync(join(dir, 'joblists.log'), '{"at":"2026-11-30T00:00:00.000Z","id":"torn-')
    const again = new NodeRecords(dir, pino({ level: 'silent' }))
    await again.start(h.state)
    await again.stop()
    const lines = readFileSync(join(dir, 'joblists.log'), 'utf8').split('\n').filter(l => l.startsWith('{"at"') && l.endsWith('}'))
    const seen = lines.map(l => (JSON.parse(l) as { id: string }).id)
    assert.deepEqual(seen.sort(), [...ids].sort(), 'each finished joblist once: the one logged before is not logged again')
  } finally { cleanup(dir) }
})
