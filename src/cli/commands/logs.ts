// `cis logs JOB [-f]`: a job's stdout and stderr, whole or followed.
import { ApiError } from '../../api/errors.js'
import type { LogsResponse } from '../api-types.js'
import { UnreachableError, endsFollowing } from '../client.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

const FOLLOW_LIMIT_MS = 24 * 3600 * 1000

export async function logs (ctx: Ctx, jobRef: string, o: { follow?: boolean, attempt?: string, stream?: string }): Promise<void> {
  if (o.stream !== undefined && o.stream !== 'stdout' && o.stream !== 'stderr') throw new CliExit(2, "--stream must be 'stdout' or 'stderr'")
  if (o.attempt !== undefined && !/^[1-9]\d{0,8}$/.test(o.attempt)) throw new CliExit(2, `--attempt '${o.attempt}': give an attempt number (1, 2, …; cis status JOB lists them)`)
  const q = o.attempt !== undefined ? `?attempt=${encodeURIComponent(o.attempt)}` : ''
  const base = `/v1/jobs/${encodeURIComponent(jobRef)}/logs`
  if (o.follow !== true || ctx.json) {
    const r = await ctx.client.get<LogsResponse>(base + q)
    if (ctx.json) { printJson(r); return }
    if (o.stream !== 'stderr') process.stdout.write(r.stdout)
    if (o.stream !== 'stdout') process.stderr.write(r.stderr)
    return
  }
  await follow(ctx, base, o)
}

/**
 * Follow the output as the agent streams it (no polling): `output` messages until `end`. A
 * dropped connection is resumed where it was (Last-Event-ID), a bounded number of times.
 */
async function follow (ctx: Ctx, base: string, o: { attempt?: string, stream?: string }): Promise<void> {
  const { readSse } = await import('../../live/sse.js')
  const q = ['follow=true', ...(o.attempt !== undefined ? [`attempt=${encodeURIComponent(o.attempt)}`] : []), ...(o.stream !== undefined ? [`stream=${o.stream}`] : [])].join('&')
  let last: string | null = null
  let connected = false
  const until = Date.now() + FOLLOW_LIMIT_MS
  for (let tries = 0; tries < 20 && Date.now() < until; tries++) {
    try {
      const body = await ctx.client.openStream(`${base}?${q}`, last !== null ? { 'last-event-id': last } : {})
      connected = true
      for await (const m of readSse(body)) {
        if (m.id !== null) last = m.id
        if (m.event === 'output') {
          const d = JSON.parse(m.data) as { stream: 'stdout' | 'stderr', text: string }
          ;(d.stream === 'stdout' ? process.stdout : process.stderr).write(d.text)
          tries = 0
        } else if (m.event === 'end') {
          // Said, not silent: an attempt that did not succeed, and output that could not be read (its node offline).
          const d = JSON.parse(m.data) as { attempt?: number, state?: string, reason?: string | null, unreadable?: string }
          const how = `${d.state ?? ''}${d.reason != null ? `: ${d.reason}` : ''}`
          if (d.unreadable !== undefined) throw new CliExit(1, `${d.unreadable}${d.state !== undefined ? ` (attempt ${String(d.attempt)} ${how})` : ''}`)
          if (d.state !== undefined && d.state !== 'succeeded') ctx.err(`cis: attempt ${String(d.attempt)} ended ${how}`)
          return
        }
      }
    } catch (err) {
      // Retried: a drop once connected (the agent gone, restarting or closing; a cut stream).
      const known = err instanceof UnreachableError || err instanceof ApiError || (err as Error).name === 'TypeError'
      if (!known || endsFollowing(err, connected)) throw err
    }
    await sleep(Math.min(5000, 250 * 2 ** tries))
  }
  throw new CliExit(1, `lost the connection to ${ctx.client.addr} while following ${base}; run 'cis logs -f' again`)
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }
