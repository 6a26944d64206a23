// Makes test/fixtures/store-v1: a small LevelDB store as a real agent leaves it, for the
// G-6 test that today's code still opens a store an older cisystem wrote (and upgrades it).
//
//   npm run build && node scripts/make-store-fixture.mjs [OUT_DIR]
//
// It starts `cis agent` (loopback only, no mDNS) on a temporary data directory, submits two
// joblists (one succeeds, one fails), waits until both end, stops the agent (SIGTERM: it
// writes its final snapshot), then copies the store directory to OUT_DIR/store and writes
// OUT_DIR/fixture.json (what the test expects to find). LevelDB's LOCK and LOG files are
// left out: LOCK is made on open, LOG is only LevelDB's own diagnostics. The node key is left
// out too (no private key in the repository): the agent that opens the fixture is a new node.
//
// A fixture is a frozen artifact: it stands for the schema it was made with. Run this only
// to make the fixture of a NEW schema (e.g. OUT_DIR test/fixtures/store-v2), never to remake
// an old one with newer code.
import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(fileURLToPath(import.meta.url), '../..')
const out = resolve(process.argv[2] ?? join(ROOT, 'test', 'fixtures', 'store-v1'))
const tmp = mkdtempSync(join(tmpdir(), 'cis-fixture-'))
const data = join(tmp, 'data')

const sleep = async ms => await new Promise(resolve => setTimeout(resolve, ms))
async function waitFor (what, check, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    try { const v = await check(); if (v !== undefined) return v } catch { /* not yet */ }
    await sleep(100)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const agent = spawn(process.execPath, [join(ROOT, 'bin', 'cis.js'), 'agent', '--data', data, '--api', '127.0.0.1:0', '--name', 'fixture-node',
  '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns', '--resource', 'slot=1', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] })
const exited = new Promise(resolve => agent.once('exit', resolve))
try {
  const { api, id: node } = await waitFor('the agent to start', () => JSON.parse(readFileSync(join(data, 'agent.json'), 'utf8')))
  const call = async (path, body) => {
    const r = await fetch(api + path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return await r.json()
  }
  const specs = [
    { name: 'fixture-ok', stages: [{ name: 'build', jobs: [{ name: 'compile', run: 'echo built' }] }, { name: 'test', jobs: [{ name: 'unit', run: 'echo tested' }] }] },
    { name: 'fixture-fails', stages: [{ name: 's', jobs: [{ name: 'boom', run: 'echo kaput >&2; exit 3' }] }] }
  ]
  const joblists = []
  for (const spec of specs) {
    const { id } = await call('/v1/joblists', spec)
    const jl = await waitFor(`${spec.name} to end`, async () => {
      const j = await call(`/v1/joblists/${id}`)
      return ['succeeded', 'failed', 'stopped'].includes(j.state) ? j : undefined
    })
    joblists.push({ id, name: jl.name, state: jl.state })
  }
  const { origins } = await call('/v1/state?hash=false')
  agent.kill('SIGTERM')
  await exited
  rmSync(out, { recursive: true, force: true })
  mkdirSync(join(out, 'store'), { recursive: true })
  for (const f of readdirSync(join(data, 'store'))) {
    if (f === 'LOCK' || f.startsWith('LOG')) continue
    cpSync(join(data, 'store', f), join(out, 'store', f))
  }
  writeFileSync(join(out, 'fixture.json'), JSON.stringify({ schema: 'before versioning (the layout of schema 1, no schema key)', node, joblists, origins }, null, 2) + '\n')
  console.log(`wrote ${out}: ${joblists.map(j => `${j.name} ${j.state}`).join(', ')}`)
} finally {
  if (agent.exitCode === null) { agent.kill('SIGKILL'); await exited }
  rmSync(tmp, { recursive: true, force: true })
}
