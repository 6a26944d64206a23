// A tiny DOM helper: h('tag', {attrs}, ...children) builds an element; render() swaps a
// container's children and keeps keyboard focus on the element with the same id.

export type Child = Node | string | number | null | undefined | false | Child[]
export type Attrs = Record<string, unknown>

function append (el: Element | DocumentFragment, c: Child): void {
  if (c === null || c === undefined || c === false) return
  if (Array.isArray(c)) { for (const x of c) append(el, x); return }
  el.append(c instanceof Node ? c : String(c))
}

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener)
    else if (k === 'value' || k === 'checked' || k === 'selected') (el as unknown as Record<string, unknown>)[k] = v
    else el.setAttribute(k === 'className' ? 'class' : k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

// While a pointer is pressed, drawing waits: a button replaced between mousedown and mouseup
// would lose its click. The last drawing asked for each container is done on release.
let pressed = false
const deferred = new Map<Element, DocumentFragment>()
function release (): void {
  pressed = false
  setTimeout(() => { for (const [parent, frag] of deferred) swap(parent, frag); deferred.clear() }, 0)
}
document.addEventListener('pointerdown', () => { pressed = true }, true)
document.addEventListener('pointerup', release, true)
document.addEventListener('pointercancel', release, true)
window.addEventListener('blur', () => { if (pressed) release() })

/** How to find the focused element again after a redraw: its id, else its link target. */
function focusKey (el: Element): string | null {
  if (el.id !== '') return `#${CSS.escape(el.id)}`
  const href = el.getAttribute('href')
  return el.tagName === 'A' && href !== null ? `a[href="${CSS.escape(href)}"]` : null
}

function swap (parent: Element, frag: DocumentFragment): void {
  const active = document.activeElement
  const key = active !== null && active !== document.body && parent.contains(active) ? focusKey(active) : null
  parent.replaceChildren(frag)
  if (key !== null) (parent.querySelector(key) as HTMLElement | null)?.focus({ preventScroll: true })
}

/** Replace the children of `parent`; the focused element (found again by id or link) keeps the focus. */
export function render (parent: Element, ...children: Child[]): void {
  const frag = document.createDocumentFragment()
  append(frag, children)
  if (pressed) { deferred.set(parent, frag); return }
  deferred.delete(parent)
  swap(parent, frag)
}

/** An id usable in the DOM for a thing's ID (joblist and job IDs hold '.' and '-'). */
export const domId = (prefix: string, id: string): string => `${prefix}-${id.replace(/[^A-Za-z0-9_-]/g, '_')}`

/** A time as the local clock shows it, with the full ISO time as a tooltip. */
export function time (iso: string | null | undefined): Child {
  if (iso === null || iso === undefined) return '—'
  const d = new Date(iso)
  const today = new Date().toDateString() === d.toDateString()
  return h('time', { datetime: iso, title: iso }, today ? d.toLocaleTimeString() : d.toLocaleString())
}

/** A duration between two ISO times (or until now), in words: `850 ms`, `12.3 s`, `4 min 2 s`. */
export function duration (from: string | null | undefined, to: string | null | undefined): string {
  if (from === null || from === undefined) return '—'
  const ms = (to === null || to === undefined ? Date.now() : Date.parse(to)) - Date.parse(from)
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const m = Math.floor(ms / 60_000)
  if (m < 60) return `${m} min ${Math.round((ms % 60_000) / 1000)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

/** A state as a word, marked for the style sheet (colour is an extra, never the only sign). */
export const state = (s: string): HTMLElement => h('span', { class: `state state-${s}` }, s)

/** `{slot: ['slot0', 'slot1'], gpu: ['gpu0']}` as `slot: slot0, slot1; gpu: gpu0`. */
export function resourceText (r: Record<string, string[]> | undefined): string {
  const parts = Object.entries(r ?? {}).filter(([, ids]) => ids.length > 0).map(([t, ids]) => `${t}: ${ids.join(', ')}`)
  return parts.length > 0 ? parts.join('; ') : '—'
}

/** A table with a header row; `opt` columns are hidden at phone width. */
export function table (caption: string | null, head: Array<string | [string, 'opt']>, rows: Child[], attrs: Attrs = {}): HTMLElement {
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      caption !== null ? h('caption', null, caption) : null,
      h('thead', null, h('tr', null, head.map(c => typeof c === 'string' ? h('th', { scope: 'col' }, c) : h('th', { scope: 'col', class: 'opt' }, c[0])))),
      h('tbody', null, rows)))
}
