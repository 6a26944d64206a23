// The event stream an observer of a busy cluster hears, made and signed as the nodes make them:
// shared by the ingest benches (over libp2p: ingest.ts; the agent's own path in one process:
// ingest-core.ts). Five origins: M the master (accept, assign), X0 and X1 executing (finished
// with usage and the start: a short job's start is told with its end, src/node/start-hold.ts),
// S0 and S1 taking the submits; EVENTS_PER_JOB events a one-job joblist.
import type { CisEvent, EventBodies, EventType } from '../src/events/types.js'
import { CHAIN_START, signBatch } from '../src/identity/keys.js'
import type { JoblistSpec } from '../src/spec/types.js'

/** Events a one-job joblist of the stream: submit, accept, assign, finished (with its start). */
export const EVENTS_PER_JOB = 4

/**
 * Jobs (EVENTS_PER_JOB events each) an ingest bench sends before what it measures, not counted.
 * A fresh agent keeps V8 busy compiling its code over its first tens of thousands of events
 * (its worker thread, which the CPU figures count, and deoptimised code compiled again as new
 * shapes of objects show up): measured in one process (ingest-core.ts, one event a message at
 * 500/s, two runs, five events a job then), 514 CPU ms per 1,000 events after 600 jobs of
 * warm-up, 317 after 4,000. Dec 4, `ingest-core.js --batch 10 --jobs 4000` traced
 * (`--trace-opt`): after 1,000 jobs of warm-up V8 still compiled for 450 ms in the 16,000
 * events measured (28 ms per 1,000 on its worker thread), after 8,000 for 38 ms; over libp2p
 * (`ingest.js --quick`, alternated, two each) 1,000 jobs of warm-up vs 4,000: in tens 9,651 /
 * 9,704 vs 11,658 / 13,681 events/s, 151 / 154 vs 109 / 93 agent CPU ms per 1,000 events.
 */
export const WARMUP_JOBS = 4000

export interface StreamOrigin {
  key: Parameters<typeof signBatch>[0]
  id: string
  seq: number
  lastTs: number
  lc: number
  /** Every event this origin made, in seq order. */
  events: CisEvent[]
  /** The digest of its last signed batch (keys.ts: a node's batches are chained). */
  link?: Buffer
}

/** One gossip message: who sends it, its JSON (an event, or an array of a write batch's events), how many events. */
export interface StreamMessage<O extends StreamOrigin = StreamOrigin> { o: O, json: string, count: number }

/** An origin's next event, stamped (seq, hybrid clock); signed with its message (signBatch), as its node signs a write batch. */
export function stamp<T extends EventType> (o: StreamOrigin, ts: number, type: T, body: EventBodies[T]): CisEvent<T> {
  if (ts > o.lastTs) { o.lastTs = ts; o.lc = 0 } else o.lc++
  const e = { origin: o.id, seq: ++o.seq, ts: o.lastTs, lc: o.lc, type, body, sig: '' } as CisEvent<T>
  o.events.push(e)
  return e
}

/**
 * `jobs` one-job joblists as five origins write them, in publishing order: one event a message
 * (`jobsPerBatch` 1, each signed alone), or each origin one message (a signed write batch) per
 * `jobsPerBatch` jobs. `spec`: the joblist (named `ingest-N` here); `code`: the master's short
 * code (joblist IDs `code-N`); `term`: the master's; `t0`: the first job's time (ten a ms);
 * `first`: the number of the first job (default 0; a later stream of the same origins goes on
 * from where the last one ended).
 */
export function jobStream<O extends StreamOrigin> (origins: { M: O, X0: O, X1: O, S0: O, S1: O }, o: { jobs: number, jobsPerBatch: number, spec: JoblistSpec, code: string, term: number, t0: number, first?: number }): Array<StreamMessage<O>> {
  const { M, X0, X1, S0, S1 } = origins
  const messages: Array<StreamMessage<O>> = []
  const first = o.first ?? 0
  const end = first + o.jobs
  for (let from = first; from < end; from += o.jobsPerBatch) {
    const batch = new Map<O, CisEvent[]>([M, X0, X1, S0, S1].map(x => [x, []]))
    const single = o.jobsPerBatch === 1
    const out = (x: O, e: CisEvent): void => {
      if (single) { x.link = signBatch(x.key, [e], x.link ?? CHAIN_START); messages.push({ o: x, json: JSON.stringify(e), count: 1 }) } else (batch.get(x) as CisEvent[]).push(e)
    }
    for (let j = from; j < Math.min(end, from + o.jobsPerBatch); j++) {
      const ts = o.t0 + Math.floor((j - first) / 10)
      const S = j % 2 === 0 ? S0 : S1
      const X = j % 2 === 0 ? X0 : X1
      const submit = stamp(S, ts, 'submit', { spec: { ...o.spec, name: `ingest-${j}`, values: {} }, owner: 'bench' })
      out(S, submit)
      const id = `${o.code}-${j + 1}`
      const jobId = `${id}.1`
      out(M, stamp(M, ts, 'accept', { request: `${S.id}:${submit.seq}`, id, term: o.term, onLost: 'retry', maxLost: 3 }))
      out(M, stamp(M, ts, 'assign', { jobId, attempt: 1, node: X.id, resources: { slot: [`slot${(j >> 1) % 2}`] }, term: o.term }))
      out(X, stamp(X, ts, 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 1 }, started: { at: ts, pid: 100_000 + j } }))
    }
    if (!single) {
      for (const [x, es] of batch) {
        if (es.length === 0) continue
        x.link = signBatch(x.key, es, x.link ?? CHAIN_START)
        messages.push({ o: x, json: `[${es.map(e => JSON.stringify(e)).join(',')}]`, count: es.length })
      }
    }
  }
  return messages
}
