// A strict parser of the Prometheus text exposition format (version 0.0.4), for tests of
// GET /metrics (P-5). The parsers on npm were not usable: parse-prometheus-text-format drops
// the labels of labelled histograms, prom2javascript refuses NaN values (which prom-client
// writes, e.g. for the event-loop gauges). This one refuses anything the format does not
// allow, and checks what the data model requires: a TYPE line before a family's samples, each
// family in one block, no series twice, histograms with ascending `le` buckets that never
// decrease, a +Inf bucket equal to _count, and a _sum; counters not negative.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped'
export type Labels = Record<string, string>

export interface Sample { name: string, labels: Labels, value: number, timestamp?: number }

export interface Family {
  name: string
  type: MetricType
  help?: string
  samples: Sample[]
}

export interface HistogramSeries {
  labels: Labels
  /** Upper bound (le) -> cumulative count, ascending. */
  buckets: Array<[number, number]>
  count: number
  sum: number
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

export class PromTextError extends Error {
  constructor (line: number, message: string, text: string) {
    super(`line ${line}: ${message}: ${JSON.stringify(text)}`)
  }
}

/** A float as the format writes it (Go's ParseFloat: decimals, Inf, NaN, any case). */
export function parseFloatStrict (s: string): number | undefined {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s)
  if (/^[+-]?inf(inity)?$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity
  if (/^[+-]?nan$/i.test(s)) return NaN
  return undefined
}

function unescape (s: string, allowQuote: boolean, fail: (m: string) => never): string {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') { out += s[i]; continue }
    const next = s[++i]
    if (next === '\\') out += '\\'
    else if (next === 'n') out += '\n'
    else if (next === '"' && allowQuote) out += '"'
    else fail(`bad escape \\${next ?? ''}`)
  }
  return out
}

/** The labels between { and }; returns them and the index after the closing brace. */
function parseLabels (line: string, start: number, fail: (m: string) => never): [Labels, number] {
  const labels: Labels = {}
  let i = start
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i++
    if (line[i] === '}') return [labels, i + 1]
    const nameMatch = /^[^=\s}]*/.exec(line.slice(i)) as RegExpExecArray
    const name = nameMatch[0]
    if (!LABEL_NAME.test(name) || name.startsWith('__')) fail(`bad label name ${JSON.stringify(name)}`)
    if (name in labels) fail(`label ${name} given twice`)
    i += name.length
    while (line[i] === ' ' || line[i] === '\t') i++
    if (line[i] !== '=') fail(`no = after label ${name}`)
    i++
    while (line[i] === ' ' || line[i] === '\t') i++
    if (line[i] !== '"') fail(`label ${name}: value not quoted`)
    let j = i + 1
    let raw = ''
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') { raw += line[j] + (line[j + 1] ?? ''); j++ } else raw += line[j]
    }
    if (j >= line.length) fail(`label ${name}: unterminated value`)
    labels[name] = unescape(raw, true, fail)
    i = j + 1
    while (line[i] === ' ' || line[i] === '\t') i++
    if (line[i] === ',') { i++; continue }
    if (line[i] === '}') return [labels, i + 1]
    fail('expected , or } after a label')
  }
}

const key = (labels: Labels, without?: string): string => JSON.stringify(Object.entries(labels).filter(([k]) => k !== without).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))

/** Parse an exposition; families by name, in their order. Throws PromTextError on anything invalid. */
export function parsePromText (text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seriesSeen = new Set<string>()
  const lines = text.split('\n')
  if (lines[lines.length - 1] !== '') throw new PromTextError(lines.length, 'the exposition must end with a line feed', lines[lines.length - 1])
  let current: Family | undefined
  const closed = new Set<string>()
  const enter = (f: Family, n: number, line: string): void => {
    if (current === f) return
    if (closed.has(f.name)) throw new PromTextError(n, `family ${f.name} is split in two blocks`, line)
    if (current !== undefined) closed.add(current.name)
    current = f
  }
  const family = (name: string): Family => {
    let f = families.get(name)
    if (f === undefined) families.set(name, f = { name, type: 'untyped', samples: [] })
    return f
  }

  lines.forEach((line, idx) => {
    const n = idx + 1
    const fail = (m: string): never => { throw new PromTextError(n, m, line) }
    if (line.trim() === '') return
    if (line.startsWith('#')) {
      const meta = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t](.*))?$/.exec(line)
      if (meta === null) return // a comment
      const [, what, name, rest] = meta
      if (!METRIC_NAME.test(name)) fail(`bad metric name ${name}`)
      const known = families.has(name)
      const f = family(name)
      enter(f, n, line)
      if (what === 'HELP') {
        if (f.help !== undefined) fail(`second HELP for ${name}`)
        f.help = unescape(rest ?? '', false, fail)
      } else {
        const type = (rest ?? '').trim()
        if (!TYPES.has(type)) fail(`unknown type ${type}`)
        if (known && (f.samples.length > 0 || f.type !== 'untyped')) fail(`TYPE for ${name} after its samples or a first TYPE`)
        f.type = type as MetricType
      }
      return
    }
    // A sample: name, optional labels, value, optional timestamp.
    const name = (/^[^{\s]+/.exec(line) ?? [''])[0]
    if (!METRIC_NAME.test(name)) fail(`bad metric name ${JSON.stringify(name)}`)
    let i = name.length
    while (line[i] === ' ' || line[i] === '\t') i++
    let labels: Labels = {}
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1, fail)
    const rest = line.slice(i).trim().split(/[ \t]+/)
    if (rest.length < 1 || rest.length > 2 || rest[0] === '') fail('expected a value and at most a timestamp')
    const value = parseFloatStrict(rest[0])
    if (value === undefined) fail(`bad value ${rest[0]}`)
    const sample: Sample = { name, labels, value: value as number }
    if (rest.length === 2) {
      if (!/^-?\d+$/.test(rest[1])) fail(`bad timestamp ${rest[1]}`)
      sample.timestamp = Number(rest[1])
    }
    // Its family: the same name, or a histogram's/summary's _bucket, _sum, _count.
    let f = families.get(name)
    const suffix = /^(.*)_(bucket|sum|count)$/.exec(name)
    if ((f === undefined || f.type === 'untyped') && suffix !== null) {
      const base = families.get(suffix[1])
      if (base !== undefined && (base.type === 'histogram' || (base.type === 'summary' && suffix[2] !== 'bucket'))) f = base
    }
    f ??= family(name)
    enter(f, n, line)
    if (f.type === 'histogram' && f.name === name) fail(`a histogram's samples are ${name}_bucket, _sum and _count`)
    if (f.type === 'histogram' && name === `${f.name}_bucket` && labels.le === undefined) fail('a bucket without le')
    if (f.type === 'counter' && !(sample.value >= 0)) fail('a counter below zero')
    const series = `${name}${key(labels)}`
    if (seriesSeen.has(series)) fail('the same series twice')
    seriesSeen.add(series)
    f.samples.push(sample)
  })

  for (const f of families.values()) if (f.type === 'histogram') histogramSeries(f)
  return families
}

/** A histogram family's series, checked: ascending le, cumulative counts, +Inf = _count, a _sum. */
export function histogramSeries (f: Family): HistogramSeries[] {
  if (f.type !== 'histogram') throw new Error(`${f.name} is a ${f.type}, not a histogram`)
  const by = new Map<string, { labels: Labels, buckets: Array<[number, number]>, count?: number, sum?: number }>()
  const get = (labels: Labels, without?: string): { labels: Labels, buckets: Array<[number, number]>, count?: number, sum?: number } => {
    const k = key(labels, without)
    let s = by.get(k)
    if (s === undefined) {
      const own = Object.fromEntries(Object.entries(labels).filter(([name]) => name !== without))
      by.set(k, s = { labels: own, buckets: [] })
    }
    return s
  }
  for (const sample of f.samples) {
    if (sample.name === `${f.name}_bucket`) {
      const le = parseFloatStrict(sample.labels.le)
      if (le === undefined || Number.isNaN(le)) throw new Error(`${f.name}: bad le ${sample.labels.le}`)
      get(sample.labels, 'le').buckets.push([le, sample.value])
    } else if (sample.name === `${f.name}_count`) get(sample.labels).count = sample.value
    else if (sample.name === `${f.name}_sum`) get(sample.labels).sum = sample.value
  }
  return [...by.values()].map(s => {
    const where = `${f.name}${key(s.labels)}`
    for (let i = 1; i < s.buckets.length; i++) {
      if (!(s.buckets[i][0] > s.buckets[i - 1][0])) throw new Error(`${where}: buckets not in ascending le`)
      if (s.buckets[i][1] < s.buckets[i - 1][1]) throw new Error(`${where}: bucket counts decrease`)
    }
    const inf = s.buckets[s.buckets.length - 1]
    if (inf === undefined || inf[0] !== Infinity) throw new Error(`${where}: no +Inf bucket`)
    if (s.count === undefined || s.count !== inf[1]) throw new Error(`${where}: _count ${String(s.count)} differs from the +Inf bucket ${inf[1]}`)
    if (s.sum === undefined) throw new Error(`${where}: no _sum`)
    return { labels: s.labels, buckets: s.buckets, count: s.count, sum: s.sum }
  })
}

/** The value of the sample of `name` with exactly these labels, if there is one. */
export function sampleValue (families: Map<string, Family>, name: string, labels: Labels = {}): number | undefined {
  const k = key(labels)
  return families.get(name)?.samples.find(s => s.name === name && key(s.labels) === k)?.value
}
