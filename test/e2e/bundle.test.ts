// Issue 12 (idle memory): `cis agent` loads its stack from one bundle (dist/bundle/agent.js, made
// by `npm run build`: scripts/bundle.mjs) instead of ~1,700 modules; CIS_NO_BUNDLE=1 loads the
// modules. Either way the agent is whole: its fork server, its dashboard's files, a job run.
import '../../src/polyfill.js'
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT, api, cleanup, forkServerOf, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'

/** Start an agent with the resolve hook, run a job, fetch the dashboard; what it resolved and its fork server's command line. */
async function runOne (dir: string, env: NodeJS.ProcessEnv): Promise<{ urls: string[], forkServer: string }> {
  const log = join(dir, 'resolved.log')
  writeFileSync(log, '')
  const hook = pathToFileURL(join(ROOT, 'dist', 'test', 'helpers', 'resolve-log.js')).href
  const a = await startAgent({ name: 'bundled', dataDir: join(dir, 'data'), nodeArgs: ['--import', hook], env: { ...env, CIS_RESOLVE_LOG: log }, args: ['--resource', 'slot=1'] })
  try {
    const r = await api(a.url, '/v1/joblists', { body: { name: 'b', stages: [{ name: 's', jobs: [{ name: 'j', run: 'echo from-the-job', needs: { slot: 1 } }] }] } })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    assert.equal((await waitFinal(a.url, r.body.id, 60_000)).state, 'succeeded')
    const page = await api(a.url, '/')
    assert.equal(page.status, 200)
    assert.match(page.body as string, /<html/i)
    const asset = await api(a.url, '/assets/web/app.js')
    assert.equal(asset.status, 200, "the dashboard's module is found from where the agent's code runs")
    const forkServer = await waitFor('the fork server', () => forkServerOf(a.proc.pid as number)?.cmdline)
    const urls = readFileSync(log, 'utf8').split('\n').filter(l => l !== '').map(l => l.split('\t')[1])
    return { urls, forkServer }
  } finally {
    await a.stop()
  }
}

// (The command line's own modules load before it: api/errors.js among them, for its error codes.)
const AGENT_MODULES = /\/dist\/src\/(agent|node|net|cluster|store|identity|exec|election|scheduler)\/|\/dist\/src\/api\/(?!errors\.js$)/
const BUNDLED_PACKAGES = /\/node_modules\/(libp2p|@libp2p\/|@chainsafe\/|fastify|zod|prom-client)/

test('issue 12: `cis agent` runs from its bundle: none of its modules nor libp2p, fastify, zod are loaded one by one; the job, the fork server and the dashboard work', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(join(ROOT, 'dist', 'bundle', 'agent.js')), 'npm run build makes dist/bundle/agent.js')
  const dir = tempDir()
  try {
    const { urls, forkServer } = await runOne(dir, {})
    assert.ok(urls.some(u => u.endsWith('/dist/bundle/agent.js')), `the agent's bundle is loaded: ${urls.join(' ')}`)
    assert.deepEqual(urls.filter(u => AGENT_MODULES.test(u)), [], "none of the agent's modules is loaded by itself")
    assert.deepEqual(urls.filter(u => BUNDLED_PACKAGES.test(u)), [], 'the bundled packages are not loaded from node_modules')
    assert.match(forkServer, /\/dist\/bundle\/spawner-main\.js/, 'the fork server runs from the bundle too')
  } finally { cleanup(dir) }
})

test('issue 12: CIS_NO_BUNDLE=1 runs the agent from its modules, whole', { timeout: 120_000 }, async () => {
  const dir = tempDir()
  try {
    const { urls, forkServer } = await runOne(dir, { CIS_NO_BUNDLE: '1' })
    assert.ok(urls.some(u => u.endsWith('/dist/src/agent/run.js')), 'the modules are loaded')
    assert.ok(!urls.some(u => u.includes('/dist/bundle/')), 'nothing of the bundle is loaded')
    assert.match(forkServer, /\/dist\/src\/exec\/spawner-main\.js/)
  } finally { cleanup(dir) }
})

test("issue 12: the bundle orders libp2p's addresses and keys by code units: no call of String#localeCompare, whose first call maps 2.7 MB of ICU's collation data into the agent", () => {
  const dir = join(ROOT, 'dist', 'bundle')
  const files = readdirSync(dir).filter(f => f.endsWith('.js'))
  assert.ok(files.length > 0, 'npm run build makes dist/bundle')
  const text = files.map(f => readFileSync(join(dir, f), 'utf8'))
  assert.deepEqual(files.filter((_, i) => text[i].includes('.localeCompare(')), [], 'no bundled file calls localeCompare')
  // The rewritten calls are there (names are kept): the sorts still run, in code-unit order.
  assert.ok(text.some(t => t.includes('"__cisOrder"')), "libp2p's sorts call the build's code-unit comparison")
})
