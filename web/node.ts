// A node's page: what it is and offers, and which jobs hold its resources now (from the full
// views of the running joblists: their active attempts on this node).
import type { NodeView } from '../src/state/cluster-views.js'
import type { JobView, JoblistView } from '../src/state/views.js'
import type { Ctx, Page } from './app.js'
import { get } from './api.js'
import type { Child } from './h.js'
import { h, render, resourceText, state, table, time } from './h.js'
import { jobLink } from './joblist.js'

/** At most this many running joblists are fetched to find who holds what. */
const MAX_FETCH = 20
const ACTIVE = new Set(['assigned', 'running', 'unknown'])

interface Holder { job: JobView, joblist: { id: string, name: string }, resources: Record<string, string[]> }

export function nodePage (root: HTMLElement, ctx: Ctx, name: string): Page {
  let holders: Holder[] = []
  let seen = ''
  let asking = false
  let again = false
  let closed = false
  let partial = false

  /** Fetch the running joblists again when their summaries changed. */
  function refresh (n: NodeView): void {
    const running = ctx.copy().joblistList().filter(j => j.state === 'running')
    const key = JSON.stringify(running.map(j => [j.id, j.jobs]))
    if (key === seen) return
    if (asking) { again = true; return }
    asking = true
    seen = key
    partial = running.length > MAX_FETCH
    Promise.all(running.slice(0, MAX_FETCH).map(async j => await get<JoblistView>(`/v1/joblists/${encodeURIComponent(j.id)}`).catch(() => null))).then(views => {
      const out: Holder[] = []
      for (const v of views) {
        if (v === null) continue
        for (const s of v.stages) {
          for (const j of s.jobs) {
            for (const x of [j, ...(j.physical ?? [])]) {
              for (const a of x.attempts) {
                if (a.nodeId === n.id && ACTIVE.has(a.state)) out.push({ job: x, joblist: { id: v.id, name: v.name }, resources: a.resources })
              }
            }
          }
        }
      }
      holders = out
    }).finally(() => {
      asking = false
      if (again) { again = false; seen = '' }
      if (!closed) draw()
    })
  }

  function draw (): void {
    if (closed) return
    const copy = ctx.copy()
    const n = copy.nodes.find(x => x.name === name) ?? copy.nodes.find(x => x.id === name)
    if (n === undefined) {
      render(root, h('h1', null, 'Node ', name), h('p', { class: 'quiet' }, copy.nodes.length === 0 ? 'loading…' : `No node '${name}' is known to this agent.`))
      return
    }
    refresh(n)
    const heldBy = new Map<string, Holder>()
    for (const x of holders) for (const [t, ids] of Object.entries(x.resources)) for (const id of ids) heldBy.set(`${t}\0${id}`, x)
    const facts: Array<[string, Child]> = [
      ['Status', [state(n.alive ? 'alive' : 'offline'), n.lastSeen !== null ? [' — last heard ', time(n.lastSeen)] : null]],
      ['Role', n.master ? h('strong', null, 'master') : 'not master'],
      ['Priority', String(n.priority)],
      ['Profiles', n.profiles.join(', ') || '—'],
      ['API', h('code', null, n.api)],
      ['Peer ID', h('code', null, n.id)],
      ['Version', n.version]
    ]
    const rows = Object.entries(n.resources).flatMap(([t, ids]) => ids.map(id => {
      const x = heldBy.get(`${t}\0${id}`)
      return h('tr', { 'data-resource': `${t}:${id}` },
        h('td', null, t), h('td', null, id),
        h('td', null, x === undefined ? 'free' : [jobLink(x.job), ' in ', h('a', { href: `#/joblist/${encodeURIComponent(x.joblist.id)}` }, x.joblist.name)]))
    }))
    render(root,
      h('h1', null, 'Node ', n.name, n.master ? [' ', h('span', { class: 'badge' }, 'master')] : null, n.self ? ' (this agent)' : ''),
      h('dl', { class: 'facts' }, facts.map(([k, x]) => [h('dt', null, k), h('dd', null, x)])),
      h('section', { 'aria-labelledby': 'h-resources' },
        h('h2', { id: 'h-resources' }, 'Resources'),
        rows.length > 0 ? table(null, ['Type', 'Instance', 'Held by'], rows) : h('p', { class: 'quiet' }, 'This node offers no resources.'),
        partial ? h('p', { class: 'quiet' }, `Only the first ${MAX_FETCH} running joblists were looked at.`) : null),
      h('section', { 'aria-labelledby': 'h-jobs' },
        h('h2', { id: 'h-jobs' }, 'Jobs running here'),
        holders.length > 0
          ? table(null, ['Job', 'Joblist', 'State', 'Holds'], holders.map(x => h('tr', { 'data-job': x.job.id },
            h('td', null, jobLink(x.job)),
            h('td', null, h('a', { href: `#/joblist/${encodeURIComponent(x.joblist.id)}` }, x.joblist.name)),
            h('td', null, state(x.job.state)),
            h('td', null, resourceText(x.resources)))))
          : h('p', { class: 'quiet' }, 'None.')))
  }

  draw()
  return { update: draw, close: () => { closed = true } }
}
