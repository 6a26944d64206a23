import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { validateJoblist, validateJoblistInput, parseJoblistText, checkJobFilePath, parseDuration, formatDuration, SpecError, MAX_JOBS } from '../../src/spec/index.js'
import { loadJoblistFile } from '../../src/spec/load.js'

const base = (): any => ({ name: 'nightly', stages: [{ name: 'build', jobs: [{ name: 'compile', run: 'make' }] }] })

function issues (input: unknown): Array<{ path: string, message: string }> {
  const r = validateJoblist(input)
  assert.equal(r.ok, false, 'expected the joblist to be refused')
  return r.ok ? [] : r.issues
}

function has (list: Array<{ path: string, message: string }>, path: string, re: RegExp): void {
  assert.ok(list.some(i => i.path === path && re.test(i.message)), `no issue at ${path} matching ${re}: ${JSON.stringify(list)}`)
}

test('R2-1/R2-2/R2-3: a joblist is a list of stages of jobs, kept in file order, with defaults filled in', () => {
  const r = validateJoblist({ name: 'x', stages: [{ name: 'b', jobs: [{ name: 'j1', run: 'a' }, { name: 'j2', run: 'b' }] }, { name: 'a', jobs: [{ name: 'j3', run: 'c' }] }] })
  assert.ok(r.ok)
  assert.deepEqual(r.spec.stages.map(s => s.name), ['b', 'a'])
  assert.deepEqual(r.spec.stages.flatMap(s => s.jobs.map(j => j.name)), ['j1', 'j2', 'j3'])
  const j = r.spec.stages[0].jobs[0]
  assert.deepEqual(j.needs, { slot: 1 })
  assert.equal(j.retries, 0)
  assert.deepEqual(j.files, [])
  assert.equal(r.spec.priority, 0)
})

test('R2-6: joblists, stages and jobs must have valid names', () => {
  has(issues({ stages: base().stages }), 'name', /required/)
  const s = base(); delete s.stages[0].jobs[0].name
  has(issues(s), 'stages[0].jobs[0].name', /required/)
  const bad = base(); bad.name = 'has space'
  has(issues(bad), 'name', /letters, digits/)
  const long = base(); long.name = 'x'.repeat(101)
  has(issues(long), 'name', /at most 100/)
})

test('validation: every problem is reported with its path', () => {
  const s = { name: 'x', priority: 'high', tags: 'a', stages: [{ name: 's', jobs: [{ name: 'j', run: '', needs: { GPU: 1, gpu: -1, tpu: 1.5 }, env: { 'BAD-KEY': 'x', CIS_X: 'y' }, retries: 1000, timeout: 'soon' }] }, { name: 's', jobs: [] }] }
  const list = issues(s)
  has(list, 'priority', /whole number/)
  has(list, 'tags', /list of strings/)
  has(list, 'stages[0].jobs[0].run', /not be empty/)
  has(list, 'stages[0].jobs[0].needs.GPU', /lower-case/)
  has(list, 'stages[0].jobs[0].needs.gpu', /0 or more/)
  has(list, 'stages[0].jobs[0].needs.tpu', /whole number/)
  has(list, 'stages[0].jobs[0].env.BAD-KEY', /environment variable/)
  has(list, 'stages[0].jobs[0].env.CIS_X', /reserved/)
  has(list, 'stages[0].jobs[0].retries', /at most 100/)
  has(list, 'stages[0].jobs[0].timeout', /not a duration/)
  has(list, 'stages[1].jobs', /at least one job/)
})

test('validation: unknown fields are refused with a suggestion', () => {
  const s = base(); s.stages[0].jobs[0].comand = 'x'; s.nmae = 'y'
  const list = issues(s)
  has(list, 'stages[0].jobs[0].comand', /unknown field 'comand'/)
  has(list, 'nmae', /did you mean 'name'/)
})

test('validation: names are unique; file paths are unique in a job; content xor source', () => {
  const s = base()
  s.stages.push({ name: 'build', jobs: [{ name: 'compile', run: 'x', files: [{ path: 'a', content: '1' }, { path: 'a', content: '2' }, { path: 'b' }] }] })
  const list = issues(s)
  has(list, 'stages[1].name', /duplicate stage name/)
  has(list, 'stages[1].jobs[0].name', /duplicate job name/)
  has(list, 'stages[1].jobs[0].files[1].path', /duplicate file path/)
  has(list, 'stages[1].jobs[0].files[2]', /exactly one of content or source/)
})

test('validation: source is for the CLI only; the resolved form refuses it', () => {
  const s = base(); s.stages[0].jobs[0].files = [{ path: 'b.sh', source: './b.sh' }]
  has(issues(s), 'stages[0].jobs[0].files[0].source', /resolved by the client/)
  assert.equal(validateJoblistInput(s).ok, true)
})

test('validation: limits on jobs, file sizes and spec size are enforced with clear messages', () => {
  const many = { name: 'big', stages: [{ name: 's', jobs: Array.from({ length: MAX_JOBS + 1 }, (_, i) => ({ name: `j${i}`, run: 'true' })) }] }
  has(issues(many), 'stages', /at most 1000 jobs/)
  const fat = base(); fat.stages[0].jobs[0].files = [{ path: 'f', content: 'x'.repeat(300 * 1024) }]
  has(issues(fat), 'stages[0].jobs[0].files[0].content', /300 KiB; at most 256 KiB/)
  const r = parseJoblistText('name: x\n# ' + 'y'.repeat(1024 * 1024))
  assert.equal(r.ok, false)
  assert.match(r.ok ? '' : r.issues[0].message, /at most 1.0 MiB/)
})

test('parse: malformed YAML names the line; a non-mapping is refused; alias bombs fail cleanly', () => {
  const r = parseJoblistText('name: x\nstages:\n  - name: [unclosed\n')
  assert.equal(r.ok, false)
  assert.match(r.ok ? '' : r.issues[0].message, /not valid YAML at line \d+/)
  const list = parseJoblistText('- a\n- b\n')
  assert.equal(list.ok, false)
  assert.match(list.ok ? '' : list.issues[0].message, /must be a mapping/)
  const bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'
  assert.equal(parseJoblistText(bomb).ok, false)
  assert.equal(parseJoblistText('{"name": 1', 'json').ok, false)
})

test('paths: traversal, absolute paths and other escapes are refused', () => {
  for (const p of ['../x', 'a/../../x', '/etc/passwd', 'C:\\x', 'a\\b', '', '~/x', 'a//b', './a', 'a/./b', '.cis-out', 'x\0y']) {
    assert.notEqual(checkJobFilePath(p), null, `${JSON.stringify(p)} must be refused`)
  }
  for (const p of ['a', 'sub/dir/file.txt', '.hidden', 'a..b']) assert.equal(checkJobFilePath(p), null, `${p} is fine`)
  const s = base(); s.stages[0].jobs[0].files = [{ path: '../../etc/cron.d/x', content: 'evil' }]
  has(issues(s), 'stages[0].jobs[0].files[0].path', /no '\.\.'/)
})

test('durations: units, numbers in seconds, and junk', () => {
  assert.equal(parseDuration('500ms'), 500)
  assert.equal(parseDuration('1h30m'), 5_400_000)
  assert.equal(parseDuration(2), 2000)
  assert.equal(parseDuration('45'), 45_000)
  for (const bad of ['-1s', '0', 'soon', '10x', '', '31d']) assert.equal(typeof parseDuration(bad), 'string', bad)
  assert.equal(formatDuration(90_000), '1m30s')
  assert.equal(formatDuration(250), '250ms')
})

test('R6-1: loadJoblistFile reads any number of files, `source` relative to the joblist file; a missing source is an issue', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cis-spec-'))
  try {
    await mkdir(join(dir, 'scripts'))
    await writeFile(join(dir, 'scripts', 'b.sh'), 'echo @X@\n')
    await writeFile(join(dir, 'jl.yaml'), 'name: l\nstages:\n  - name: s\n    jobs:\n      - name: j\n        run: sh b.sh\n        timeout: 2m\n        files:\n          - {path: a.txt, content: "A"}\n          - {path: b.sh, source: ./scripts/b.sh, mode: "0755"}\n          - {path: c/d.txt, content: "D"}\n')
    const spec = await loadJoblistFile(join(dir, 'jl.yaml'))
    const files = spec.stages[0].jobs[0].files
    assert.deepEqual(files.map(f => f.path), ['a.txt', 'b.sh', 'c/d.txt'])
    assert.equal(files[1].content, 'echo @X@\n')
    assert.equal(files[1].mode, 0o755)
    assert.equal(spec.stages[0].jobs[0].timeoutMs, 120_000)
    assert.equal(validateJoblist(spec).ok, true, 'the resolved form validates again (what the API receives)')
    await writeFile(join(dir, 'bad.yaml'), 'name: l\nstages:\n  - name: s\n    jobs:\n      - name: j\n        run: x\n        files: [{path: x, source: ./nope.sh}]\n')
    await assert.rejects(loadJoblistFile(join(dir, 'bad.yaml')), (err: unknown) => {
      assert.ok(err instanceof SpecError)
      assert.equal(err.issues[0].path, 'stages[0].jobs[0].files[0].source')
      assert.match(err.issues[0].message, /no such file/)
      return true
    })
    await assert.rejects(loadJoblistFile(join(dir, 'missing.yaml')), /no such file/)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
