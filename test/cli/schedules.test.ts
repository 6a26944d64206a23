// Issue 9 from the command line: variables (S-7), schedules (S-1, S-6), failures that need a
// person (S-5). The real `cis` executable against one real agent.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { CliExit } from '../../src/cli/context.js'
import { MAX_TRIES, askVars } from '../../src/cli/var-values.js'
import type { VarSpec } from '../../src/spec/types.js'
import type { Agent } from '../helpers/agent.js'
import { CIS, ROOT, cleanup, startAgent, tempDir, waitFor } from '../helpers/agent.js'

interface Run { code: number, stdout: string, stderr: string }

/** Run `cis` with stdin a pipe that is closed at once (not a terminal). */
async function cis (args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CIS, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    p.stdin.end()
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000)
    p.on('error', reject)
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr }) })
  })
}

let agent: Agent
let dir: string
let at: string[]
const file = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f }
const json = (r: Run): any => { assert.doesNotThrow(() => JSON.parse(r.stdout), `not JSON (exit ${r.code}): ${r.stdout} ${r.stderr}`); return JSON.parse(r.stdout) }

const RELEASE = `name: release
vars:
  - name: version
    description: Release to build
    pattern: '^\\d+\\.\\d+$'
  - name: channel
    default: stable
    choices: [stable, beta]
stages:
  - name: build
    jobs:
      - name: compile
        needs: {}
        run: echo building {{version}} for {{channel}}
`

before(async () => {
  dir = tempDir()
  agent = await startAgent({ name: 'sched-node', args: ['--resource', 'slot=4'] })
  at = ['--addr', agent.url]
})
after(async () => {
  try { await agent?.stop() } finally {
    if (agent !== undefined) cleanup(agent.dataDir)
    cleanup(dir)
  }
})

test('S-7 cis vars lists the declared variables without a node (text and --json); a file without says so', async () => {
  const f = file('release.yaml', RELEASE)
  const text = await cis(['vars', f])
  assert.equal(text.code, 0, text.stderr)
  assert.match(text.stdout, /NAME\s+REQUIRED\s+DEFAULT\s+ALLOWED\s+DESCRIPTION/)
  assert.match(text.stdout, /version\s+yes\s+-\s+matching \^\\d\+\\\.\\d\+\$\s+Release to build/)
  assert.match(text.stdout, /channel\s+no\s+stable\s+one of stable, beta/)
  const j = json(await cis(['vars', f, '--json']))
  assert.equal(j.name, 'release')
  assert.deepEqual(j.vars.map((v: any) => [v.name, v.required, v.default]), [['version', true, undefined], ['channel', false, 'stable']])
  assert.deepEqual(j.vars[1].choices, ['stable', 'beta'])
  const none = await cis(['vars', 'examples/hello.yaml'])
  assert.equal(none.code, 0)
  assert.match(none.stdout, /no variables declared/)
  assert.deepEqual(json(await cis(['vars', 'examples/hello.yaml', '--json'])).vars, [])
})

test('S-7 cis submit --var fills the variables; cis status ID shows the values used', async () => {
  const f = file('release.yaml', RELEASE)
  const r = await cis(['submit', f, '--var', 'version=1.1', '--var', 'channel=beta', '--wait', ...at])
  assert.equal(r.code, 0, r.stderr)
  const id = r.stdout.trim()
  const jl = json(await cis(['status', id, '--json', ...at]))
  assert.deepEqual(jl.values, { version: '1.1', channel: 'beta' })
  assert.equal(jl.stages[0].jobs[0].run, 'echo building 1.1 for beta')
  const text = await cis(['status', id, ...at])
  assert.match(text.stdout, /vars: version=1\.1 channel=beta/)
  // A default fills what --var leaves out.
  const d = json(await cis(['submit', f, '--var', 'version=2.0', '--json', ...at]))
  assert.deepEqual(json(await cis(['status', d.id, '--json', ...at])).values, { version: '2.0', channel: 'stable' })
})

test('S-7 a missing required variable without a terminal is exit 2 naming it; nothing is submitted', async () => {
  const f = file('release.yaml', RELEASE)
  const before = json(await cis(['status', '--json', ...at])).joblists.length
  const r = await cis(['submit', f, ...at])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /missing variable 'version' \(Release to build\): give it with --var version=VALUE/)
  const j = await cis(['submit', f, '--json', ...at])
  assert.equal(j.code, 2)
  assert.equal(json(j).code, 'ERR_SPEC_INVALID')
  assert.deepEqual(json(j).details.map((d: any) => d.path), ['vars.version'])
  assert.equal(json(await cis(['status', '--json', ...at])).joblists.length, before)
})

test('S-7 a value the variable does not allow, an unknown name or a bad --var is exit 2 naming the variable', async () => {
  const f = file('release.yaml', RELEASE)
  const choice = await cis(['submit', f, '--var', 'version=1.1', '--var', 'channel=nightly', ...at])
  assert.equal(choice.code, 2)
  assert.match(choice.stderr, /variable 'channel': 'nightly' is not one of stable, beta/)
  const pattern = await cis(['submit', f, '--var', 'version=latest', ...at])
  assert.equal(pattern.code, 2)
  assert.match(pattern.stderr, /variable 'version': 'latest' does not match/)
  const unknown = await cis(['submit', f, '--var', 'version=1.1', '--var', 'colour=red', ...at])
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /unknown variable 'colour'/)
  const bad = await cis(['submit', f, '--var', 'version', ...at])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--var version: use NAME=VALUE/)
})

test('S-7 the prompt for a variable shows its name and description, asks again after a bad answer, and gives up after 3 tries', async () => {
  const v: VarSpec = { name: 'version', description: 'Release to build', required: true, pattern: '^\\d+\\.\\d+$' }
  const ask = async (answers: string): Promise<{ result: Record<string, string> | Error, shown: string }> => {
    const input = new PassThrough()
    const output = new PassThrough()
    let shown = ''
    output.on('data', (d: Buffer) => { shown += d.toString() })
    input.end(answers)
    try { return { result: await askVars([v], { input, output }), shown } } catch (err) { return { result: err as Error, shown } }
  }
  const ok = await ask('latest\n1.2\n')
  assert.deepEqual(ok.result, { version: '1.2' })
  assert.equal(ok.shown.split('version (Release to build; matching ^\\d+\\.\\d+$): ').length - 1, 2, ok.shown)
  assert.match(ok.shown, /'latest' does not match the pattern/)
  const no = await ask('a\nb\nc\nd\n')
  assert.ok(no.result instanceof CliExit && no.result.exitCode === 2, String(no.result))
  assert.match(no.result.message, new RegExp(`variable 'version': 'c' does not match .*after ${MAX_TRIES} tries: give it with --var version=VALUE`))
  const eof = await ask('')
  assert.ok(eof.result instanceof CliExit && eof.result.exitCode === 2)
  assert.match(eof.result.message, /no value for variable 'version'/)
})

test('S-1/S-6 a schedule from cis submit: cis schedules, its runs in cis schedule, pause, trigger, resume, unschedule', async () => {
  const f = file('tick.yaml', `name: tick
schedule:
  cron: '*/1 * * * * *'
  timezone: Europe/Berlin
vars:
  - name: version
    default: "1.0"
stages:
  - name: s
    jobs:
      - name: j
        needs: {}
        run: echo tick {{version}}
`)
  const wait = await cis(['submit', f, '--wait', ...at])
  assert.equal(wait.code, 2)
  assert.match(wait.stderr, /--wait does not apply to schedules/)

  const created = json(await cis(['submit', f, '--var', 'version=1.1', '--json', ...at]))
  assert.equal(created.schedule, 'tick')
  assert.equal(created.replaced, false)
  assert.equal(typeof created.next, 'string')
  const replaced = await cis(['submit', f, '--var', 'version=1.2', ...at])
  assert.equal(replaced.code, 0, replaced.stderr)
  assert.match(replaced.stdout, /^schedule tick replaced, its history kept; next run \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(Europe\/Berlin\)$/m)

  const listed = json(await cis(['schedules', '--json', ...at])).schedules
  const tick = listed.find((s: any) => s.name === 'tick')
  assert.ok(tick !== undefined, JSON.stringify(listed))
  assert.equal(tick.cron, '*/1 * * * * *')
  assert.equal(tick.timezone, 'Europe/Berlin')
  assert.deepEqual(tick.values, { version: '1.2' })
  const table = await cis(['schedules', ...at])
  assert.match(table.stdout, /NAME\s+CRON\s+TZ\s+NEXT\s+LAST\s+STATE/)
  assert.match(table.stdout, /tick\s+\*\/1 \* \* \* \* \*\s+Europe\/Berlin/)

  // It runs on its own: poll until two runs have succeeded.
  const view = await waitFor('two runs of tick to succeed', async () => {
    const v = json(await cis(['schedule', 'tick', '--json', ...at]))
    return v.runs.filter((r: any) => r.state === 'succeeded').length >= 2 ? v : undefined
  }, 30_000, 200)
  const instants = view.runs.map((r: any) => Date.parse(r.instant))
  assert.deepEqual(instants, [...instants].sort((a, b) => b - a), 'runs newest first')
  const run = view.runs.find((r: any) => r.state === 'succeeded')
  const jl = json(await cis(['status', run.id, '--json', ...at]))
  assert.equal(jl.schedule.name, 'tick')
  assert.match((await cis(['status', run.id, ...at])).stdout, /run of tick for \d{4}-/)
  const shown = await cis(['schedule', 'tick', ...at])
  assert.match(shown.stdout, /cron\s+\*\/1 \* \* \* \* \* \(Europe\/Berlin\)/)
  assert.match(shown.stdout, /values\s+version=1\.2/)
  assert.match(shown.stdout, /ID\s+INSTANT\s+STATE\s+ENDED\s+NOTES/)
  assert.equal(json(await cis(['schedule', 'tick', '--limit', '1', '--json', ...at])).runs.length, 1)

  const paused = await cis(['pause', 'tick', '--json', ...at])
  assert.equal(paused.code, 0, paused.stderr)
  assert.equal(json(paused).paused, true)
  const s1 = json(await cis(['schedules', '--json', ...at])).schedules.find((s: any) => s.name === 'tick')
  assert.equal(s1.paused, true)
  assert.equal(s1.pausedBy, 'user')
  assert.match((await cis(['schedules', ...at])).stdout, /tick .*paused by user/)
  const status = await cis(['status', ...at])
  assert.match(status.stdout, /1 paused schedule\(s\):\n {2}tick\s+paused by user/)
  assert.match(status.stdout, /cis resume tick/)

  const trig = await cis(['trigger', 'tick', ...at])
  assert.equal(trig.code, 0, trig.stderr)
  const id = trig.stdout.trim()
  assert.match(id, /^[0-9a-z]{4}-\d+$/)
  const manual = await waitFor('the manual run in the history', async () => {
    const v = json(await cis(['schedule', 'tick', '--json', ...at]))
    return v.runs.find((r: any) => r.id === id && r.manual === true)
  }, 20_000, 200)
  assert.equal(manual.id, id)
  assert.match((await cis(['schedule', 'tick', ...at])).stdout, new RegExp(`${id}\\s.*manual`))

  const resumed = await cis(['resume', 'tick', ...at])
  assert.equal(resumed.code, 0, resumed.stderr)
  assert.match(resumed.stdout, /schedule tick resumed; next run /)
  assert.equal(json(await cis(['schedule', 'tick', '--json', ...at])).paused, false)

  const removed = json(await cis(['unschedule', 'tick', '--json', ...at]))
  assert.equal(removed.removed, true)
  assert.equal(json(await cis(['schedules', '--json', ...at])).schedules.find((s: any) => s.name === 'tick'), undefined)
  const all = json(await cis(['schedules', '--all', '--json', ...at])).schedules.find((s: any) => s.name === 'tick')
  assert.equal(all?.removed, true)
  assert.doesNotMatch((await cis(['schedules', ...at])).stdout, /tick/)
  assert.match((await cis(['schedules', '--all', ...at])).stdout, /tick\s.*removed/)
  const again = await cis(['pause', 'tick', ...at])
  assert.equal(again.code, 1)
  assert.match(again.stderr, /was removed .*submit its joblist again to re-create it/)
  const unknown = await cis(['trigger', 'nope', ...at])
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /no schedule 'nope'.*cis schedules/)
})

test('S-5 cis status shows a failed joblist first, with its failure line, until cis ack', async () => {
  const ok = await cis(['submit', 'examples/hello.yaml', '--wait', ...at])
  assert.equal(ok.code, 0, ok.stderr)
  const okId = ok.stdout.trim()
  const doomed = await cis(['submit', file('doomed.yaml', 'name: doomed\nstages:\n  - name: s\n    jobs:\n      - name: boom\n        needs: {}\n        target: {all: true}\n        run: exit 4\n'), '--wait', ...at])
  assert.equal(doomed.code, 1)
  const failedId = doomed.stdout.trim()
  const sleeper = await cis(['submit', file('sleeper.yaml', 'name: sleeper\nstages:\n  - name: s\n    jobs:\n      - name: nap\n        needs: {}\n        run: sleep 30\n'), ...at])
  assert.equal(sleeper.code, 0, sleeper.stderr)
  const sleeperId = sleeper.stdout.trim()
  try {
    const one = await cis(['status', failedId, ...at])
    assert.match(one.stdout, /failed: boom: failed on 1 of 1 nodes: sched-node \(exit 4\)/)
    assert.match(one.stdout, new RegExp(`cis ack ${failedId}`))
    assert.match(one.stdout, new RegExp(`${failedId}\\.1\\s+boom\\s+failed\\s.*failed on 1 of 1 nodes: sched-node \\(exit 4\\)`), 'the logical job shows its summary')
    const jl = json(await cis(['status', failedId, '--json', ...at]))
    assert.equal(jl.acked, false)

    const lineOf = (out: string, id: string): number => {
      const i = out.split('\n').findIndex(l => l.startsWith(`${id} `) || l.startsWith(`  ${id} `))
      assert.ok(i >= 0, `${id} is listed:\n${out}`)
      return i
    }
    const before = (await cis(['status', ...at])).stdout
    assert.match(before.split('\n')[0], /failed joblist\(s\) not acknowledged yet/)
    assert.match(before, new RegExp(`${failedId}\\s+doomed\\s.*boom: failed on 1 of 1 nodes`))
    assert.ok(lineOf(before, failedId) < lineOf(before, sleeperId), before)
    assert.ok(lineOf(before, sleeperId) < lineOf(before, okId), `running before ended:\n${before}`)

    const notFailed = await cis(['ack', okId, ...at])
    assert.equal(notFailed.code, 1)
    assert.match(notFailed.stderr, /not failed/)
    const acked = await cis(['ack', failedId, '--json', ...at])
    assert.equal(acked.code, 0, acked.stderr)
    assert.equal(json(acked).acked, true)
    assert.match((await cis(['ack', failedId, ...at])).stdout, /acknowledged already/)
    assert.equal(json(await cis(['status', failedId, '--json', ...at])).acked, true)
    const afterAck = (await cis(['status', ...at])).stdout
    assert.doesNotMatch(afterAck, /not acknowledged/)
    assert.ok(lineOf(afterAck, sleeperId) < lineOf(afterAck, failedId), `acknowledged, it is listed with the rest:\n${afterAck}`)
    assert.ok(Array.isArray(json(await cis(['status', '--json', ...at])).joblists))

    // cis ack --all NAME: every unacknowledged failure of that name at once.
    const twice = file('doomed2.yaml', 'name: doomed2\nstages:\n  - name: s\n    jobs:\n      - name: boom\n        needs: {}\n        run: exit 5\n')
    const ids = [(await cis(['submit', twice, '--wait', ...at])).stdout.trim(), (await cis(['submit', twice, '--wait', ...at])).stdout.trim()]
    const all = json(await cis(['ack', '--all', 'doomed2', '--json', ...at]))
    assert.deepEqual((all.acked as Array<{ id: string }>).map(a => a.id).sort(), [...ids].sort())
    assert.deepEqual(json(await cis(['ack', '--all', 'doomed2', '--json', ...at])).acked, [], 'nothing left to acknowledge')
    const noRef = await cis(['ack', ...at])
    assert.equal(noRef.code, 2)
    assert.match(noRef.stderr, /--all/)
  } finally {
    await cis(['stop', sleeperId, ...at])
  }
})
