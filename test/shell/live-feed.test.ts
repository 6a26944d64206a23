// P-5, issue 12: the live feed computes nothing for nobody. After the last client left, changes
// are kept for resuming for a grace period; then the feed rests, and an ID from before the
// rest gets a snapshot (never a silent gap).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { LiveFeed } from '../../src/api/live-feed.js'
import type { Outgoing } from '../../src/api/live-feed.js'
import type { ApiNode, ClusterSnapshot, NodeChanges } from '../../src/api/node-port.js'
import { emptyState } from '../../src/state/types.js'

function fakeNode (): { node: ApiNode, change: (ids: string[]) => void, views: () => number } {
  let listener: ((c: NodeChanges) => void) | undefined
  let views = 0
  const snap: ClusterSnapshot = { state: emptyState(), self: 'n1', alive: new Set(['n1']), master: 'n1', lastSeen: () => undefined, now: 0, queue: {} as ClusterSnapshot['queue'], silent: new Map(), lostAfterMs: 1000 }
  const node = {
    onChange: (f: (c: NodeChanges) => void) => { listener = f; return () => { listener = undefined } },
    view: () => { views++; return snap }
  } as unknown as ApiNode
  return { node, change: ids => listener?.({ joblists: ids, schedules: [], nodes: false }), views: () => views }
}

function client (feed: LiveFeed, lastEventId: string | null): { got: Outgoing[], texts: string[], leave: () => void } {
  const got: Outgoing[] = []
  const texts: string[] = []
  const leave = feed.subscribe({ filter: { topics: new Set(['joblists']) }, send: m => got.push(m), write: t => texts.push(t) }, lastEventId)
  return { got, texts, leave }
}

const ids = (text: string[]): string[] => text.join('').split('\n').filter(l => l.startsWith('id: ')).map(l => l.slice(4))

test('P-5 (issue 12): with no client the feed computes no change; a client within the grace resumes exactly, one after it gets a snapshot', () => {
  let now = 1_000_000
  const f = fakeNode()
  const feed = new LiveFeed(f.node, { resumeGraceMs: 60_000, now: () => now })
  try {
    // No client ever: a change costs nothing (the node's view is not even asked for).
    const before = f.views()
    f.change(['a-1'])
    feed.flush()
    assert.equal(f.views() - before, 1, 'only the flush itself looked (and found nothing pending)')

    // A client comes, sees a change, leaves; within the grace, changes are kept for it.
    const c1 = client(feed, null)
    assert.equal(c1.got[0].event, 'snapshot')
    f.change(['a-2'])
    feed.flush()
    const seen = ids(c1.texts)
    assert.equal(seen.length, 1)
    c1.leave()
    now += 30_000
    f.change(['a-3'])
    feed.flush()
    const c2 = client(feed, seen[0])
    assert.deepEqual(c2.got.map(m => m.event), ['change'], 'within the grace: exactly what was missed')
    assert.match(c2.got[0].data, /a-3/)
    const last = c2.got[0].id
    c2.leave()

    // After the grace the feed rests: changes are not computed, and the old ID gets a snapshot.
    now += 60_001
    const atRest = f.views()
    f.change(['a-4'])
    f.change(['a-5'])
    feed.flush()
    assert.equal(f.views() - atRest, 1, 'resting: nothing computed for the two changes')
    const c3 = client(feed, last)
    assert.equal(c3.got.length, 1)
    assert.equal(c3.got[0].event, 'snapshot', 'an ID from before the rest is never resumed as if nothing was missed')
    // And the feed is awake again for the new client.
    f.change(['a-6'])
    feed.flush()
    assert.equal(ids(c3.texts).length, 1)
    c3.leave()
  } finally {
    feed.close()
  }
})

test('P-5, issue 12: the feed keeps a once-a-second timer only while it has clients (an idle agent is not woken for nobody)', (t) => {
  const made = t.mock.method(globalThis, 'setInterval')
  const cleared = t.mock.method(globalThis, 'clearInterval')
  const f = fakeNode()
  const feed = new LiveFeed(f.node, { resumeGraceMs: 60_000, now: () => 1_000_000 })
  try {
    assert.equal(made.mock.callCount(), 0, 'no client: no timer')
    const c1 = client(feed, null)
    const c2 = client(feed, null)
    assert.equal(made.mock.callCount(), 1, 'one timer for any number of clients')
    assert.equal(made.mock.calls[0].arguments[1], 1000, 'a look a second')
    const timer = made.mock.calls[0].result
    c1.leave()
    assert.equal(cleared.mock.calls.filter(c => c.arguments[0] === timer).length, 0, 'a client is left: the timer stays')
    c2.leave()
    assert.equal(cleared.mock.calls.filter(c => c.arguments[0] === timer).length, 1, 'the last client left: the timer is gone')
    client(feed, null).leave()
    assert.equal(made.mock.callCount(), 2, 'a new client starts it again')
  } finally {
    feed.close()
  }
})
