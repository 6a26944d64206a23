// Submit a joblist (S-7): paste or upload YAML or JSON, check it with `POST /v1/validate`
// (each problem next to its path), fill in its variables in a form, submit it as
// `{joblist, vars}`; the new ID links to its page, or the problems show at their paths.
import type { Page } from './app.js'
import { ApiFailure, call, messageOf } from './api.js'
import type { Issue } from './api.js'
import { h, render, time } from './h.js'

interface VarDecl { name: string, description?: string, default?: string, required: boolean, pattern?: string, choices?: string[] }
interface Checked { ok: true, name: string, joblist: unknown, vars: VarDecl[], schedule: { cron: string, timezone: string } | null }
interface Submitted { id?: string | null, name?: string, state?: string, request?: string, schedule?: string, next?: string | null, replaced?: boolean }

const fieldId = (name: string): string => `var-${name}`

/** The problems of a failed call, each with its path (those shown at a form field left out). */
function problems (err: unknown, shownAt: (i: Issue) => boolean = () => false): HTMLElement {
  const f = err instanceof ApiFailure ? err : undefined
  const rest = (f?.details ?? []).filter(i => !shownAt(i))
  return h('div', { id: 'errors', class: 'errors', role: 'alert' },
    h('p', null, h('strong', null, 'Not accepted: '), messageOf(err)),
    rest.length > 0
      ? h('ul', { class: 'issues' }, rest.map(i => h('li', { 'data-path': i.path }, h('code', { class: 'path' }, i.path === '' ? '(the whole text)' : i.path), ' ', h('span', { class: 'message' }, i.message))))
      : null)
}

export function submitPage (root: HTMLElement): Page {
  let checked: Checked | undefined
  const text = h('textarea', { id: 'spec', name: 'spec', rows: '14', spellcheck: 'false', autocapitalize: 'off', 'aria-describedby': 'spec-help', oninput: () => { if (checked !== undefined) { checked = undefined; render(result, h('p', { class: 'quiet' }, 'Changed since the check: check it again.')) } } })
  const file = h('input', {
    type: 'file',
    id: 'spec-file',
    accept: '.yaml,.yml,.json,application/json,application/yaml,text/yaml,text/plain',
    onchange: () => {
      const f = file.files?.[0]
      if (f === undefined) return
      f.text().then(t => { text.value = t; void check() }, err => { render(result, h('p', { class: 'error' }, `could not read ${f.name}: ${messageOf(err)}`)) })
    }
  })
  const result = h('div', { id: 'result', 'aria-live': 'polite' })

  async function check (): Promise<void> {
    checked = undefined
    if (text.value.trim() === '') { render(result, h('p', { class: 'error' }, 'Paste a joblist or choose a file first.')); return }
    render(result, h('p', { class: 'quiet' }, 'checking…'))
    try {
      // YAML is a superset of JSON: the text goes as YAML whichever it is.
      checked = (await call<Checked>('POST', '/v1/validate', { yaml: text.value })).body
      drawForm(checked)
    } catch (err) {
      render(result, problems(err))
    }
  }

  function drawForm (c: Checked): void {
    const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>()
    const errorAt = new Map<string, HTMLElement>()
    const outcome = h('div', { id: 'outcome' })
    const owner = h('input', { type: 'text', id: 'owner', name: 'owner', autocomplete: 'username' })
    const wait = h('input', { type: 'checkbox', id: 'wait-for-nodes', name: 'wait' })
    const fields = c.vars.map(v => {
      const id = fieldId(v.name)
      const described = [v.description !== undefined ? `${id}-desc` : null, `${id}-hint`, `${id}-error`].filter(x => x !== null).join(' ')
      const input = v.choices !== undefined
        ? h('select', { id, name: v.name, 'aria-describedby': described, required: v.required },
          v.default === undefined ? h('option', { value: '' }, v.required ? '— choose —' : '(none)') : null,
          v.choices.map(x => h('option', { value: x }, x)))
        : h('input', { type: 'text', id, name: v.name, value: v.default ?? '', 'aria-describedby': described, required: v.required, spellcheck: 'false' })
      if (v.default !== undefined) input.value = v.default
      inputs.set(v.name, input)
      const err = h('p', { class: 'field-error', id: `${id}-error`, 'data-path': `vars.${v.name}` })
      errorAt.set(`vars.${v.name}`, err)
      const hint = [v.required ? 'required' : 'optional', v.default !== undefined ? `default ${v.default}` : null, v.pattern !== undefined ? `must match ${v.pattern}` : null, v.choices !== undefined ? `one of ${v.choices.join(', ')}` : null].filter(x => x !== null).join('; ')
      return h('div', { class: 'field', 'data-var': v.name },
        h('label', { for: id }, v.name),
        v.description !== undefined ? h('p', { id: `${id}-desc`, class: 'description' }, v.description) : null,
        input,
        h('p', { id: `${id}-hint`, class: 'hint' }, hint),
        err)
    })

    async function submit (e: Event): Promise<void> {
      e.preventDefault()
      for (const el of errorAt.values()) el.textContent = ''
      const vars: Record<string, string> = {}
      for (const [name, input] of inputs) if (input.value !== '') vars[name] = input.value
      render(outcome, h('p', { class: 'quiet' }, 'submitting…'))
      try {
        const headers: Record<string, string> = owner.value.trim() !== '' ? { 'x-cis-owner': owner.value.trim() } : {}
        const r = (await call<Submitted>('POST', `/v1/joblists${wait.checked ? '?unsatisfiable=wait' : ''}`, { json: { joblist: c.joblist, vars }, headers })).body
        if (r.schedule !== undefined) {
          render(outcome, h('p', { id: 'submitted', role: 'status' }, `Schedule ${r.schedule} ${r.replaced === true ? 'replaced' : 'created'}; next run `, time(r.next ?? null), '. Its runs show on the ', h('a', { href: '#/' }, 'overview'), '.'))
        } else if (r.id === null || r.id === undefined) {
          render(outcome, h('p', { id: 'submitted', role: 'status' }, `Stored (request ${r.request ?? '?'}), but no master accepted it yet: it runs once one does.`))
        } else {
          render(outcome, h('p', { id: 'submitted', role: 'status' }, 'Submitted as ', h('a', { href: `#/joblist/${encodeURIComponent(r.id)}`, id: 'submitted-link' }, r.id), ` (${r.state ?? 'queued'}).`))
        }
      } catch (err) {
        const shown = (i: Issue): boolean => {
          const at = errorAt.get(i.path)
          if (at === undefined) return false
          at.textContent = i.message
          return true
        }
        render(outcome, problems(err, shown))
        const first = [...errorAt.entries()].find(([, el]) => el.textContent !== '')
        if (first !== undefined) inputs.get(first[0].slice('vars.'.length))?.focus()
      }
    }

    render(result,
      h('form', { id: 'vars-form', onsubmit: (e: Event) => { void submit(e) } },
        h('h2', null, `Joblist ${c.name}: valid`),
        c.schedule !== null ? h('p', null, 'It has a schedule (', h('code', null, c.schedule.cron), ` ${c.schedule.timezone}): submitting creates or replaces the schedule ${c.name}.`) : null,
        c.vars.length > 0
          ? h('fieldset', null, h('legend', null, 'Variables'), fields)
          : h('p', { class: 'quiet' }, 'It declares no variables.'),
        h('div', { class: 'field' }, h('label', { for: 'owner' }, 'Owner (optional)'), owner),
        h('div', { class: 'field' }, wait, ' ', h('label', { for: 'wait-for-nodes' }, 'Accept it even if no alive node can run some job yet')),
        h('button', { type: 'submit', id: 'submit-joblist' }, c.schedule !== null ? 'Create the schedule' : 'Submit the joblist'),
        outcome))
    ;(inputs.values().next().value as HTMLElement | undefined)?.focus()
  }

  render(root,
    h('h1', null, 'Submit a joblist'),
    h('form', { id: 'check-form', onsubmit: (e: Event) => { e.preventDefault(); void check() } },
      h('div', { class: 'field' },
        h('label', { for: 'spec' }, 'Joblist (YAML or JSON)'),
        h('p', { id: 'spec-help', class: 'hint' }, 'The file format of the README ("Joblist files"). Files given with source: cannot be read from here: put their text in content:.'),
        text),
      h('div', { class: 'field' }, h('label', { for: 'spec-file' }, 'or upload a file '), file),
      h('button', { type: 'submit', id: 'check' }, 'Check')),
    result)
  return {}
}
