// The dashboard (P-5, S-5, S-7): one page, hash routes, live from `GET /v1/events`.
//   #/              what needs a person, running and queued joblists, nodes
//   #/joblist/ID    one joblist, live          #/job/ID    one job, its output followed live
//   #/node/NAME     a node and what holds it   #/submit    check and submit a joblist
import { LiveClient } from '../src/live/client.js'
import type { LiveCopy } from '../src/live/copy.js'
import { onUnauthorized, reportUnauthorized, setToken, token } from './api.js'
import { frontPage } from './front.js'
import { h, render } from './h.js'
import { jobPage } from './job.js'
import { joblistPage } from './joblist.js'
import { nodePage } from './node.js'
import { submitPage } from './submit.js'

/** A mounted page: told when the cluster-wide copy changed, closed when the route changes. */
export interface Page { update?: () => void, close?: () => void }

export interface Ctx {
  /** The cluster-wide live copy (joblist summaries, nodes, schedules). */
  copy: () => LiveCopy
  /** A live client for one joblist in full (`?joblist=ID`), with the token of the moment. */
  joblistClient: (id: string, onUpdate: (copy: LiveCopy) => void, onError: (err: Error) => void) => LiveClient
}

const main = document.getElementById('app') as HTMLElement
const status = document.getElementById('status') as HTMLElement
const tokenBox = document.getElementById('token') as HTMLElement

/** A 401 from the stream (LiveClient reports it as an error message). */
const isUnauthorized = (err: Error): boolean => /: 401\b/.test(err.message)

function newClient (): LiveClient {
  const t = token()
  return new LiveClient({
    base: '',
    ...(t !== undefined ? { token: t } : {}),
    onOpen: () => { connection = 'live'; scheduleUpdate() },
    onUpdate: () => { connection = 'live'; scheduleUpdate() },
    onError: err => {
      if (isUnauthorized(err)) reportUnauthorized()
      connection = isUnauthorized(err) ? 'needs a token' : 'reconnecting…'
      scheduleUpdate()
    }
  })
}

let live = newClient()
let connection = 'connecting…'
let page: Page | undefined

const ctx: Ctx = {
  copy: () => live.copy,
  joblistClient: (id, onUpdate, onError) => {
    const t = token()
    return new LiveClient({
      base: '',
      joblist: id,
      ...(t !== undefined ? { token: t } : {}),
      onUpdate: c => { onUpdate(c) },
      onError: err => { if (isUnauthorized(err)) reportUnauthorized(); onError(err) }
    })
  }
}

let pending: ReturnType<typeof setTimeout> | undefined
/** Draw at most every 50 ms, however fast the stream goes. */
function scheduleUpdate (): void {
  pending ??= setTimeout(() => {
    pending = undefined
    drawStatus()
    page?.update?.()
  }, 50)
}

function drawStatus (): void {
  const copy = live.copy
  const self = copy.nodes.find(n => n.self)
  const master = copy.master()
  const text = [
    `stream: ${connection}`,
    self !== undefined ? `agent: ${self.name}` : null,
    copy.nodes.length > 0 ? `master: ${master?.name ?? 'none'}` : null
  ].filter(x => x !== null).join(' · ')
  if (status.textContent !== text) status.textContent = text
}

function route (): void {
  page?.close?.()
  page = undefined
  const hash = location.hash === '' ? '#/' : location.hash
  const [, kind = '', ...rest] = hash.slice(1).split('/')
  const arg = decodeURIComponent(rest.join('/'))
  for (const a of document.querySelectorAll('nav a')) {
    const here = (a.getAttribute('href') === '#/' && kind === '') || a.getAttribute('href') === `#/${kind}`
    if (here) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current')
  }
  const titled = (what: string): void => { document.title = `${what} · cisystem` }
  if (kind === '' && arg === '') { titled('Overview'); page = frontPage(main, ctx) } else if (kind === 'joblist' && arg !== '') { titled(`Joblist ${arg}`); page = joblistPage(main, ctx, arg) } else if (kind === 'job' && arg !== '') { titled(`Job ${arg}`); page = jobPage(main, ctx, arg) } else if (kind === 'node' && arg !== '') { titled(`Node ${arg}`); page = nodePage(main, ctx, arg) } else if (kind === 'submit') { titled('Submit'); page = submitPage(main) } else {
    titled('Not found')
    render(main, h('h1', null, 'No such page'), h('p', null, h('a', { href: '#/' }, 'Back to the overview')))
  }
}

/** After a new token: every stream starts again with it, and the page is drawn again. */
function restart (): void {
  live.close()
  live = newClient()
  connection = 'connecting…'
  void live.run()
  route()
  drawStatus()
}

onUnauthorized(() => {
  if (!tokenBox.hidden) return
  const had = token() !== undefined
  const input = h('input', { type: 'password', id: 'token-input', name: 'token', autocomplete: 'off', required: true })
  render(tokenBox,
    h('h2', { id: 'token-h' }, 'This agent needs a token'),
    h('p', null, had ? 'The token given was not accepted. ' : '', 'Its API asks for a bearer token (the agent\'s --token or CIS_TOKEN). It is kept for this tab only.'),
    h('form', {
      onsubmit: (e: Event) => {
        e.preventDefault()
        if (input.value === '') return
        setToken(input.value)
        tokenBox.hidden = true
        restart()
      }
    }, h('label', { for: 'token-input' }, 'Token '), input, ' ', h('button', { type: 'submit' }, 'Use token')))
  tokenBox.hidden = false
  input.focus()
})

window.addEventListener('hashchange', route)
route()
drawStatus()
void live.run()
