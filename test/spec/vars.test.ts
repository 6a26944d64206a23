// S-7: variables. A joblist declares them under `vars`, uses them as `{{name}}` in run, env
// values, file content and replacement values; they are filled in once, at submit.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fillVars, missingVars, parseJoblistText, parseVarAssignments, undeclaredVars, validateJoblist, valueProblem } from '../../src/spec/index.js'
import type { JoblistSpec, SpecIssue } from '../../src/spec/index.js'

type Issues = Array<{ path: string, message: string }>

/** A joblist file value with one job; `job` and `top` override fields. */
function file (job: Record<string, unknown> = {}, top: Record<string, unknown> = {}): any {
  return { name: 'release', stages: [{ name: 'build', jobs: [{ name: 'compile', run: 'make', ...job }] }], ...top }
}

function valid (input: unknown): JoblistSpec {
  const r = validateJoblist(input)
  assert.ok(r.ok, `expected a valid joblist: ${JSON.stringify(r.ok ? null : r.issues)}`)
  return r.spec
}

function refused (input: unknown): Issues {
  const r = validateJoblist(input)
  assert.equal(r.ok, false, 'expected the joblist to be refused')
  return r.ok ? [] : r.issues
}

function has (list: Issues, path: string, re: RegExp): void {
  assert.ok(list.some(i => i.path === path && re.test(i.message)), `no issue at ${path} matching ${re}: ${JSON.stringify(list)}`)
}

function filled (spec: JoblistSpec, given: Record<string, string> = {}): JoblistSpec {
  const r = fillVars(spec, given)
  assert.ok(r.ok, `expected the variables to be filled: ${JSON.stringify(r.ok ? null : r.issues)}`)
  return r.spec
}

function fillIssues (spec: JoblistSpec, given: Record<string, string> = {}): SpecIssue[] {
  const r = fillVars(spec, given)
  assert.equal(r.ok, false, 'expected the values to be refused')
  return r.ok ? [] : r.issues
}

test('S-7: an undeclared {{x}} in run, env, file content or a replacement value is an error at its path', () => {
  has(refused(file({ run: 'deploy {{target}}' })), 'stages[0].jobs[0].run', /\{\{target\}\} is not a declared variable.*name: target/)
  has(refused(file({ env: { WHERE: 'to-{{target}}' } })), 'stages[0].jobs[0].env.WHERE', /\{\{target\}\}/)
  has(refused(file({ files: [{ path: 'a.conf', content: 'host={{host}}' }] })), 'stages[0].jobs[0].files[0].content', /\{\{host\}\}/)
  has(refused(file({ files: [{ path: 'a.conf', content: '@H@', replace: { '@H@': '{{host}}' } }] })), 'stages[0].jobs[0].files[0].replace.@H@', /\{\{host\}\}/)
  has(refused(file({ replace: { '@H@': '{{host}}' } })), 'stages[0].jobs[0].replace.@H@', /\{\{host\}\}/)
  has(refused(file({}, { replace: { '@H@': '{{host}}' } })), 'replace.@H@', /\{\{host\}\}/)
  // In a later stage and job: the path says which.
  const two = file()
  two.stages.push({ name: 'ship', jobs: [{ name: 'a', run: 'true' }, { name: 'b', run: 'scp x {{dest}}' }] })
  has(refused(two), 'stages[1].jobs[1].run', /\{\{dest\}\}/)
  // Declared: fine.
  valid(file({ run: 'deploy {{target}}' }, { vars: [{ name: 'target', default: 'prod' }] }))
})

test('S-7: an undeclared variable is reported once, where it is first used; each different one is reported', () => {
  const list = refused(file({ run: 'echo {{a}} {{a}} {{b}}', env: { X: '{{a}}', Y: '{{c}}' } }))
  assert.deepEqual(list.map(i => i.path), ['stages[0].jobs[0].run', 'stages[0].jobs[0].run', 'stages[0].jobs[0].env.Y'])
  assert.deepEqual(list.map(i => /\{\{(\w+)\}\}/.exec(i.message)?.[1]), ['a', 'b', 'c'])
})

test('S-7: `{{ x }}` with spaces and `{{.X}}` belong to other template languages and are not variables', () => {
  const spec = valid(file({
    run: 'helm template --set a={{ .Values.a }} && echo {{ x }} {{.X}} {{-x}} {{1x}} {x} {{{x}}}',
    files: [{ path: 'tpl.j2', content: '{{ name }} {{.Name}} {% if x %}' }]
  }, { vars: [{ name: 'x', default: 'filled' }] }))
  const out = filled(spec)
  // Only the one real `{{x}}` (inside `{{{x}}}`) is filled; everything else stays as written.
  assert.equal(out.stages[0].jobs[0].run, 'helm template --set a={{ .Values.a }} && echo {{ x }} {{.X}} {{-x}} {{1x}} {x} {filled}')
  assert.equal(out.stages[0].jobs[0].files[0].content, '{{ name }} {{.Name}} {% if x %}')
  // And none of them is an undeclared variable.
  valid(file({ run: 'echo {{ x }} {{.X}} {{ .Values.y }}' }))
})

test('S-7/R6: a {{x}} that is a pattern of a replace map is that map\'s, not a variable', () => {
  // Joblist, job and file maps all count.
  const spec = valid(file({
    files: [{ path: 'v.txt', content: 'version={{version}} build={{build}} rev={{rev}}', replace: { '{{rev}}': 'abc' } }],
    replace: { '{{build}}': '42' }
  }, { replace: { '{{version}}': '1.2' } }))
  assert.deepEqual(undeclaredVars(spec), [])
  // Filling leaves the patterns alone (the replace maps apply later, to the files).
  const out = filled(spec)
  assert.equal(out.stages[0].jobs[0].files[0].content, 'version={{version}} build={{build}} rev={{rev}}')
  // A pattern that only contains the braces among other text does not cover a bare use.
  has(refused(file({ run: 'echo {{ver}}', replace: { 'v={{ver}}': 'x' } })), 'stages[0].jobs[0].run', /\{\{ver\}\}/)
})

test('S-7: required defaults to true without a default, false with one; required: false without a default fills ""', () => {
  const spec = valid(file({ run: 'echo {{a}} {{b}} {{c}} {{d}}' }, {
    vars: [{ name: 'a' }, { name: 'b', default: 'B' }, { name: 'c', required: false }, { name: 'd', required: true, default: 'D' }]
  }))
  assert.deepEqual(spec.vars?.map(v => [v.name, v.required]), [['a', true], ['b', false], ['c', false], ['d', true]])
  assert.deepEqual(missingVars(spec, {}).map(v => v.name), ['a'])
  assert.deepEqual(missingVars(spec, { a: 'x' }), [])
  has(fillIssues(spec), 'vars.a', /variable 'a' is required.*--var a=VALUE/)
  const out = filled(spec, { a: 'A' })
  assert.equal(out.stages[0].jobs[0].run, 'echo A B  D')
  assert.deepEqual(out.values, { a: 'A', b: 'B', c: '', d: 'D' })
  // A required variable's description is part of the message.
  const described = valid(file({ run: '{{env}}' }, { vars: [{ name: 'env', description: 'where to deploy' }] }))
  has(fillIssues(described), 'vars.env', /required \(where to deploy\)/)
})

test('S-7: given values win over defaults; the values used are recorded in spec.values', () => {
  const spec = valid(file({ run: 'deploy {{app}} to {{env}}', env: { LEVEL: '{{level}}' } }, {
    vars: [{ name: 'app' }, { name: 'env', default: 'staging' }, { name: 'level', default: 'info' }]
  }))
  const out = filled(spec, { app: 'web', level: 'debug' })
  assert.equal(out.stages[0].jobs[0].run, 'deploy web to staging')
  assert.deepEqual(out.stages[0].jobs[0].env, { LEVEL: 'debug' })
  assert.deepEqual(out.values, { app: 'web', env: 'staging', level: 'debug' })
  // Declarations are kept; the original spec is not changed.
  assert.deepEqual(out.vars, spec.vars)
  assert.equal(spec.stages[0].jobs[0].run, 'deploy {{app}} to {{env}}')
  assert.equal(spec.values, undefined)
  // A joblist without variables: filling changes nothing but records no values.
  const plain = valid(file())
  assert.deepEqual(filled(plain), { ...plain, values: {} })
})

test('S-7: every place a variable may be used is filled: run, env, file content, every replace map\'s values', () => {
  const spec = valid(file({
    run: 'r={{v}}',
    env: { E: 'e={{v}}' },
    replace: { '@J@': 'j={{v}}' },
    files: [{ path: 'f', content: 'c={{v}}', replace: { '@F@': 'f={{v}}' } }]
  }, { vars: [{ name: 'v' }], replace: { '@L@': 'l={{v}}' } }))
  const out = filled(spec, { v: 'X' })
  const j = out.stages[0].jobs[0]
  assert.deepEqual([j.run, j.env.E, j.replace['@J@'], j.files[0].content, j.files[0].replace['@F@'], out.replace['@L@']], ['r=X', 'e=X', 'j=X', 'c=X', 'f=X', 'l=X'])
  // Names and paths are not places for variables: they stay as written.
  assert.equal(j.name, 'compile')
  assert.equal(j.files[0].path, 'f')
  assert.deepEqual(undeclaredVars(out), [], 'a filled spec has nothing left to declare')
})

test('S-7: one pass: a value containing {{other}} or $& is inserted as it is, never expanded again', () => {
  const spec = valid(file({ run: 'echo {{a}} {{b}}' }, { vars: [{ name: 'a' }, { name: 'b' }] }))
  const out = filled(spec, { a: '{{b}}', b: '$& $1 $$' })
  assert.equal(out.stages[0].jobs[0].run, 'echo {{b}} $& $1 $$')
  // The filled spec (values set) is valid as it is: the {{b}} that came from a value is not a new reference.
  valid(out)
  assert.deepEqual(undeclaredVars(out), [])
})

test('S-7: a filled joblist is not filled again', () => {
  const spec = valid(file({ run: 'echo {{a}}' }, { vars: [{ name: 'a' }] }))
  const once = filled(spec, { a: 'x' })
  assert.equal(filled(once), once, 'no values: the same spec')
  has(fillIssues(once, { a: 'y' }), 'vars', /filled in already/)
})

test('S-7: a value that breaks the pattern or the choices is refused, naming the variable', () => {
  const spec = valid(file({ run: 'deploy {{version}} to {{env}}' }, {
    vars: [{ name: 'version', pattern: '^[0-9]+\\.[0-9]+$' }, { name: 'env', choices: ['staging', 'prod'] }]
  }))
  const bad = fillIssues(spec, { version: '1.x', env: 'dev' })
  has(bad, 'vars.version', /variable 'version': '1\.x' does not match the pattern \^\[0-9\]\+/)
  has(bad, 'vars.env', /variable 'env': 'dev' is not one of staging, prod/)
  assert.equal(bad.length, 2)
  const out = filled(spec, { version: '2.10', env: 'prod' })
  assert.equal(out.stages[0].jobs[0].run, 'deploy 2.10 to prod')
  assert.equal(valueProblem({ name: 'v', required: true, pattern: '^a' }, 'abc'), null)
  assert.match(valueProblem({ name: 'v', required: true, pattern: '^a' }, 'bc') ?? '', /does not match/)
  // Both rules apply together.
  assert.match(valueProblem({ name: 'v', required: true, pattern: '^p', choices: ['prod', 'dev'] }, 'dev') ?? '', /pattern/)
  assert.match(valueProblem({ name: 'v', required: true, pattern: '^p', choices: ['prod', 'dev'] }, 'preview') ?? '', /not one of/)
})

test('S-7: an unknown --var name is refused and the declared names are listed', () => {
  const spec = valid(file({ run: 'echo {{app}}' }, { vars: [{ name: 'app', default: 'web' }, { name: 'env', default: 'x' }] }))
  has(fillIssues(spec, { ap: 'web' }), 'vars.ap', /unknown variable 'ap' \(declared: app, env\)/)
  has(fillIssues(valid(file()), { x: '1' }), 'vars.x', /unknown variable 'x' \(the joblist declares none\)/)
})

test('S-7: variable names that are also names of Object.prototype members are ordinary variables', () => {
  const spec = valid(file({ run: 'echo {{constructor}} {{toString}}', env: { X: '{{valueOf}}' } }, {
    vars: [{ name: 'constructor', default: 'c' }, { name: 'toString', default: 't' }, { name: 'valueOf', required: false }]
  }))
  assert.deepEqual(missingVars(spec, {}), [])
  const out = filled(spec)
  assert.equal(out.stages[0].jobs[0].run, 'echo c t')
  assert.deepEqual(out.stages[0].jobs[0].env, { X: '' })
  assert.deepEqual(out.values, { constructor: 'c', toString: 't', valueOf: '' })
  // Undeclared, such a name is not filled from the prototype either: a replace pattern keeps it.
  const literal = valid(file({ files: [{ path: 'f', content: '{{constructor}}', replace: { '{{constructor}}': 'ok' } }] }))
  assert.equal(filled(literal).stages[0].jobs[0].files[0].content, '{{constructor}}')
  // A required one with that name is still required.
  const req = valid(file({ run: '{{hasOwnProperty}}' }, { vars: [{ name: 'hasOwnProperty' }] }))
  assert.deepEqual(missingVars(req, {}).map(v => v.name), ['hasOwnProperty'])
  has(fillIssues(req), 'vars.hasOwnProperty', /required/)
})

test('S-7: declarations are checked: duplicate names, bad names, invalid patterns, defaults that break their own rules', () => {
  has(refused(file({ run: '{{a}}' }, { vars: [{ name: 'a', default: '1' }, { name: 'a', default: '2' }] })), 'vars[1].name', /duplicate variable 'a'/)
  has(refused(file({}, { vars: [{ name: '1abc' }] })), 'vars[0].name', /letters, digits and _/)
  has(refused(file({}, { vars: [{ name: 'with-dash' }] })), 'vars[0].name', /letters, digits and _/)
  has(refused(file({}, { vars: [{ name: 'a', pattern: '([a-z' }] })), 'vars[0].pattern', /not a valid regular expression/)
  has(refused(file({ run: '{{a}}' }, { vars: [{ name: 'a', pattern: '^[0-9]+$', default: 'x' }] })), 'vars[0].default', /'x' does not match the pattern/)
  has(refused(file({ run: '{{a}}' }, { vars: [{ name: 'a', choices: ['x', 'y'], default: 'z' }] })), 'vars[0].default', /'z' is not one of x, y/)
  has(refused(file({}, { vars: [{ name: 'a', choices: [] }] })), 'vars[0].choices', /at least one choice/)
  has(refused(file({}, { vars: [{ name: 'a', secret: true }] })), 'vars[0].secret', /unknown field 'secret'/)
  has(refused(file({}, { vars: [{ name: 'a', required: 'yes' }] })), 'vars[0].required', /true or false/)
  has(refused(file({}, { vars: { a: {} } })), 'vars', /list of variables/)
  // A good default passes its own rules.
  valid(file({ run: '{{a}}' }, { vars: [{ name: 'a', pattern: '^[0-9]+$', choices: ['1', '22'], default: '22' }] }))
})

test('S-7: YAML keeps choices [1.0, 1.1] and default 1.0 as the strings written, not numbers', () => {
  const text = [
    'name: release',
    'vars:',
    '  - name: version',
    '    choices: [1.0, 1.1, 2.10]',
    '    default: 1.0',
    '  - name: build',
    '    default: 007',
    '  - name: debug',
    '    default: false',
    'stages:',
    '  - name: s',
    '    jobs:',
    '      - name: j',
    '        run: echo {{version}} {{build}} {{debug}}'
  ].join('\n')
  const parsed = parseJoblistText(text)
  assert.ok(parsed.ok)
  const spec = valid(parsed.value)
  const version = spec.vars?.find(v => v.name === 'version')
  assert.deepEqual(version?.choices, ['1.0', '1.1', '2.10'])
  assert.equal(version?.default, '1.0')
  assert.equal(spec.vars?.find(v => v.name === 'build')?.default, '007')
  assert.equal(spec.vars?.find(v => v.name === 'debug')?.default, 'false')
  // The default is one of the choices as written; "1" (what 1.0 is as a number) is not.
  const out = filled(spec)
  assert.equal(out.stages[0].jobs[0].run, 'echo 1.0 007 false')
  has(fillIssues(spec, { version: '1' }), 'vars.version', /'1' is not one of 1\.0, 1\.1, 2\.10/)
  assert.equal(filled(spec, { version: '2.10' }).values?.version, '2.10')
  // JSON has no such distinction to keep: numbers there become their usual text.
  const json = parseJoblistText(JSON.stringify(file({ run: '{{v}}' }, { vars: [{ name: 'v', choices: [1.5, 2], default: 2 }] })), 'json')
  assert.ok(json.ok)
  assert.deepEqual(valid(json.value).vars?.[0], { name: 'v', default: '2', required: false, choices: ['1.5', '2'] })
})

test('S-7: parseVarAssignments: the first = splits; a missing = or an empty name is an error', () => {
  assert.deepEqual(parseVarAssignments(['a=1', 'url=http://x/?q=1&r=2', 'empty=', 'sp= x ']), { ok: true, values: { a: '1', url: 'http://x/?q=1&r=2', empty: '', sp: ' x ' } })
  assert.deepEqual(parseVarAssignments([]), { ok: true, values: {} })
  const missing = parseVarAssignments(['a=1', 'novalue'])
  assert.equal(missing.ok, false)
  assert.match(missing.ok ? '' : missing.message, /--var novalue: use NAME=VALUE/)
  const noName = parseVarAssignments(['=x'])
  assert.equal(noName.ok, false)
  // The last of a repeated name wins.
  assert.deepEqual(parseVarAssignments(['a=1', 'a=2']), { ok: true, values: { a: '2' } })
})

test('S-7: parseVarAssignments then fillVars: values from the command line fill the joblist', () => {
  const spec = valid(file({ run: 'curl {{url}}' }, { vars: [{ name: 'url', pattern: '^https?://' }] }))
  const given = parseVarAssignments(['url=https://example.org/a=b'])
  assert.ok(given.ok)
  assert.equal(filled(spec, given.values).stages[0].jobs[0].run, 'curl https://example.org/a=b')
})
