// The front page (S-5): what needs a person first (failed joblists nobody acknowledged,
// paused schedules), then running and queued joblists in queue order with their progress and
// why they wait, then the nodes; recent ends and schedules below. Live from the stream.
import type { JoblistSummary } from '../src/live/protocol.js'
import type { JoblistView } from '../src/state/views.js'
import type { Ctx, Page } from './app.js'
import { call, get, messageOf } from './api.js'
import { domId, duration, h, render, state, table, time } from './h.js'

/** How many queued joblists get their full view fetched to say why they wait. */
const EXPLAIN_QUEUED = 3
/** How often (at most) each of them is fetched again. */
const EXPLAIN_EVERY_MS = 2000

/** Ended jobs out of all, from the summary's counts by state. */
function progress (j: JoblistSummary): { ended: number, total: number, text: string } {
  const order = ['running', 'pending', 'succeeded', 'failed', 'stopped', 'lost']
  const counts = Object.entries(j.jobs).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
  const total = counts.reduce((n, [, c]) => n + c, 0)
  const ended = counts.filter(([s]) => s !== 'running' && s !== 'pending').reduce((n, [, c]) => n + c, 0)
  return { ended, total, text: counts.map(([s, c]) => `${c} ${s}`).join(', ') }
}

const newestEnd = (a: JoblistSummary, b: JoblistSummary): number => (b.endedAt ?? '').localeCompare(a.endedAt ?? '')

/** Why a waiting joblist waits, from its full view: the first job that says so. */
function whyWaits (v: JoblistView): string | undefined {
  for (const s of v.stages) {
    for (const j of s.jobs) {
      if (j.waiting !== undefined) return `${j.name}: ${j.waiting}`
      for (const p of j.physical ?? []) if (p.waiting !== undefined) return `${p.name}: ${p.waiting}`
    }
  }
  return undefined
}

export function frontPage (root: HTMLElement, ctx: Ctx): Page {
  const why = new Map<string, { text: string, at: number }>()
  const asking = new Set<string>()
  const notes = new Map<string, string>() // button results: `ack`/`resume` errors by thing
  let closed = false

  const explain = (id: string): void => {
    const known = why.get(id)
    if (asking.has(id) || (known !== undefined && Date.now() - known.at < EXPLAIN_EVERY_MS)) return
    asking.add(id)
    get<JoblistView>(`/v1/joblists/${encodeURIComponent(id)}`)
      .then(v => { why.set(id, { text: whyWaits(v) ?? (v.state === 'queued' ? 'queued' : v.state), at: Date.now() }) })
      .catch(() => { why.set(id, { text: 'queued', at: Date.now() }) })
      .finally(() => { asking.delete(id); if (!closed) draw() })
  }

  const act = async (key: string, method: string, path: string): Promise<void> => {
    notes.delete(key)
    try { await call(method, path) } catch (err) { notes.set(key, messageOf(err)) }
    draw()
  }

  function draw (): void {
    const copy = ctx.copy()
    const all = copy.joblistList()
    const failed = all.filter(j => j.state === 'failed' && j.acked !== true).sort(newestEnd)
    const paused = [...copy.schedules.values()].filter(s => s.paused && !s.removed)
    const running = all.filter(j => j.state === 'running')
    const queued = all.filter(j => j.state === 'queued')
    const ended = all.filter(j => j.endedAt !== null && !(j.state === 'failed' && j.acked !== true)).sort(newestEnd).slice(0, 10)
    queued.slice(0, EXPLAIN_QUEUED).forEach(j => explain(j.id))
    const schedules = [...copy.schedules.values()].filter(s => !s.removed)
    const link = (j: { id: string, name: string }): HTMLElement => h('a', { href: `#/joblist/${encodeURIComponent(j.id)}` }, j.name, ' ', h('span', { class: 'id' }, `(${j.id})`))

    const attention = [
      ...failed.map(j => h('li', { class: 'attention-failed', 'data-joblist': j.id },
        link(j), ' ', state('failed'), ' ended ', time(j.endedAt), ' ',
        h('button', { type: 'button', id: domId('ack', j.id), 'aria-label': `ack: mark the failure of ${j.name} (${j.id}) as seen`, onclick: () => { void act(j.id, 'POST', `/v1/joblists/${encodeURIComponent(j.id)}/ack`) } }, 'ack'),
        h('p', { class: 'failure' }, j.failure ?? 'failed'),
        notes.has(j.id) ? h('p', { class: 'error' }, notes.get(j.id)) : null)),
      ...paused.map(s => h('li', { class: 'attention-paused', 'data-schedule': s.name },
        'schedule ', h('strong', null, s.name), ' ', state('paused'), ' ',
        s.pausedBy === 'user' || s.pausedBy === null ? 'by a person' : ['by the failed run ', h('a', { href: `#/joblist/${encodeURIComponent(s.pausedBy)}` }, s.pausedBy)], ' ',
        h('button', { type: 'button', id: domId('resume', s.name), 'aria-label': `resume the schedule ${s.name}`, onclick: () => { void act(`s:${s.name}`, 'POST', `/v1/schedules/${encodeURIComponent(s.name)}/resume`) } }, 'resume'),
        notes.has(`s:${s.name}`) ? h('p', { class: 'error' }, notes.get(`s:${s.name}`)) : null))
    ]

    const activeRows = [...running, ...queued].map((j, i) => {
      const p = progress(j)
      const waits = j.state === 'queued' ? (why.get(j.id)?.text ?? (i - running.length < EXPLAIN_QUEUED ? '…' : 'queued')) : ''
      return h('tr', { 'data-joblist': j.id },
        h('td', null, link(j)),
        h('td', null, state(j.state)),
        h('td', null, j.currentStage ?? '—', ` (${j.stages} stage${j.stages === 1 ? '' : 's'})`),
        h('td', null, h('progress', { max: p.total, value: p.ended, 'aria-label': `${p.ended} of ${p.total} jobs ended` }), ' ', h('span', { class: 'counts' }, p.text)),
        h('td', { class: 'waits' }, waits),
        h('td', { class: 'opt' }, time(j.acceptedAt)))
    })

    const nodeRows = [...copy.nodes].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1)).map(n => h('tr', { 'data-node': n.name, class: n.master ? 'master' : null },
      h('td', null, h('a', { href: `#/node/${encodeURIComponent(n.name)}` }, n.name), n.self ? ' (this agent)' : ''),
      h('td', null, state(n.alive ? 'alive' : 'offline'), !n.alive && n.lastSeen !== null ? [' last seen ', time(n.lastSeen)] : null),
      h('td', { class: 'role' }, n.master ? h('strong', null, 'master') : '—'),
      h('td', null, Object.entries(n.resources).map(([t, ids]) => `${t}: ${ids.length}`).join(', ') || '—'),
      h('td', { class: 'opt' }, String(n.priority)),
      h('td', { class: 'opt' }, n.profiles.join(', ') || '—')))

    render(root,
      h('h1', null, 'Overview'),
      h('section', { 'aria-labelledby': 'h-attention', id: 'attention' },
        h('h2', { id: 'h-attention' }, 'Needs attention'),
        attention.length > 0 ? h('ul', { class: 'attention' }, attention) : h('p', { class: 'quiet' }, 'Nothing needs attention: no unacknowledged failures, no paused schedules.')),
      h('section', { 'aria-labelledby': 'h-active', id: 'active' },
        h('h2', { id: 'h-active' }, 'Running and queued'),
        activeRows.length > 0
          ? table(null, ['Joblist', 'State', 'Stage', 'Jobs', 'Waits for', ['Accepted', 'opt']], activeRows)
          : h('p', { class: 'quiet' }, 'Nothing is running or queued.')),
      h('section', { 'aria-labelledby': 'h-nodes', id: 'nodes' },
        h('h2', { id: 'h-nodes' }, 'Nodes'),
        nodeRows.length > 0 ? table(null, ['Node', 'Status', 'Role', 'Resources', ['Priority', 'opt'], ['Profiles', 'opt']], nodeRows) : h('p', { class: 'quiet' }, 'No nodes known yet.')),
      schedules.length > 0
        ? h('section', { 'aria-labelledby': 'h-schedules', id: 'schedules' },
          h('h2', { id: 'h-schedules' }, 'Schedules'),
          table(null, ['Schedule', 'State', 'Cron', 'Next run', ['Last run', 'opt']], schedules.map(s => h('tr', { 'data-schedule': s.name },
            h('td', null, s.name),
            h('td', null, state(s.paused ? 'paused' : s.failing ? 'failing' : 'active')),
            h('td', null, h('code', null, s.cron), ` ${s.timezone}`),
            h('td', null, time(s.next)),
            h('td', { class: 'opt' }, s.last === null ? '—' : [s.last.id !== null ? h('a', { href: `#/joblist/${encodeURIComponent(s.last.id)}` }, s.last.id) : 'submitted', ' ', state(s.last.state)])))))
        : null,
      ended.length > 0
        ? h('section', { 'aria-labelledby': 'h-ended', id: 'ended' },
          h('h2', { id: 'h-ended' }, 'Recently ended'),
          table(null, ['Joblist', 'State', 'Ended', ['Took', 'opt'], 'Notes'], ended.map(j => h('tr', { 'data-joblist': j.id },
            h('td', null, link(j)),
            h('td', null, state(j.state)),
            h('td', null, time(j.endedAt)),
            h('td', { class: 'opt' }, duration(j.acceptedAt, j.endedAt)),
            h('td', null, j.failure !== undefined ? `${j.failure}${j.acked === true ? ' (acknowledged)' : ''}` : '')))))
        : null)
  }

  draw()
  return { update: draw, close: () => { closed = true } }
}
