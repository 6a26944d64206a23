// G-6 end to end, with real agents and the real `cis`: a store an earlier cisystem wrote
// still opens (and a newer one is refused); `cis admin backup` of a running agent and
// `cis admin restore` into a new data directory give an agent with the same joblists and a
// store with the same state hash; a backup taken while joblists are submitted is a consistent
// prefix; bad files and wrong directories are refused with what to do.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Level } from 'level'
import type { CisEvent } from '../../src/events/types.js'
import { stateHash } from '../../src/state/hash.js'
import { apply } from '../../src/state/reducer.js'
import type { ClusterState } from '../../src/state/types.js'
import { emptyState } from '../../src/state/types.js'
import { STORE_SCHEMA } from '../../src/store/event-store.js'
import { LevelEventStore } from '../../src/store/level-store.js'
import { SCHEMA_KEY } from '../../src/store/upgrade.js'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, api, cleanup, startAgent, tempDir, waitFinal } from '../helpers/agent.js'

interface Run { code: number, stdout: string, stderr: string }

async function cis (args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

const FIXTURE = join(ROOT, 'test', 'fixtures', 'store-v1')

/** The meta key of a closed store; `value` sets it first. */
async function metaKey (storePath: string, key: string, value?: string): Promise<string | undefined> {
  const db = new Level<string, string>(storePath, { valueEncoding: 'utf8' })
  try {
    const meta = db.sublevel<string, string>('meta', { valueEncoding: 'utf8' })
    if (value !== undefined) await meta.put(key, value)
    return await meta.get(key)
  } finally { await db.close() }
}

/** A closed store's events replayed from nothing (no snapshot), each origin up to `upTo` if given. */
async function replay (storePath: string, upTo?: Record<string, number>): Promise<{ state: ClusterState, schema: number, snapshot: boolean }> {
  const store = new LevelEventStore(storePath)
  await store.open()
  try {
    const state = emptyState()
    for (const origin of await store.origins()) {
      for await (const e of store.readOrigin(origin, 0)) {
        if (upTo !== undefined && e.seq > (upTo[origin] ?? 0)) break
        apply(state, e)
      }
    }
    return { state, schema: await store.schemaVersion(), snapshot: await store.loadSnapshot() !== undefined }
  } finally { await store.close() }
}

/** Each joblist's state, and its jobs' states, by joblist ID. */
async function joblistStates (url: string): Promise<Record<string, { name: string, state: string, jobs: string[] }>> {
  const out: Record<string, { name: string, state: string, jobs: string[] }> = {}
  for (const s of (await api(url, '/v1/joblists')).body.joblists as Array<{ id: string }>) {
    const jl = (await api(url, `/v1/joblists/${s.id}`)).body
    out[jl.id] = { name: jl.name, state: jl.state, jobs: jl.stages.flatMap((st: any) => st.jobs.map((j: any) => `${st.name as string}/${j.name as string}:${j.state as string}`)) }
  }
  return out
}

const readLines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(l => l !== '')

test('G-6: an agent started on a copy of the store an earlier cisystem wrote has its joblists, logs the schema it recorded, and writes the schema key', async () => {
  const expected = JSON.parse(readFileSync(join(FIXTURE, 'fixture.json'), 'utf8')) as { joblists: Array<{ id: string, name: string, state: string }> }
  const dataDir = tempDir('cis-fixture-')
  let agent: Agent | undefined
  try {
    // A copy: the agent takes LevelDB's lock and writes, and a checkout may be read-only.
    cpSync(join(FIXTURE, 'store'), join(dataDir, 'store'), { recursive: true })
    const a = agent = await startAgent({ name: 'upgraded', dataDir })
    for (const jl of expected.joblists) {
      const r = await api(a.url, `/v1/joblists/${jl.id}`)
      assert.equal(r.status, 200, `${jl.name} (${jl.id}) is there`)
      assert.equal(r.body.name, jl.name)
      assert.equal(r.body.state, jl.state)
    }
    assert.match(a.output(), /written before stores recorded a schema: recorded schema 1/)
    await a.stop()
    assert.equal(await metaKey(join(dataDir, 'store'), SCHEMA_KEY), String(STORE_SCHEMA))
  } finally {
    await agent?.stop()
    cleanup(dataDir)
  }
})

test('G-6: an agent refuses a store of a newer schema: it exits non-zero naming both versions and what to do', async () => {
  const dataDir = tempDir('cis-newer-')
  try {
    cpSync(join(FIXTURE, 'store'), join(dataDir, 'store'), { recursive: true })
    await metaKey(join(dataDir, 'store'), SCHEMA_KEY, String(STORE_SCHEMA + 1))
    await assert.rejects(startAgent({ name: 'too-old', dataDir }), (err: Error) => {
      assert.match(err.message, /agent exited with [1-9]/)
      assert.ok(err.message.includes(`was written by a newer cisystem (store schema ${STORE_SCHEMA + 1}); this one`), err.message)
      assert.ok(err.message.includes(`knows schema ${STORE_SCHEMA} at most. Run that newer version, or restore a backup made for schema ${STORE_SCHEMA}`), err.message)
      return true
    })
    assert.equal(await metaKey(join(dataDir, 'store'), SCHEMA_KEY), String(STORE_SCHEMA + 1), 'the store was left as it was')
  } finally { cleanup(dataDir) }
})

// ---- backup and restore, from one agent with three ended joblists ----

let source: Agent
let work: string
let backupFile: string
/** What `source` showed when the backup was taken. */
let before_: { hash: string, origins: Record<string, number>, joblists: Awaited<ReturnType<typeof joblistStates>> }
const agents: Agent[] = []

async function start (name: string, dataDir: string): Promise<Agent> {
  const a = await startAgent({ name, dataDir, args: ['--resource', 'slot=2'] })
  agents.push(a)
  return a
}

before(async () => {
  work = tempDir('cis-backup-')
  source = await start('source', join(work, 'source'))
  const specs = [
    { name: 'two-stages', stages: [{ name: 'a', jobs: [{ name: 'x', run: 'echo x' }, { name: 'y', run: 'echo y' }] }, { name: 'b', jobs: [{ name: 'z', run: 'true' }] }] },
    { name: 'fails', stages: [{ name: 's', jobs: [{ name: 'boom', run: 'exit 3' }] }] },
    { name: 'stopped', stages: [{ name: 's', jobs: [{ name: 'long', run: 'sleep 60' }] }] }
  ]
  const ids: string[] = []
  for (const spec of specs) {
    const r = await api(source.url, '/v1/joblists', { body: spec })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    ids.push(r.body.id as string)
  }
  assert.equal((await api(source.url, `/v1/joblists/${ids[2]}/stop`, { method: 'POST', body: {} })).status, 202)
  for (const id of ids) await waitFinal(source.url, id)
  const state = (await api(source.url, '/v1/state')).body
  before_ = { hash: state.hash, origins: state.origins, joblists: await joblistStates(source.url) }
  backupFile = join(work, 'backup.jsonl')
  const r = await cis(['admin', 'backup', backupFile, '--addr', source.url, '--json'])
  assert.equal(r.code, 0, r.stderr)
})

after(async () => {
  for (const a of agents) await a.stop()
  cleanup(work)
})

test('G-6: cis admin backup writes a self-describing file (mode 0600): the header, then every event in (origin, seq) order up to the header\'s seqs; --json prints a summary and no progress', async () => {
  const lines = readLines(backupFile)
  const header = JSON.parse(lines[0])
  const health = (await api(source.url, '/v1/health')).body
  assert.equal(header['cisystem-backup'], 1)
  assert.equal(header.schema, STORE_SCHEMA)
  assert.equal(header.node, health.id)
  assert.equal(header.name, 'source')
  assert.ok(!Number.isNaN(Date.parse(header.at)))
  assert.deepEqual(header.origins, before_.origins, 'the backup holds what the node had applied (it was idle)')
  const events = lines.slice(1).map(l => JSON.parse(l) as CisEvent)
  assert.deepEqual(events.map(e => `${e.origin}:${e.seq}`), Object.entries(header.origins as Record<string, number>).sort().flatMap(([o, n]) => Array.from({ length: n }, (_, i) => `${o}:${i + 1}`)))
  assert.ok(events.every(e => typeof e.sig === 'string' && e.sig.length > 0), 'events are stored signed')
  assert.equal(statSync(backupFile).mode & 0o777, 0o600)
  assert.ok(!existsSync(`${backupFile}.tmp`), 'no temporary file is left')
  const again = await cis(['admin', 'backup', join(work, 'again.jsonl'), '--addr', source.url, '--json'])
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual(JSON.parse(again.stdout), { file: join(work, 'again.jsonl'), node: health.id, name: 'source', at: JSON.parse(readLines(join(work, 'again.jsonl'))[0]).at, events: events.length, origins: 1, bytes: statSync(join(work, 'again.jsonl')).size })
  assert.equal(again.stderr, '', 'nothing on stderr with --json')
  const text = await cis(['admin', 'backup', join(work, 'text.jsonl'), '--addr', source.url])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, new RegExp(`^backup of source: ${events.length} events from 1 origins → .*text\\.jsonl \\(\\d+\\.\\d KB\\)\\n$`))
})

test('G-6: restore into a new data directory, start an agent there: the same joblists in the same states; the restored store has the same state hash (new identity, then the same one)', async () => {
  const header = JSON.parse(readLines(backupFile)[0])
  // A new node: no node.key in the directory.
  const fresh = join(work, 'fresh')
  const r = await cis(['admin', 'restore', backupFile, '--data', fresh, '--json'])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.events, Object.values(before_.origins).reduce((a, b) => a + b, 0))
  assert.equal(out.origins, 1)
  assert.equal(out.identity, 'new')
  assert.ok(!existsSync(join(fresh, 'store.restoring')), 'the temporary store became the store')
  const restored = await replay(join(fresh, 'store'))
  assert.equal(stateHash(restored.state), before_.hash, 'the same events give the same state hash')
  assert.equal(restored.schema, STORE_SCHEMA)
  assert.equal(restored.snapshot, false, 'no snapshot: the agent replays')

  const b = await start('restored', fresh)
  assert.deepEqual(await joblistStates(b.url), before_.joblists)
  const bState = (await api(b.url, '/v1/state')).body
  assert.notEqual((await api(b.url, '/v1/health')).body.id, header.node, 'a new identity')
  assert.equal(bState.origins[header.node], header.origins[header.node], "it loaded every event of the source's log")

  // The same node: its node.key kept beside the restored store.
  const same = join(work, 'same')
  const keyed = join(same, 'node.key')
  mkdirSync(same)
  copyFileSync(join(work, 'source', 'node.key'), keyed)
  const s = await cis(['admin', 'restore', backupFile, '--data', same])
  assert.equal(s.code, 0, s.stderr)
  assert.match(s.stdout, /restored \d+ events from 1 origins \(backup of source, taken .*\) into .*same\/store/)
  assert.match(s.stdout, /node\.key is the identity of source, which made this backup: the agent resumes as that node/)
  assert.match(s.stdout, /start it with: cis agent --data .*same/)
  assert.equal(stateHash((await replay(join(same, 'store'))).state), before_.hash)
  await source.stop() // (the same identity twice at once would be two nodes claiming one log)
  const c = await start('source', same)
  assert.equal((await api(c.url, '/v1/health')).body.id, header.node, 'the same identity')
  assert.deepEqual(await joblistStates(c.url), before_.joblists)
  const cState = (await api(c.url, '/v1/state')).body
  assert.ok(cState.origins[header.node] >= header.origins[header.node], 'it goes on from its last seq')
  await c.stop()
  source = await start('source', join(work, 'source')) // (for the tests below)
})

test('G-6: a backup taken while joblists are being submitted is a consistent prefix: it restores, and it is exactly the source\'s store up to the header\'s seqs', async () => {
  const file = join(work, 'busy.jsonl')
  const submitted: string[] = []
  const submit = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await api(source.url, '/v1/joblists', { body: { name: `busy-${i}`, stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }, { name: 'k', run: 'true' }] }] } })
      assert.equal(r.status, 201, JSON.stringify(r.body))
      submitted.push(r.body.id as string)
    }
  }
  // Submissions before, and on together with, the backup. (Whether some land while it is
  // streamed depends on timing; what is checked below holds either way.)
  await submit(3)
  const [r] = await Promise.all([cis(['admin', 'backup', file, '--addr', source.url, '--json']), submit(12)])
  assert.equal(r.code, 0, r.stderr)
  for (const id of submitted) await waitFinal(source.url, id)
  const header = JSON.parse(readLines(file)[0])

  const dir = join(work, 'busy')
  const restore = await cis(['admin', 'restore', file, '--data', dir, '--json'])
  assert.equal(restore.code, 0, restore.stderr)
  assert.equal(JSON.parse(restore.stdout).events, JSON.parse(r.stdout).events)
  const restored = await replay(join(dir, 'store'))
  assert.deepEqual(restored.state.applied, header.origins, 'every origin up to the header, no more')
  for (const id of Object.keys(restored.state.joblists)) assert.ok(id in before_.joblists || submitted.includes(id), `${id} was submitted`)

  // The source's own store, read once it is stopped, up to the header's seqs: the same state.
  await source.stop()
  const prefix = await replay(join(work, 'source', 'store'), header.origins)
  assert.equal(stateHash(restored.state), stateHash(prefix.state), 'the backup is the prefix of the source\'s store')
  source = await start('source', join(work, 'source'))

  const b = await start('busy', dir)
  assert.equal((await api(b.url, '/v1/state')).body.origins[header.node], header.origins[header.node], 'an agent loads it')
  await b.stop()
})

test('G-6: restore refuses what it cannot use, saying why: not a backup, a newer schema, a bad or tampered or missing event (exit 2); a running agent\'s directory (exit 1); a store in the way without --force (exit 2)', async () => {
  const lines = readLines(backupFile)
  const header = JSON.parse(lines[0])
  const file = (name: string, content: string[]): string => {
    const f = join(work, name)
    writeFileSync(f, content.join('\n') + '\n')
    return f
  }
  /** Restore `f` into a new directory: refused with `code` and `message`; no store made; with --json, `jsonCode`. */
  const refused = async (what: string, f: string, code: number, message: RegExp, jsonCode?: string): Promise<void> => {
    const dir = join(work, `refused-${what}`)
    const r = await cis(['admin', 'restore', f, '--data', dir])
    assert.equal(r.code, code, `${what}: ${r.stdout} ${r.stderr}`)
    assert.match(r.stderr, message, what)
    assert.ok(!existsSync(join(dir, 'store')) && !existsSync(join(dir, 'store.restoring')), `${what}: no store was made`)
    if (jsonCode !== undefined) {
      const j = await cis(['admin', 'restore', f, '--data', dir, '--json'])
      assert.equal(j.code, code)
      assert.equal(JSON.parse(j.stdout).code, jsonCode, what)
    }
  }
  await refused('text', file('text.txt', ['hello', 'world']), 2, /text\.txt is not a cisystem backup \(its first line is not a backup header\); make one with 'cis admin backup FILE'/, 'ERR_NOT_A_BACKUP')
  await refused('missing', join(work, 'no-such-file'), 2, /cannot read .*no-such-file: ENOENT/)
  await refused('newer-schema', file('newer.jsonl', [JSON.stringify({ ...header, schema: STORE_SCHEMA + 1 }), ...lines.slice(1)]), 2,
    new RegExp(`newer\\.jsonl was made by a newer cisystem \\(store schema ${STORE_SCHEMA + 1}\\); this one .* knows schema ${STORE_SCHEMA} at most: restore it with that newer version`), 'ERR_BACKUP_NEWER')
  await refused('newer-format', file('format.jsonl', [JSON.stringify({ ...header, 'cisystem-backup': 2 }), ...lines.slice(1)]), 2, /written by a newer cisystem \(backup format 2/)
  const bad = JSON.parse(lines[2])
  await refused('malformed', file('malformed.jsonl', [lines[0], lines[1], JSON.stringify({ ...bad, seq: 'two' }), ...lines.slice(3)]), 2, /malformed\.jsonl, line 3: not a well-formed event \(bad seq\)\. Nothing was restored/, 'ERR_BACKUP_INVALID')
  await refused('not-json', file('notjson.jsonl', [lines[0], lines[1], '{"origin": ', ...lines.slice(3)]), 2, /line 3: not JSON/)
  await refused('tampered', file('tampered.jsonl', [lines[0], lines[1], JSON.stringify({ ...bad, ts: bad.ts + 1 }), ...lines.slice(3)]), 2, /line 3: the signature of event .*:2 does not match \(the file was changed after it was made\)/)
  await refused('gap', file('gap.jsonl', [lines[0], lines[1], ...lines.slice(3)]), 2, /gap\.jsonl is incomplete: the events of origin .* from seq 2 to 2 are missing, and no purge in the file took them out/)
  await refused('cut', file('cut.jsonl', lines.slice(0, -1)), 2, /cut\.jsonl is incomplete: the events of origin .* are missing.*was it cut off while copying/)

  // The directory of a running agent: its store is locked.
  const running = await cis(['admin', 'restore', backupFile, '--data', source.dataDir])
  assert.equal(running.code, 1, running.stderr)
  assert.match(running.stderr, /the store in .* is in use: an agent runs on .*\. Stop it first/)
  assert.ok(!existsSync(join(source.dataDir, 'store.restoring')))

  // A store in the way: refused; replaced with --force, and only the store.
  const dir = join(work, 'taken')
  assert.equal((await cis(['admin', 'restore', file('small.jsonl', [JSON.stringify({ ...header, origins: { [header.node]: 2 } }), lines[1], lines[2]]), '--data', dir])).code, 0)
  writeFileSync(join(dir, 'keep.txt'), 'mine')
  const taken = await cis(['admin', 'restore', backupFile, '--data', dir])
  assert.equal(taken.code, 2)
  assert.match(taken.stderr, /already holds a store: restore into a new --data directory, or add --force to replace it/)
  assert.deepEqual((await replay(join(dir, 'store'))).state.applied, { [header.node]: 2 }, 'the store was left alone')
  const forced = await cis(['admin', 'restore', backupFile, '--data', dir, '--force', '--json'])
  assert.equal(forced.code, 0, forced.stderr)
  assert.deepEqual((await replay(join(dir, 'store'))).state.applied, header.origins, 'replaced by the whole backup')
  assert.equal(readFileSync(join(dir, 'keep.txt'), 'utf8'), 'mine', 'the rest of the directory stays')
})

test('G-6: the backup route is behind the API token like every route; cis admin backup sends it', async () => {
  const a = await startAgent({ name: 'tokened', dataDir: join(work, 'tokened'), args: ['--token', 'sesame'] })
  agents.push(a)
  assert.equal((await api(a.url, '/v1/admin/backup')).status, 401)
  const without = await cis(['admin', 'backup', join(work, 'no.jsonl'), '--addr', a.url])
  assert.equal(without.code, 1)
  assert.match(without.stderr, /bearer token is required/)
  assert.ok(!existsSync(join(work, 'no.jsonl')) && !existsSync(join(work, 'no.jsonl.tmp')))
  const withToken = await cis(['admin', 'backup', join(work, 'yes.jsonl'), '--addr', a.url, '--token', 'sesame', '--json'])
  assert.equal(withToken.code, 0, withToken.stderr)
  assert.equal(JSON.parse(withToken.stdout).name, 'tokened')
})
