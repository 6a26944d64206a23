// A master's decision as the event that records it (pure). The one place this mapping is
// written: the node's master role and the test harness both use it.
import type { EventBodies } from '../events/types.js'
import type { Decision } from './schedule.js'

export type DecisionEvent =
  | { type: 'accept', body: EventBodies['accept'] }
  | { type: 'assign', body: EventBodies['assign'] }
  | { type: 'lose', body: EventBodies['lose'] }
  | { type: 'cancel', body: EventBodies['cancel'] }

/** The event type and body that record decision `d` made under master term `term`. */
export function decisionEvent (d: Decision, term: number): DecisionEvent {
  switch (d.type) {
    case 'accept': return { type: 'accept', body: { request: d.request, id: d.id, term, onLost: d.onLost, maxLost: d.maxLost, ...(d.expand !== undefined ? { expand: d.expand } : {}) } }
    case 'assign': return { type: 'assign', body: { jobId: d.jobId, attempt: d.attempt, node: d.node, resources: d.resources, term } }
    case 'lose': return { type: 'lose', body: { jobId: d.jobId, attempt: d.attempt, reason: d.reason, term } }
    case 'cancel': return { type: 'cancel', body: { joblistId: d.joblistId, ...(d.jobId !== undefined ? { jobId: d.jobId } : {}), request: d.request, term } }
  }
}
