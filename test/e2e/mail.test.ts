// Issue 11 (P-6, S-5), end to end: email notifications from a real agent through a real SMTP
// server on 127.0.0.1 (smtp-server). `digest: now` gets a message listing the failed joblist
// with its failure line; a storm of 20 failing joblists to one address gives at most 2
// messages (mailEvery 1m); `digest: daily` gets one digest listing two ended joblists (with
// the test-only notify.digestEvery instead of the daily clock); without smtp configured an
// email subscription is refused at submit.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import type { Agent } from '../helpers/agent.js'
import { api, cleanup, sleep, startAgent, tempDir, waitFinal, waitFor } from '../helpers/agent.js'
import { startCluster, waitForMaster } from '../helpers/cluster.js'

interface Mail { to: string[], subject: string, text: string, at: number }

const mails: Mail[] = []
let smtp: SMTPServer
let dir = ''
let agent: Agent | undefined
let configFile = ''
/** Addresses the SMTP server refuses for now (451, a temporary failure: the sender retries). */
const refused = new Set<string>()
const DIGEST_EVERY_MS = 10_000

/** Undo quoted-printable soft breaks and escapes (enough for the plain-text bodies nodemailer writes). */
function unqp (s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)))
}

function parse (raw: string, to: string[]): Mail {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  const subject = /^Subject: (.*)$/m.exec(head)?.[1] ?? ''
  const qp = /^Content-Transfer-Encoding: quoted-printable/mi.test(head)
  const body = raw.slice(split + 4)
  return { to, subject, text: qp ? unqp(body) : body, at: Date.now() }
}

const joblist = (name: string, run: string, notify: unknown[]): Record<string, unknown> => ({ name, notify, stages: [{ name: 's', jobs: [{ name: 'j', run, needs: { slot: 1 } }] }] })
const to = (address: string): Mail[] => mails.filter(m => m.to.includes(address))

async function submit (url: string, spec: Record<string, unknown>): Promise<string> {
  const r = await api(url, '/v1/joblists', { body: spec })
  assert.equal(r.status, 201, JSON.stringify(r.body))
  return r.body.id as string
}

async function emails (url: string, q = ''): Promise<any[]> {
  return (await api(url, `/v1/notifications${q}`)).body.emails
}

before(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo (address, session, cb) {
      if (!refused.has(address.address)) { cb(); return }
      const err: Error & { responseCode?: number } = new Error('mailbox busy, try again later')
      err.responseCode = 451
      cb(err)
    },
    onData (stream, session, cb) {
      let raw = ''
      stream.on('data', (d: Buffer) => { raw += d.toString() })
      stream.on('end', () => {
        mails.push(parse(raw, session.envelope.rcptTo.map(r => r.address)))
        cb()
      })
    }
  })
  await new Promise<void>(resolve => smtp.listen(0, '127.0.0.1', resolve))
  const port = (smtp.server.address() as AddressInfo).port
  dir = tempDir('cis-mail-')
  configFile = join(dir, 'cis.yaml')
  writeFileSync(configFile, [
    'smtp:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    '  secure: false',
    '  from: cis@example.org',
    'notify:',
    '  timeout: 5s',
    '  mailEvery: 1m',
    `  digestEvery: ${DIGEST_EVERY_MS}ms`,
    ''
  ].join('\n'))
  agent = await startAgent({ name: 'mail-node', args: ['--resource', 'slot=4', '--config', configFile] })
})

after(async () => {
  await agent?.stop()
  if (agent !== undefined) cleanup(agent.dataDir)
  cleanup(dir)
  await new Promise<void>(resolve => smtp.close(() => resolve()))
})

test('P-6: digest now: one message listing the failed joblist with its failure line; the item shows as sent', async () => {
  const url = (agent as Agent).url
  const id = await submit(url, joblist('mail-now', 'echo boom >&2; exit 3', [{ email: 'Now@Example.org', digest: 'now', on: ['failed'] }]))
  const jl = await waitFinal(url, id)
  assert.equal(jl.state, 'failed')
  const [m] = await waitFor('the message', () => to('now@example.org').length >= 1 ? to('now@example.org') : undefined, 20_000)
  assert.match(m.subject, /joblist mail-now failed/)
  assert.ok(m.text.includes(`mail-now (${id}) failed at `), m.text)
  assert.ok(typeof jl.failure === 'string' && m.text.includes(jl.failure), `the failure line ${String(jl.failure)} in ${m.text}`)
  const list = await waitFor('the item to show as sent', async () => {
    const l = await emails(url, `?joblist=${id}`)
    return l.length === 1 && l[0].sentAt !== null ? l : undefined
  }, 10_000)
  assert.deepEqual([list[0].id, list[0].state, list[0].email, list[0].digest, list[0].nextAt], [`${id}.failed.0`, 'failed', 'now@example.org', 'now', null])
  await sleep(1000)
  assert.equal(to('now@example.org').length, 1, 'sent once')
})

test('S-5: a storm of 20 failing joblists to one address gives at most 2 messages (mailEvery 1m); the rest show pending with the next time', async () => {
  const url = (agent as Agent).url
  const ids = await Promise.all(Array.from({ length: 20 }, async (_, i) => await submit(url, joblist(`storm-${i}`, 'exit 1', [{ email: 'storm@example.org', digest: 'now', on: ['failed'] }]))))
  for (const id of ids) await waitFinal(url, id)
  await waitFor('the first message', () => to('storm@example.org').length >= 1 || undefined, 20_000)
  await sleep(3000)
  const got = to('storm@example.org')
  assert.ok(got.length >= 1 && got.length <= 2, `${got.length} messages`)
  const listed = ids.filter(id => got.some(m => m.text.includes(`(${id})`)))
  assert.ok(listed.length >= 1)
  const items = (await emails(url)).filter((e: any) => e.email === 'storm@example.org')
  assert.equal(items.length, 20)
  const sent = items.filter((e: any) => e.sentAt !== null)
  const pending = items.filter((e: any) => e.sentAt === null)
  assert.equal(sent.length, listed.length, 'the sent items are those the messages listed')
  if (pending.length > 0) {
    const first = Math.min(...sent.map((e: any) => Date.parse(e.sentAt)))
    for (const e of pending) assert.ok(Date.parse(e.nextAt) >= first + 60_000, `pending until mailEvery after the first message: ${String(e.nextAt)}`)
  }
})

test('P-6: digest daily: one digest listing two ended joblists (digestEvery instead of the daily clock)', async () => {
  const url = (agent as Agent).url
  // Start right after a digest time, so both end well before the next one.
  await waitFor('just after a digest time', () => Date.now() % DIGEST_EVERY_MS < 1000 || undefined, DIGEST_EVERY_MS + 2000, 20)
  const sub = [{ email: 'daily@example.org', digest: 'daily' }]
  const a = await submit(url, joblist('daily-a', 'exit 2', sub))
  const b = await submit(url, joblist('daily-b', 'true', sub))
  await waitFinal(url, a)
  await waitFinal(url, b)
  const pending = await emails(url)
  for (const e of pending.filter((x: any) => x.email === 'daily@example.org')) assert.equal(e.sentAt, null, 'nothing before the digest time')
  const [m] = await waitFor('the digest', () => to('daily@example.org').length >= 1 ? to('daily@example.org') : undefined, DIGEST_EVERY_MS + 10_000)
  assert.match(m.subject, /^cis digest: 2 notifications/)
  assert.ok(m.text.includes(`daily-a (${a}) failed at `) && m.text.includes(`daily-b (${b}) succeeded at `), m.text)
  await sleep(1500)
  assert.equal(to('daily@example.org').length, 1, 'one digest')
})

test('S-5: without smtp configured an email subscription is refused at submit (400 naming the path)', async () => {
  const plain = await startAgent({ name: 'no-smtp', args: ['--resource', 'slot=1'] })
  try {
    const r = await api(plain.url, '/v1/joblists', { body: joblist('mail', 'true', [{ email: 'ops@example.org' }]) })
    assert.equal(r.status, 400)
    assert.match(r.body.error, /notify\[0\]\.email: email notifications are not enabled on this cluster: configure smtp/)
    assert.deepEqual(r.body.details.map((d: any) => d.path), ['notify[0].email'])
    const bad = await api(plain.url, '/v1/joblists', { body: joblist('mail', 'true', [{ email: 'not-an-address' }]) })
    assert.equal(bad.status, 400)
    assert.match(JSON.stringify(bad.body), /notify\[0\]\.email.*must be an email address/)
  } finally {
    await plain.stop()
    cleanup(plain.dataDir)
  }
})

test('P-6: SIGKILL the master while an email is due: the new master sends it, listing the item; the item shows as sent', async () => {
  refused.add('kill@example.org')
  const c = await startCluster([{ name: 'm-master', priority: 2 }, { name: 'm-next', priority: 1 }], ['--config', configFile, '--resource', 'slot=1'])
  try {
    const [m, next] = c.agents
    await waitForMaster(c.agents, 'm-master')
    const id = await submit(next.url, joblist('mail-kill', 'exit 2', [{ email: 'kill@example.org', digest: 'now', on: ['failed'] }]))
    await waitFinal(next.url, id)
    // The first master tried and failed (recorded as a `mail` event, replicated to the follower).
    await waitFor('a failed message, seen by the follower', async () => (await emails(next.url, `?joblist=${id}`)).some((e: any) => e.failures >= 1) || undefined, 30_000)
    await m.kill()
    await waitForMaster([next], 'm-next')
    refused.delete('kill@example.org')
    const [msg] = await waitFor('the message from the new master', () => to('kill@example.org').length >= 1 ? to('kill@example.org') : undefined, 40_000)
    assert.ok(msg.text.includes(`mail-kill (${id}) failed at `), msg.text)
    const list = await waitFor('the item to show as sent', async () => {
      const l = await emails(next.url, `?joblist=${id}`)
      return l.length === 1 && l[0].sentAt !== null ? l : undefined
    }, 20_000)
    assert.equal(list[0].id, `${id}.failed.0`)
    assert.ok(list[0].failures >= 1, 'the failure before the kill is in its history')
  } finally {
    refused.delete('kill@example.org')
    await c.stopAll()
  }
})
