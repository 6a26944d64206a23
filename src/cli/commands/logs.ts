// `cis logs JOB [-f]`: a job's stdout and stderr, whole or followed.
import type { ErrorBody, LogsResponse } from '../api-types.js'
import { CliExit, printJson } from '../context.js'
import type { Ctx } from '../context.js'

const FOLLOW_LIMIT_MS = 24 * 3600 * 1000

export async function logs (ctx: Ctx, jobRef: string, o: { follow?: boolean, attempt?: string, stream?: string }): Promise<void> {
  if (o.stream !== undefined && o.stream !== 'stdout' && o.stream !== 'stderr') {
    ctx.err("cis: --stream must be 'stdout' or 'stderr'")
    throw new CliExit(2)
  }
  const q = o.attempt !== undefined ? `?attempt=${encodeURIComponent(o.attempt)}` : ''
  const base = `/v1/jobs/${encodeURIComponent(jobRef)}/logs`
  if (o.follow !== true || ctx.json) {
    const r = await ctx.client.get<LogsResponse>(base + q)
    if (ctx.json) { printJson(r); return }
    if (o.stream !== 'stderr') process.stdout.write(r.stdout)
    if (o.stream !== 'stdout') process.stderr.write(r.stderr)
    return
  }
  const streams = o.stream === undefined ? ['stdout', 'stderr'] as const : [o.stream as 'stdout' | 'stderr']
  const offsets: Record<string, number> = { stdout: 0, stderr: 0 }
  const until = Date.now() + FOLLOW_LIMIT_MS
  while (Date.now() < until) {
    let done = true
    let got = 0
    for (const s of streams) {
      const sep = q === '' ? '?' : '&'
      const r = await ctx.client.raw('GET', `${base}${q}${sep}stream=${s}&offset=${offsets[s]}`)
      if (r.status >= 400) {
        let msg = `HTTP ${r.status}`
        try { msg = (JSON.parse(r.text) as ErrorBody).error ?? msg } catch { /* keep */ }
        if (r.status === 404 && offsets.stdout === 0 && offsets.stderr === 0) { await sleep(500); done = false; continue }
        ctx.err(`cis: ${msg}`)
        throw new CliExit(1)
      }
      const bytes = Buffer.from(r.text, 'utf8')
      if (bytes.length > 0) { (s === 'stdout' ? process.stdout : process.stderr).write(bytes); got += bytes.length }
      offsets[s] = Number(r.headers.get('x-cis-offset') ?? offsets[s] + bytes.length)
      if (r.headers.get('x-cis-done') !== 'true') done = false
    }
    if (done && got === 0) return
    if (got === 0) await sleep(300)
  }
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }
