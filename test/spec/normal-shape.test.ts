// The fast way to accept a joblist in the form events carry it (src/spec/normal-shape.ts) must
// accept only what the schema accepts and leaves unchanged, whatever a peer sends: here checked
// against joblistSchema itself on normal joblists and on thousands of seeded mutations of them
// (wrong types, bounds, names, keys added and taken away). It must also fire on what nodes
// really send, or it saves nothing.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalShape } from '../../src/spec/normal-shape.js'
import { joblistSchema } from '../../src/spec/schema.js'
import { validateJoblist } from '../../src/spec/index.js'
import { seededRandom } from '../../src/util/seeded-random.js'

/** Joblists as the API takes them; validateJoblist makes each the form events carry. */
const INPUTS: unknown[] = [
  { name: 'one', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] },
  {
    name: 'pipeline.v2',
    priority: -7,
    tags: ['nightly', 'x'],
    replace: { '@V@': 3 },
    values: { branch: 'main' },
    stages: [
      { name: 'build', jobs: [{ name: 'compile', run: 'make', needs: { slot: 2, gpu: 0 }, env: { CC: 'gcc', N: 4 }, timeout: '5m', retries: 2 }] },
      {
        name: 'test',
        jobs: [
          { name: 't1', run: 'make test', lostAfter: '30s', retryLost: false, target: { node: 'n1' }, files: [{ path: 'conf/a.ini', content: 'x=1', mode: '0640', replace: { x: 'y' } }] },
          { name: 't2', run: 'echo', target: { all: true } },
          { name: 't3', run: 'echo', target: { profile: 'big' }, files: [{ path: 'b', content: '' }] }
        ]
      }
    ]
  }
]

function normalForms (): unknown[] {
  return INPUTS.map(i => {
    const r = validateJoblist(i)
    assert.ok(r.ok, JSON.stringify(r))
    return JSON.parse(JSON.stringify(r.spec)) as unknown
  })
}

/** Zod's verdict on x, and whether its output is x unchanged (what normalShape's answer stands for). */
function schemaKeeps (x: unknown): boolean {
  const r = joblistSchema.safeParse(x)
  if (!r.success) return false
  try { assert.deepStrictEqual(JSON.parse(JSON.stringify(r.data)), x); return true } catch { return false }
}

test('R1-2/R1-5 (issue 12): a joblist in the form events carry it is recognised without the schema, and the schema agrees it is valid and unchanged', () => {
  for (const spec of normalForms()) {
    assert.ok(normalShape(spec) !== undefined, `recognised: ${JSON.stringify(spec)}`)
    assert.ok(schemaKeeps(spec), 'the schema accepts it as it is')
    assert.deepEqual(validateJoblist(spec), { ok: true, spec }, 'and validating it again gives it back')
  }
  // What it leaves to the schema: an input the schema fills in or converts.
  for (const raw of INPUTS) assert.equal(normalShape(raw), undefined, 'defaults missing, durations as text: the schema\'s work')
})

/** Every path to a value inside x (objects and arrays), the root excluded. */
function paths (x: unknown, at: Array<string | number> = []): Array<Array<string | number>> {
  if (typeof x !== 'object' || x === null) return []
  const out: Array<Array<string | number>> = []
  for (const k of Array.isArray(x) ? x.keys() : Object.keys(x)) {
    const p = [...at, k]
    out.push(p, ...paths((x as Record<string | number, unknown>)[k], p))
  }
  return out
}

const REPLACEMENTS: unknown[] = [
  null, true, false, 0, -1, 1, 1.5, 1001, -1001, 101, 1025, 2 ** 53, 1e308, 0o7777, 0o10000, 30 * 24 * 3600 * 1000 + 1,
  '', 'x', 'ok-name', 'bad name', '-lead', 'CIS_X', '__proto__', '../up', '/abs', '.cis/x', 'a'.repeat(101), 'a'.repeat(256),
  [], [1], ['x'], [''], {}, { x: 1 }, { x: 'y' }, { all: false }, { node: 'n', all: true }, { '': 'v' }, { CIS_A: 'v' }, { 'bad-env': 'v' }, { Gpu: 1 }
]

test('R1-2/R1-5 (issue 12): whatever a peer sends, the fast way accepts only what the schema accepts and leaves unchanged (seeded mutations)', () => {
  const bases = normalForms()
  const random = seededRandom(12)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]
  let recognised = 0
  let rejected = 0
  for (let i = 0; i < 6000; i++) {
    const x = structuredClone(pick(bases)) as Record<string, unknown>
    // One to three changes: a value replaced, a key taken away, a key added.
    for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
      const all = paths(x)
      const p = pick(all)
      const parent = p.slice(0, -1).reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], x) as Record<string | number, unknown>
      const key = p[p.length - 1]
      const what = random()
      if (what < 0.6) parent[key] = structuredClone(pick(REPLACEMENTS))
      else if (what < 0.8) { if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key] }
      else if (!Array.isArray(parent)) parent[pick(['extra', 'timeout', 'source', 'schedule', 'notify', 'vars', 'mode', 'target', 'CIS_Y', 'A_B'])] = structuredClone(pick(REPLACEMENTS))
    }
    // (Through JSON, as a peer's event arrives: `__proto__` as a key of its own, too.)
    const text = JSON.stringify(x).replace('"A_B"', '"__proto__"')
    const received = JSON.parse(text) as unknown
    if (normalShape(received) !== undefined) {
      recognised++
      assert.ok(schemaKeeps(received), `accepted by the fast way but not kept by the schema: ${text}`)
    } else rejected++
  }
  // Both answers were exercised (else this would test nothing).
  assert.ok(recognised > 100 && rejected > 100, `recognised ${recognised}, left to the schema ${rejected}`)
})

test('R1-2/R1-5 (issue 12): each bound of the schema holds in the fast way too: one past it, the joblist is left to the schema, which refuses it', () => {
  const [, base] = normalForms() as Array<Record<string, any>>
  const cases: Array<[string, (x: Record<string, any>) => void]> = [
    ['priority over 1000', x => { x.priority = 1001 }],
    ['priority under -1000', x => { x.priority = -1001 }],
    ['a name too long', x => { x.name = 'a'.repeat(101) }],
    ['101 tags', x => { x.tags = Array.from({ length: 101 }, (_, i) => `t${i}`) }],
    ['retries over 100', x => { x.stages[0].jobs[0].retries = 101 }],
    ['a need over 1024', x => { x.stages[0].jobs[0].needs.slot = 1025 }],
    ['a timeout of 0', x => { x.stages[0].jobs[0].timeoutMs = 0 }],
    ['a timeout over 30 days', x => { x.stages[0].jobs[0].timeoutMs = 30 * 24 * 3600 * 1000 + 1 }],
    ['a file mode over 07777', x => { x.stages[1].jobs[0].files[0].mode = 0o10000 }],
    ['a reserved variable', x => { x.stages[0].jobs[0].env.CIS_X = 'v' }],
    ['a file outside the work directory', x => { x.stages[1].jobs[0].files[0].path = '../x' }],
    ['an empty run', x => { x.stages[0].jobs[0].run = '' }]
  ]
  for (const [what, change] of cases) {
    const x = structuredClone(base)
    change(x)
    assert.equal(normalShape(x), undefined, `${what}: not accepted by the fast way`)
    assert.equal(joblistSchema.safeParse(x).success, false, `${what}: refused by the schema (the case is a real bound)`)
  }
})
