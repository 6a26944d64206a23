// Live progress of one joblist for `cis submit --wait`: a redrawn block on a terminal,
// one line per change otherwise.
import type { JoblistView } from './api-types.js'
import { duration, paint, stateColor, useColor } from './format.js'

/** What progress reads of a joblist (GET /v1/joblists/:ref). */
type Joblist = Pick<JoblistView, 'id' | 'name' | 'state' | 'stages'>

export class Progress {
  private readonly seen = new Map<string, string>()
  private drawn = 0
  private readonly tty: boolean

  constructor (private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = stream.isTTY === true
  }

  update (jl: Joblist): void {
    if (this.tty) this.redraw(jl)
    else this.lines(jl)
  }

  private lines (jl: Joblist): void {
    for (const st of jl.stages) {
      for (const j of st.jobs) {
        const a = j.attempts[j.attempts.length - 1]
        const key = `${j.state}#${j.attempts.length}`
        if (this.seen.get(j.id) === key) continue
        this.seen.set(j.id, key)
        if (j.state === 'pending' && j.attempts.length === 0) continue
        let detail = j.node !== null ? ` on ${j.node}` : ''
        if (a?.startedAt != null && a.endedAt != null) detail += ` (${duration(new Date(a.endedAt).getTime() - new Date(a.startedAt).getTime())})`
        if ((j.state === 'failed' || j.state === 'lost') && a?.reason != null) detail += `: ${a.reason}`
        this.stream.write(`[${st.name}] ${j.name}: ${j.state}${detail}\n`)
      }
    }
  }

  private redraw (jl: Joblist): void {
    const color = useColor(this.stream)
    const width = Math.max(...jl.stages.map(s => s.name.length))
    const rows = jl.stages.map(st => {
      const total = st.jobs.length
      const done = st.jobs.filter(j => j.state === 'succeeded').length
      const bar = '█'.repeat(Math.round((done / total) * 20)).padEnd(20, '░')
      const running = st.jobs.filter(j => j.state === 'running').map(j => j.name)
      return `  ${st.name.padEnd(width)}  ${bar}  ${done}/${total}  ${paint(st.state, stateColor(st.state), color)}${running.length > 0 ? `  (${running.join(', ')})` : ''}`
    })
    const head = `${jl.name} ${jl.id}: ${paint(jl.state, stateColor(jl.state), color)}`
    if (this.drawn > 0) this.stream.write(`\u001b[${this.drawn}A`)
    for (const line of [head, ...rows]) this.stream.write(`\u001b[2K${line}\n`)
    this.drawn = rows.length + 1
  }
}
