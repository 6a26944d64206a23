// A job's page: what it runs, where, its attempts (live from its joblist's stream), and its
// output followed live from `GET /v1/jobs/ID/logs?follow=true` (read with fetch so the token
// goes along; resumed with Last-Event-ID after a drop), with a pause/resume-follow button.
import { readSse } from '../src/live/sse.js'
import type { JobView, JoblistView } from '../src/state/views.js'
import type { Ctx, Page } from './app.js'
import { authHeaders, get, messageOf, reportUnauthorized } from './api.js'
import type { Child } from './h.js'
import { domId, duration, h, render, resourceText, state, table, time } from './h.js'
import { isFinalJob, jobLink, stop } from './joblist.js'

type Stream = 'stdout' | 'stderr'
interface End { attempt: number, state: string, exitCode: number | null, reason: string | null }

/** Output kept on the page per stream; beyond it the oldest half is cut. */
const MAX_CHARS = 1_000_000

function findJob (v: JoblistView, id: string): JobView | undefined {
  for (const s of v.stages) {
    for (const j of s.jobs) {
      if (j.id === id) return j
      for (const p of j.physical ?? []) if (p.id === id) return p
    }
  }
  return undefined
}

export function jobPage (root: HTMLElement, ctx: Ctx, ref: string): Page {
  let job: JobView | undefined
  let joblist: { id: string, name: string } | undefined
  let problem: string | undefined
  let note: string | undefined
  let closed = false
  let client: ReturnType<Ctx['joblistClient']> | undefined
  const abort = new AbortController()
  let wake: (() => void) | undefined

  // The output part is built once and appended to; only the part above is drawn again.
  const meta = h('div')
  const pre: Record<Stream, HTMLElement> = {
    stdout: h('pre', { id: 'stdout', class: 'output', tabindex: '0', 'aria-labelledby': 'h-stdout' }),
    stderr: h('pre', { id: 'stderr', class: 'output', tabindex: '0', 'aria-labelledby': 'h-stderr' })
  }
  const followState = h('span', { id: 'follow-state' }, 'waiting for output…')
  const heldNote = h('span', { id: 'held' })
  const held: Record<Stream, string> = { stdout: '', stderr: '' }
  let paused = false
  const toggle = h('button', {
    type: 'button',
    id: 'follow-toggle',
    'aria-pressed': 'false',
    onclick: () => {
      paused = !paused
      toggle.setAttribute('aria-pressed', String(paused))
      toggle.textContent = paused ? 'Resume following' : 'Pause following'
      if (!paused) for (const s of ['stdout', 'stderr'] as const) { const t = held[s]; held[s] = ''; if (t !== '') show(s, t) }
      drawHeld()
    }
  }, 'Pause following')
  const outputSection = h('section', { id: 'output', 'aria-labelledby': 'h-output' },
    h('h2', { id: 'h-output' }, 'Output'),
    h('p', { class: 'actions' }, toggle, ' ', h('span', { role: 'status' }, followState, ' ', heldNote)),
    h('h3', { id: 'h-stdout' }, 'stdout'), pre.stdout,
    h('h3', { id: 'h-stderr' }, 'stderr'), pre.stderr)
  render(root, meta, outputSection)

  function drawHeld (): void {
    const n = held.stdout.length + held.stderr.length
    heldNote.textContent = paused ? (n > 0 ? `paused: ${n} new characters held` : 'paused') : ''
  }

  function show (s: Stream, text: string): void {
    const el = pre[s]
    const atEnd = el.scrollTop + el.clientHeight >= el.scrollHeight - 4
    el.append(text)
    if ((el.textContent?.length ?? 0) > MAX_CHARS) el.textContent = `[… earlier output cut …]\n${(el.textContent ?? '').slice(-MAX_CHARS / 2)}`
    if (atEnd) el.scrollTop = el.scrollHeight
  }

  function add (s: Stream, text: string): void {
    if (paused) { held[s] += text; drawHeld() } else show(s, text)
  }

  const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
  /** Wait for the next change of the job (from its joblist's stream). */
  const changed = async (): Promise<void> => { await new Promise<void>(resolve => { wake = resolve }) }

  async function follow (id: string): Promise<void> {
    let attempt: number | undefined
    let lastId: string | null = null
    let ended: End | null = null
    let delay = 250
    while (!closed) {
      if (ended !== null) {
        // A later attempt (a retry, or a lost one run again): follow it from its start.
        const before = ended.attempt
        const next = job?.attempts.find(a => a.n > before)
        if (next === undefined) {
          if (job !== undefined && isFinalJob(job.state)) return
          await changed()
          continue
        }
        attempt = next.n
        lastId = null
        ended = null
        // The earlier attempt's output stays above a line that says where the next begins.
        for (const s of ['stdout', 'stderr'] as const) if ((pre[s].textContent ?? '') !== '' || held[s] !== '') add(s, `--- attempt ${next.n} ---\n`)
      }
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream', ...authHeaders() }
        if (lastId !== null) headers['last-event-id'] = lastId
        const res = await fetch(`/v1/jobs/${encodeURIComponent(id)}/logs?follow=true${attempt !== undefined ? `&attempt=${attempt}` : ''}`, { headers, signal: abort.signal })
        if (res.status === 401) { reportUnauthorized(); followState.textContent = 'needs a token'; return }
        if (!res.ok || res.body === null) throw new Error(`${res.status} ${(await res.text()).slice(0, 200)}`)
        if (attempt === undefined) followState.textContent = 'waiting for the job to start…'
        for await (const m of readSse(res.body, abort.signal)) {
          if (m.id !== null) lastId = m.id
          const n = Number(m.id?.split(':')[0])
          if (Number.isSafeInteger(n) && n > 0) attempt = n
          if (m.event === 'output') {
            const d = JSON.parse(m.data) as { stream: Stream, text: string }
            followState.textContent = `attempt ${attempt ?? '?'}: following live`
            add(d.stream, d.text)
          } else if (m.event === 'end') {
            const e = JSON.parse(m.data) as End
            ended = e
            followState.textContent = `attempt ${e.attempt} ended: ${e.state}${e.exitCode !== null ? `, exit code ${e.exitCode}` : ''}${e.reason !== null && e.reason !== `exit code ${e.exitCode ?? ''}` ? ` (${e.reason})` : ''}`
            break
          }
        }
        if (ended === null) throw new Error('the stream ended')
        delay = 250
      } catch (err) {
        if (closed) return
        followState.textContent = `reconnecting… (${messageOf(err)})`
        await sleep(delay)
        delay = Math.min(delay * 2, 5000)
      }
    }
  }

  function draw (): void {
    if (closed) return
    const j = job
    if (j === undefined) {
      render(meta, h('h1', null, 'Job ', ref), h('p', { class: problem !== undefined ? 'error' : 'quiet' }, problem ?? 'loading…'))
      return
    }
    const facts: Array<[string, Child]> = [
      ['ID', h('code', null, j.id)],
      ['Joblist', joblist !== undefined ? h('a', { href: `#/joblist/${encodeURIComponent(joblist.id)}` }, `${joblist.name} (${joblist.id})`) : j.joblistId],
      ['Stage', j.stage],
      ['Node', j.node !== null ? h('a', { href: `#/node/${encodeURIComponent(j.node)}` }, j.node) : '—'],
      ['Needs', Object.entries(j.needs).map(([t, c]) => `${t}: ${c}`).join(', ') || 'nothing'],
      ['Resources', resourceText(j.resources)],
      ['Retries', String(j.retries)],
      ['Runs', h('code', { class: 'run' }, j.run)]
    ]
    if (j.waiting !== undefined && j.state === 'pending') facts.push(['Waits', j.waiting])
    if (j.summary !== undefined) facts.push(['Failure', h('span', { class: 'failure' }, j.summary)])
    render(meta,
      h('h1', null, 'Job ', j.name, ' ', state(j.state)),
      problem !== undefined ? h('p', { class: 'error' }, problem) : null,
      isFinalJob(j.state) ? null : h('p', { class: 'actions' }, h('button', { type: 'button', id: domId('stop-job', j.id), onclick: () => { void stop(`job ${j.name}`, `/v1/jobs/${encodeURIComponent(j.id)}/stop`).then(e => { note = e; draw() }) } }, 'Stop job')),
      note !== undefined ? h('p', { class: 'error' }, note) : null,
      h('dl', { class: 'facts' }, facts.map(([k, x]) => [h('dt', null, k), h('dd', null, x)])),
      j.physical !== undefined
        ? h('section', { 'aria-labelledby': 'h-physical' }, h('h2', { id: 'h-physical' }, 'Physical jobs'),
          table(null, ['Job', 'State', 'Node', 'Failure'], j.physical.map(p => h('tr', { 'data-job': p.id }, h('td', null, jobLink(p)), h('td', null, state(p.state)), h('td', null, p.node ?? '—'), h('td', null, p.summary ?? '')))))
        : null,
      h('section', { 'aria-labelledby': 'h-attempts' }, h('h2', { id: 'h-attempts' }, 'Attempts'),
        j.attempts.length === 0
          ? h('p', { class: 'quiet' }, j.physical !== undefined ? 'This job runs as the physical jobs above: open one for its attempts and output.' : 'None yet.')
          : table(null, ['#', 'Node', 'State', 'Exit code', 'Started', ['Ended', 'opt'], 'Took', 'Reason'], j.attempts.map(a => h('tr', { 'data-attempt': String(a.n) },
            h('td', null, String(a.n)),
            h('td', null, a.node ?? a.nodeId.slice(-6)),
            h('td', null, state(a.state)),
            h('td', null, a.signal !== null ? `killed by ${a.signal}` : a.exitCode !== null ? String(a.exitCode) : '—'),
            h('td', null, time(a.startedAt ?? a.assignedAt)),
            h('td', { class: 'opt' }, time(a.endedAt)),
            h('td', null, a.startedAt !== null && a.endedAt !== null ? duration(a.startedAt, a.endedAt) : '—'),
            h('td', null, a.reason ?? ''))))))
  }

  draw()
  get<JobView>(`/v1/jobs/${encodeURIComponent(ref)}`).then(first => {
    if (closed) return
    job = first
    draw()
    client = ctx.joblistClient(first.joblistId, c => {
      const v = c.joblist
      if (v === null) return
      joblist = { id: v.id, name: v.name }
      const now = findJob(v, first.id)
      // The stream's view has no `waiting`: keep the one the first answer gave while it waits.
      if (now !== undefined) job = { ...now, ...(now.state === 'pending' && job?.waiting !== undefined ? { waiting: job.waiting } : {}) }
      problem = undefined
      draw()
      wake?.()
    }, err => { problem = `The stream dropped; reconnecting (${err.message}).`; draw() })
    void client.run()
    if (first.physical !== undefined) { outputSection.hidden = true; return }
    void follow(first.id)
  }, err => { problem = messageOf(err); draw() })

  return { close: () => { closed = true; abort.abort(); client?.close(); wake?.() } }
}
