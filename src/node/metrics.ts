// The node's metrics (P-5), served by GET /metrics in the Prometheus text format. One registry
// per node, never prom-client's global one, so several nodes can run in one process (tests).
// Names follow Prometheus' rules: prefix cis_, base units (seconds, bytes), counters end in
// _total. Label values come from small fixed sets only (states, results, event types,
// directions, topics, route templates): never a joblist, job or node ID, nor a user's name.
// The parts of the node see only the narrow interfaces they count through (EventCounter,
// RoleMetrics, MeshMetrics, ApiMetrics); the gauges of the state are computed at scrape time.
import type { RecordableHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { gridTimerLateness } from '../util/grid-timer.js'
import type { ApiMetrics } from '../api/node-port.js'
import type { MeshMetrics } from '../cluster/mesh.js'
import type { AttemptEnd, CisEvent, FinishedBody } from '../events/types.js'
import { EVENT_TYPES } from '../events/types.js'
import type { ClusterState, JobState, JoblistState } from '../state/types.js'
import type { EventCounter } from './event-log.js'
import { signatureChecks } from '../identity/keys.js'
import { MEMBERSHIP_KINDS } from '../cluster/liveness-gossip.js'
import type { RoleMetrics } from './master-role.js'

const JOBLIST_STATES: readonly JoblistState[] = ['queued', 'running', 'succeeded', 'failed', 'stopped']
const JOB_STATES: readonly JobState[] = ['pending', 'running', 'succeeded', 'failed', 'stopped', 'lost']
const RESULTS: readonly AttemptEnd[] = ['succeeded', 'failed', 'stopped', 'lost']
const DIRECTIONS = ['sent', 'received'] as const

/**
 * The event loop's delay (nodejs_eventloop_lag_min, _max, _mean, _stddev, _pNN_seconds) is how
 * late the node's timers on the wall clock ran (util/grid-timer.ts: the heartbeat tick five
 * times a second and the rest), not prom-client's own sampling: each of its samples woke the
 * event loop apart, 10 a second at 100 ms, and on these VMs a wake-up costs an idle process
 * more than its work (issue 12: a lone idle agent 0.37 / 0.57 / 0.50 % of a core against 0.53 /
 * 0.63 / 0.70 % with them; among 20 agents less than the noise; docs/benchmarks.md Dec 5).
 * prom-client's monitor is set to a period it never reaches (PROM_SAMPLE_MS) and its gauges
 * replaced by these.
 */
const PROM_SAMPLE_MS = 2 ** 31 - 1
const LAG_GAUGES: ReadonlyArray<[string, string, (h: RecordableHistogram) => number]> = [
  ['min', 'least', h => h.min],
  ['max', 'most', h => h.max],
  ['mean', 'mean', h => h.mean],
  ['stddev', 'standard deviation', h => h.stddev],
  ['p50', 'median', h => h.percentile(50)],
  ['p90', '90th percentile', h => h.percentile(90)],
  ['p99', '99th percentile', h => h.percentile(99)]
]

/** What the gauges read at scrape time. */
export interface MetricsSource {
  /** The state (undefined before the node started). */
  state: () => ClusterState | undefined
  now: () => number
  /** Other nodes this node hears from now. */
  peersAlive: () => number
  /** This node holds the master role now. */
  isMaster: () => boolean
}

export class NodeMetrics implements EventCounter, RoleMetrics, MeshMetrics, ApiMetrics {
  readonly registry = new Registry()
  private readonly jobsStarted: Counter
  private readonly jobsFinished: Counter<'result'>
  private readonly eventsAppended: Counter<'type'>
  private readonly eventsReceived: Counter<'type'>
  private readonly gossipMessages: Counter<'direction' | 'topic'>
  private readonly gossipBytes: Counter<'direction' | 'topic'>
  private readonly syncMessages: Counter<'direction'>
  private readonly syncBytes: Counter<'direction'>
  private readonly membershipMessages: Counter<'direction' | 'kind'>
  private readonly masterChanges: Counter
  private readonly schedulerPass: Histogram
  private readonly apiRequests: Histogram<'method' | 'route' | 'status'>

  constructor (source: MetricsSource) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: PROM_SAMPLE_MS })
    const late = gridTimerLateness()
    for (const [stat, what, read] of LAG_GAUGES) {
      const name = `nodejs_eventloop_lag_${stat}_seconds`
      this.registry.removeSingleMetric(name)
      new Gauge({
        name,
        help: `How late the node's periodic timers ran since it started, the ${what} (its event loop's delay), in seconds.`,
        registers,
        collect () { this.set(late.count === 0 ? 0 : read(late) / 1e9) }
      })
    }

    new Gauge({
      name: 'cis_joblists',
      help: 'Joblists known to this node, by state.',
      labelNames: ['state'] as const,
      registers,
      collect () {
        const state = source.state()
        const n = new Map<string, number>(JOBLIST_STATES.map(s => [s, 0]))
        for (const jl of Object.values(state?.joblists ?? {})) n.set(jl.state, (n.get(jl.state) ?? 0) + 1)
        for (const [s, v] of n) this.set({ state: s }, v)
      }
    })
    new Gauge({
      name: 'cis_jobs',
      help: 'Jobs of the joblists known to this node, by state (a job with a target counts once, as its joblist lists it).',
      labelNames: ['state'] as const,
      registers,
      collect () {
        const state = source.state()
        const n = new Map<string, number>(JOB_STATES.map(s => [s, 0]))
        for (const jl of Object.values(state?.joblists ?? {})) {
          for (const stage of jl.stages) {
            for (const id of stage.jobIds) {
              const job = state?.jobs[id]
              if (job !== undefined) n.set(job.state, (n.get(job.state) ?? 0) + 1)
            }
          }
        }
        for (const [s, v] of n) this.set({ state: s }, v)
      }
    })
    new Gauge({
      name: 'cis_queue_length',
      help: 'Joblists waiting to start (accepted, state queued).',
      registers,
      collect () { this.set(queued(source.state()).length) }
    })
    new Gauge({
      name: 'cis_queue_oldest_wait_seconds',
      help: 'How long the oldest queued joblist has waited since it was submitted (0 if none waits).',
      registers,
      collect () {
        const oldest = queued(source.state()).reduce((min, jl) => Math.min(min, jl.submittedAt), Infinity)
        this.set(Number.isFinite(oldest) ? Math.max(0, source.now() - oldest) / 1000 : 0)
      }
    })
    new Gauge({
      name: 'cis_peers_alive',
      help: 'Other nodes this node hears from now.',
      registers,
      collect () { this.set(source.peersAlive()) }
    })
    new Gauge({
      name: 'cis_is_master',
      help: '1 if this node holds the master role now, else 0.',
      registers,
      collect () { this.set(source.isMaster() ? 1 : 0) }
    })

    let checked = 0
    new Counter({
      name: 'cis_signature_checks_total',
      help: 'Ed25519 signature checks of events (one a signed batch; none for a batch that a later one of its origin names as its previous).',
      registers,
      collect () { const n = signatureChecks(); this.inc(n - checked); checked = n }
    })
    this.jobsStarted = new Counter({ name: 'cis_jobs_started_total', help: 'Job attempts started on this node.', registers })
    this.jobsFinished = new Counter({ name: 'cis_jobs_finished_total', help: 'Job attempts of this node that ended, by result.', labelNames: ['result'] as const, registers })
    for (const result of RESULTS) this.jobsFinished.inc({ result }, 0)
    this.eventsAppended = new Counter({ name: 'cis_events_appended_total', help: 'Events this node wrote to its own log, by type.', labelNames: ['type'] as const, registers })
    this.eventsReceived = new Counter({ name: 'cis_events_received_total', help: 'Events from peers applied here (new ones, after checks), by type.', labelNames: ['type'] as const, registers })
    for (const type of EVENT_TYPES) {
      this.eventsAppended.inc({ type }, 0)
      this.eventsReceived.inc({ type }, 0)
    }
    this.gossipMessages = new Counter({ name: 'cis_gossip_messages_total', help: 'Gossip messages published (sent) and received, by topic.', labelNames: ['direction', 'topic'] as const, registers })
    this.gossipBytes = new Counter({ name: 'cis_gossip_bytes_total', help: 'Payload bytes of gossip messages published (sent) and received, by topic.', labelNames: ['direction', 'topic'] as const, registers })
    this.syncMessages = new Counter({ name: 'cis_sync_messages_total', help: 'Frames of the sync protocol (anti-entropy pulls, both sides) sent and received.', labelNames: ['direction'] as const, registers })
    this.syncBytes = new Counter({ name: 'cis_sync_bytes_total', help: 'Payload bytes of sync frames sent and received.', labelNames: ['direction'] as const, registers })
    for (const direction of DIRECTIONS) {
      this.syncMessages.inc({ direction }, 0)
      this.syncBytes.inc({ direction }, 0)
    }
    this.membershipMessages = new Counter({ name: 'cis_membership_messages_total', help: 'Membership messages to and from neighbours over their tell streams (beats of a large cluster, down notices, watch requests, probes), by kind.', labelNames: ['direction', 'kind'] as const, registers })
    for (const direction of DIRECTIONS) for (const kind of MEMBERSHIP_KINDS) this.membershipMessages.inc({ direction, kind }, 0)
    this.masterChanges = new Counter({ name: 'cis_master_changes_total', help: 'Times the master this node follows changed (not counting the first one after start).', registers })
    this.schedulerPass = new Histogram({
      name: 'cis_scheduler_pass_duration_seconds',
      help: 'Duration of the master\'s passes (scheduling decisions), on the master only.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers
    })
    this.apiRequests = new Histogram({
      name: 'cis_api_request_duration_seconds',
      help: 'Duration of HTTP API requests, by method, route template (unmatched: no route) and status.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    })
  }

  // ---- EventCounter ----

  appended (e: CisEvent): void {
    this.eventsAppended.inc({ type: e.type })
    if (e.type === 'started') this.jobsStarted.inc()
    else if (e.type === 'finished') {
      const b = e.body as FinishedBody
      if (b.started !== undefined) this.jobsStarted.inc() // (a short job's start, told with its end)
      this.jobsFinished.inc({ result: b.state })
    }
  }

  received (events: CisEvent[]): void {
    for (const e of events) this.eventsReceived.inc({ type: e.type })
  }

  // ---- RoleMetrics ----

  masterChanged (): void { this.masterChanges.inc() }

  passTimer (): () => void { return this.schedulerPass.startTimer() }

  // ---- MeshMetrics ----

  gossip (direction: 'sent' | 'received', topic: string, bytes: number): void {
    this.gossipMessages.inc({ direction, topic })
    this.gossipBytes.inc({ direction, topic }, bytes)
  }

  sync (direction: 'sent' | 'received', bytes: number): void {
    this.syncMessages.inc({ direction })
    this.syncBytes.inc({ direction }, bytes)
  }

  membership (direction: 'sent' | 'received', kind: string): void {
    this.membershipMessages.inc({ direction, kind })
  }

  // ---- ApiMetrics ----

  get contentType (): string { return this.registry.contentType }

  async text (): Promise<string> { return await this.registry.metrics() }

  request (method: string, route: string, status: number, seconds: number): void {
    this.apiRequests.observe({ method, route, status: String(status) }, seconds)
  }
}

function queued (state: ClusterState | undefined): Array<ClusterState['joblists'][string]> {
  return Object.values(state?.joblists ?? {}).filter(jl => jl.state === 'queued')
}
