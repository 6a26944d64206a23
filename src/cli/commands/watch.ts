// `cis watch`: the front page live in the terminal, redrawn from the stream (like `top`):
// what needs a person, what runs and waits, the nodes. `q` quits. `--json`: the stream's
// messages as JSON lines, for scripts.
import type { LiveCopy } from '../../live/copy.js'
import { endsFollowing } from '../client.js'
import { CliExit } from '../context.js'
import type { Ctx } from '../context.js'
import { age, jobCounts, paint, resources, scheduleState, stateColor } from '../format.js'

/** One frame of the view (pure: the copy and the time in, lines out). */
export function renderWatch (copy: LiveCopy, now: number, width = 100, color = false): string[] {
  const cut = (s: string): string => s.length > width ? s.slice(0, width - 1) + '…' : s
  const c = (s: string, style: Parameters<typeof paint>[1]): string => paint(s, style, color)
  const lines: string[] = []
  const master = copy.master()
  const alive = copy.nodes.filter(n => n.alive).length
  lines.push(c(`cisystem — ${copy.nodes.find(n => n.self)?.name ?? '?'} · master ${master?.name ?? 'none'} · ${alive}/${copy.nodes.length} nodes alive · ${new Date(now).toISOString().slice(11, 19)}`, 'bold'))
  const joblists = copy.joblistList()
  const failed = joblists.filter(j => j.state === 'failed' && j.acked !== true)
  const paused = [...copy.schedules.values()].filter(s => s.paused && !s.removed)
  if (failed.length > 0 || paused.length > 0) {
    lines.push('', c(`NEEDS A PERSON (${failed.length} failed, ${paused.length} paused)`, 'red'))
    for (const j of failed.slice(-10)) lines.push(cut(`  failed   ${j.id}  ${j.name}  ${age(j.endedAt, now)} ago: ${j.failure ?? 'failed'}`))
    for (const s of paused) lines.push(cut(`  paused   schedule ${s.name}: ${scheduleState(s)}`))
  }
  const active = joblists.filter(j => j.state === 'running' || j.state === 'queued')
  lines.push('', c(`RUNNING AND QUEUED (${active.length})`, 'bold'))
  if (active.length === 0) lines.push('  nothing')
  for (const j of active.slice(0, 30)) {
    lines.push(cut(`  ${c(j.state.padEnd(8), stateColor(j.state))} ${j.id}  ${j.name}  stage ${j.currentStage ?? '-'} of ${j.stages}  jobs ${jobCounts(j.jobs)}  ${age(j.submittedAt, now)}`))
  }
  if (active.length > 30) lines.push(`  … and ${active.length - 30} more`)
  lines.push('', c(`NODES (${copy.nodes.length})`, 'bold'))
  for (const n of [...copy.nodes].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : 1))) {
    lines.push(cut(`  ${n.alive ? 'alive  ' : 'offline'} ${n.name}${n.master ? ' (master)' : ''}  ${resources(n.resources)}`))
  }
  lines.push('', c('q quits', 'dim'))
  return lines
}

export async function watch (ctx: Ctx): Promise<void> {
  const { LiveClient } = await import('../../live/client.js')
  const tty = process.stdout.isTTY === true
  if (!ctx.json && !tty) throw new CliExit(2, "cis watch draws on a terminal; for scripts use 'cis watch --json' (the stream as JSON lines)")
  let timer: NodeJS.Timeout | undefined
  let connected = false
  let remembered = false
  const draw = (copy: LiveCopy): void => {
    timer = undefined
    const frame = renderWatch(copy, Date.now(), process.stdout.columns ?? 100, true)
    process.stdout.write('\x1b[H\x1b[2J' + frame.join('\n') + '\n')
  }
  const live = new LiveClient({
    base: ctx.client.addr,
    open: async (path, headers, signal) => await ctx.client.openStream(path, headers, signal),
    onOpen: () => { connected = true },
    onMessage: m => { if (ctx.json) process.stdout.write(JSON.stringify(m) + '\n') },
    onUpdate: copy => {
      // The stream's first copy has the nodes: keep their addresses in the context (P-7), once.
      if (!remembered && copy.nodes.length > 0) { remembered = true; ctx.rememberNodes(copy.nodes) }
      if (!ctx.json) timer ??= setTimeout(() => draw(copy), 100)
    },
    onError: err => { if (!ctx.json) process.stdout.write(`\x1b[H\x1b[2Jconnection lost (${err.message}); retrying…\n`) }
  })
  const quit = (): void => live.close()
  process.once('SIGINT', quit)
  process.once('SIGTERM', quit)
  // A clock tick: ages move even when nothing changes.
  const tick = tty && !ctx.json ? setInterval(() => { timer ??= setTimeout(() => draw(live.copy), 0) }, 1000) : undefined
  if (tty && !ctx.json) {
    process.stdout.write('\x1b[?1049h\x1b[?25l')
    if (process.stdin.isTTY === true) {
      process.stdin.setRawMode(true)
      process.stdin.resume()
      process.stdin.on('data', (d: Buffer) => { const k = d.toString(); if (k === 'q' || k === 'Q' || k === '\u0003') quit() })
    }
  }
  try {
    // Unreachable at the start: say so (exit 3); once connected, a drop is retried.
    await live.run(err => endsFollowing(err, connected))
  } finally {
    clearInterval(tick)
    clearTimeout(timer)
    if (tty && !ctx.json) {
      process.stdout.write('\x1b[?25h\x1b[?1049l')
      if (process.stdin.isTTY === true) { process.stdin.setRawMode(false); process.stdin.pause() }
    }
  }
}
