// What a master's notification passes cost (P-6, issue 12), in this process: N one-job joblists
// that ended, each with a webhook and an email subscription, all notified (delivered, mailed:
// one message each, to one address), then the passes' work —
// the deliveries due (notifications.ts dueDeliveries) and the messages due (mail.ts dueMails) —
// two ways side by side: among every joblist with a subscription (what the node keeps in memory
// for the notification window), and among those that may still owe one (state/owed.ts
// NotifyIndex: what a master looks at since Dec 4). Median ms a pass of each.
// `node dist/bench/notify.js` alone, or within `npm run bench`.
import '../src/polyfill.js'
import { pathToFileURL } from 'node:url'
import { dueDeliveries } from '../src/state/notifications.js'
import { dueMails } from '../src/state/mail.js'
import type { MailOptions } from '../src/state/mail.js'
import { NotifyIndex } from '../src/state/owed.js'
import { Harness, job, joblist } from '../test/helpers/harness.js'

export interface NotifyFigures {
  /** Ended joblists with subscriptions, all notified. */
  joblists: number
  /** Among every joblist with a subscription. */
  allMs: number
  /** Among those that may still owe one (here: none). */
  owingMs: number
  owing: number
}

const O: MailOptions = { mailEveryMs: 1, retryForMs: 24 * 3600_000, digestAt: '08:00' }

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] }

export function notifyBench (progress: (m: string) => void, sizes = [1000, 4000]): NotifyFigures[] {
  const out: NotifyFigures[] = []
  for (const n of sizes) {
    progress(`notify: ${n} ended joblists with a webhook and an email subscription, all notified`)
    const h = new Harness()
    h.node('A', { slot: ['s0'] })
    h.emit('M', 'master', { term: 1 })
    const index = new NotifyIndex()
    h.applied = changed => index.update(h.state, changed, [], h.now, O)
    const notify = [{ webhook: 'https://hooks.example.com/a', on: ['succeeded' as const] }, { email: 'ops@example.org', digest: 'now' as const, on: ['succeeded' as const] }]
    for (let i = 0; i < n; i++) {
      const request = h.submit(joblist(`w${i}`, [['a', [job('x')]]], { notify }))
      const id = `m-${i + 1}`
      h.emit('M', 'accept', { request, id, term: 1, onLost: 'retry', maxLost: 1 })
      h.emit('M', 'assign', { jobId: `${id}.1`, attempt: 1, node: 'A', resources: { slot: ['s0'] }, term: 1 })
      h.emit('A', 'started', { jobId: `${id}.1`, attempt: 1, pid: 1 })
      h.emit('A', 'finished', { jobId: `${id}.1`, attempt: 1, state: 'succeeded', exitCode: 0, signal: null })
      const delivery = h.emit('M', 'delivery', { id: `${id}.succeeded.0`, attempt: 1, ok: true, term: 1 })
      const mail = h.emit('M', 'mail', { to: 'ops@example.org', ids: [`${id}.succeeded.1`], ok: true, term: 1 })
      index.update(h.state, [], [delivery, mail], h.now, O)
    }
    const all = [...index.subscribed]
    if (all.length !== n) throw new Error(`the bench's joblists have no subscriptions (${all.length} of ${n})`)
    const pass = (among: Iterable<string>): number => {
      const t = performance.now()
      const work = dueDeliveries(h.state, h.now, O, among).length + dueMails(h.state, h.now, O, among).length
      if (work !== 0) throw new Error('the bench\'s notifications are not all done')
      return performance.now() - t
    }
    const allMs: number[] = []
    const owingMs: number[] = []
    for (let r = 0; r < 9; r++) { allMs.push(pass(all)); owingMs.push(pass(index.owing)) }
    out.push({ joblists: n, allMs: Number(median(allMs).toFixed(3)), owingMs: Number(median(owingMs).toFixed(3)), owing: index.owing.size })
  }
  return out
}

export function formatNotify (xs: NotifyFigures[]): string[] {
  return xs.map(x => `notification passes, ${x.joblists} ended joblists with subscriptions, all notified: among all ${x.allMs} ms, among those owing (${x.owing}) ${x.owingMs} ms`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const xs = notifyBench(m => { process.stderr.write(`bench: ${m}\n`) })
  for (const l of formatNotify(xs)) console.log(l)
  console.log(JSON.stringify(xs))
}
