// A joblist's page: stages, jobs (physical ones per node under their logical job), attempts
// with exit codes and times, its failure line, stop and ack buttons. Live from
// `GET /v1/events?joblist=ID`; why pending jobs wait comes from `GET /v1/joblists/ID`.
import type { AttemptView, JobView, JoblistView } from '../src/state/views.js'
import type { Ctx, Page } from './app.js'
import { call, get, messageOf } from './api.js'
import type { Child } from './h.js'
import { domId, duration, h, render, resourceText, state, table, time } from './h.js'

const FINAL_JOBLIST = new Set(['succeeded', 'failed', 'stopped'])
const FINAL_JOB = new Set(['succeeded', 'failed', 'stopped', 'lost'])
export const isFinalJob = (s: string): boolean => FINAL_JOB.has(s)
export const isFinalJoblist = (s: string): boolean => FINAL_JOBLIST.has(s)

/** One attempt in a line: `#2 on n1: failed, exit 3 — started 12:00:01, took 1.2 s`. */
export function attemptLine (a: AttemptView): Child[] {
  const how = a.signal !== null ? `killed by ${a.signal}` : a.exitCode !== null ? `exit ${a.exitCode}` : null
  const reason = a.reason !== null && a.reason !== `exit code ${a.exitCode ?? ''}` ? a.reason : null
  return [
    `#${a.n} on ${a.node ?? a.nodeId.slice(-6)}: `, state(a.state),
    how !== null ? `, ${how}` : '',
    a.lostInMs !== undefined ? ` (counts as lost in ${Math.ceil(a.lostInMs / 1000)} s)` : '',
    ' — started ', time(a.startedAt ?? a.assignedAt),
    a.startedAt !== null && a.endedAt !== null ? `, took ${duration(a.startedAt, a.endedAt)}` : '',
    reason !== null ? h('span', { class: 'reason' }, ` (${reason})`) : ''
  ]
}

export const jobLink = (j: { id: string, name: string }): HTMLElement => h('a', { href: `#/job/${encodeURIComponent(j.id)}` }, j.name)

/** Ask first; a stop cannot be taken back. */
export async function stop (what: string, path: string): Promise<string | undefined> {
  if (!window.confirm(`Stop ${what}? Its running jobs are ended.`)) return undefined
  try { await call('POST', path); return undefined } catch (err) { return messageOf(err) }
}

export function joblistPage (root: HTMLElement, ctx: Ctx, ref: string): Page {
  let view: JoblistView | null | undefined
  let problem: string | undefined
  let note: string | undefined
  const waits = new Map<string, string>()
  let waitsAt = 0
  let asking = false
  let closed = false

  const client = ctx.joblistClient(ref, c => { view = c.joblist; problem = undefined; draw(); explain() }, err => {
    if (/: 404\b/.test(err.message)) { problem = `No joblist '${ref}' is known to this agent.`; client.close() } else problem = `The stream dropped; reconnecting (${err.message}).`
    draw()
  })
  void client.run()

  /** The stream's views say nothing of waiting: ask the API now and then while jobs wait. */
  function explain (): void {
    const v = view
    if (v === null || v === undefined || isFinalJoblist(v.state) || asking || Date.now() - waitsAt < 1500) return
    const pending = v.stages.some(s => s.jobs.some(j => j.state === 'pending' || (j.physical ?? []).some(p => p.state === 'pending')))
    if (!pending) { waits.clear(); return }
    asking = true
    get<JoblistView>(`/v1/joblists/${encodeURIComponent(v.id)}`).then(full => {
      waits.clear()
      for (const s of full.stages) for (const j of s.jobs) for (const x of [j, ...(j.physical ?? [])]) if (x.waiting !== undefined) waits.set(x.id, x.waiting)
    }).catch(() => {}).finally(() => { asking = false; waitsAt = Date.now(); if (!closed) draw() })
  }

  function jobRow (j: JobView, physical: boolean): HTMLElement {
    const waiting = j.waiting ?? waits.get(j.id)
    const notes: Child[] = [
      j.summary !== undefined ? h('p', { class: 'failure' }, j.summary) : null,
      waiting !== undefined && j.state === 'pending' ? h('p', null, 'waits: ', waiting) : null,
      j.target !== undefined ? h('p', null, 'target: ', 'node' in j.target ? `node ${j.target.node}` : 'profile' in j.target ? `profile ${j.target.profile}` : 'all nodes') : null,
      Object.keys(j.resources).length > 0 && !isFinalJob(j.state) ? h('p', null, 'holds ', resourceText(j.resources)) : null
    ]
    return h('tr', { 'data-job': j.id, class: physical ? 'physical' : null },
      h('th', { scope: 'row' }, physical ? h('span', { 'aria-hidden': 'true' }, '↳ ') : null, jobLink(j)),
      h('td', null, state(j.state)),
      h('td', null, j.node !== null ? h('a', { href: `#/node/${encodeURIComponent(j.node)}` }, j.node) : '—'),
      h('td', null, j.attempts.length > 0 ? h('ul', { class: 'attempts' }, j.attempts.map(a => h('li', null, attemptLine(a)))) : j.physical !== undefined ? `${j.physical.length} physical jobs` : 'none yet'),
      h('td', null, notes),
      h('td', null, isFinalJob(j.state)
        ? ''
        : h('button', { type: 'button', id: domId('stop-job', j.id), 'aria-label': `stop job ${j.name}`, onclick: () => { void stop(`job ${j.name}`, `/v1/jobs/${encodeURIComponent(j.id)}/stop`).then(e => { note = e; draw() }) } }, 'Stop job')))
  }

  function draw (): void {
    if (closed) return
    const v = view
    if (v === undefined || v === null) {
      render(root, h('h1', null, 'Joblist ', ref), h('p', { class: problem !== undefined ? 'error' : 'quiet' }, problem ?? (v === null ? `No joblist '${ref}' is known to this agent.` : 'loading…')))
      return
    }
    const active = !isFinalJoblist(v.state)
    const facts: Array<[string, Child]> = [
      ['ID', h('code', null, v.id)],
      ['Owner', v.owner],
      ['Priority', String(v.priority)],
      ['Tags', v.tags.join(', ') || '—'],
      ['Submitted', time(v.submittedAt)],
      ['Accepted', time(v.acceptedAt)],
      ['Ended', v.endedAt !== null ? [time(v.endedAt), ` (took ${duration(v.acceptedAt, v.endedAt)})`] : '—'],
      ['Current stage', v.currentStage ?? '—']
    ]
    if (v.schedule !== undefined) facts.push(['Schedule run', [v.schedule.name, ' for ', time(v.schedule.instant), v.schedule.manual === true ? ' (manual)' : '']])
    if (v.duplicateOf !== undefined) facts.push(['Duplicate of', h('a', { href: `#/joblist/${encodeURIComponent(v.duplicateOf)}` }, v.duplicateOf)])
    if (v.duplicates > 0) facts.push(['Duplicate runs', String(v.duplicates)])
    if (v.values !== undefined) facts.push(['Variables', Object.entries(v.values).map(([k, x]) => `${k}=${x}`).join(', ') || '—'])

    render(root,
      h('h1', null, 'Joblist ', v.name, ' ', state(v.state)),
      problem !== undefined ? h('p', { class: 'error' }, problem) : null,
      h('div', { class: 'actions' },
        active ? h('button', { type: 'button', id: 'stop-joblist', onclick: () => { void stop(`joblist ${v.name} (${v.id})`, `/v1/joblists/${encodeURIComponent(v.id)}/stop`).then(e => { note = e; draw() }) } }, 'Stop joblist') : null,
        v.state === 'failed' && v.acked !== true ? h('button', { type: 'button', id: 'ack-joblist', onclick: () => { call('POST', `/v1/joblists/${encodeURIComponent(v.id)}/ack`).then(() => { note = undefined }, e => { note = messageOf(e) }).finally(draw) } }, 'ack failure') : null),
      note !== undefined ? h('p', { class: 'error' }, note) : null,
      v.failure !== undefined ? h('p', { class: 'failure', id: 'failure' }, h('strong', null, 'Failure: '), v.failure, v.acked === true ? ' (acknowledged)' : '') : null,
      h('dl', { class: 'facts' }, facts.map(([k, x]) => [h('dt', null, k), h('dd', null, x)])),
      v.stages.map((s, i) => h('section', { class: 'stage', 'data-stage': s.name, 'aria-labelledby': domId('stage', String(i)) },
        h('h2', { id: domId('stage', String(i)) }, `Stage ${i + 1} of ${v.stages.length}: ${s.name} `, state(s.state)),
        table(null, ['Job', 'State', 'Node', 'Attempts', 'Notes', ''], s.jobs.flatMap(j => [jobRow(j, false), ...(j.physical ?? []).map(p => jobRow(p, true))])))))
  }

  draw()
  return { close: () => { closed = true; client.close() } }
}
