// In-process ingest: a CisNode (no network, real LevelDB) receives N jobs' events from 5 origins, 10 jobs a message.
import './dist/src/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultConfig } from './dist/src/config/config.js'
import { signBatch } from './dist/src/identity/keys.js'
import { CisNode } from './dist/src/node/node.js'
import { validateJoblist } from './dist/src/spec/validate.js'
const JOBS = Number(process.argv[2] ?? 2000)
const PER = Number(process.argv[3] ?? 10)
const origins = []
for (const name of ['m', 'x0', 'x1', 's0', 's1']) {
  const key = await generateKeyPair('Ed25519')
  origins.push({ name, key, id: peerIdFromPrivateKey(key).toString(), seq: 0, events: [] })
}
const [M, X0, X1, S0, S1] = origins
const ev = (o, ts, type, body) => { const e = { origin: o.id, seq: ++o.seq, ts, lc: o.seq, type, body, sig: '' }; return e }
const dir = mkdtempSync(join(tmpdir(), 'cis-il-'))
const node = new CisNode({ config: { ...defaultConfig(), data: dir, name: 'obs', resources: {} }, log: pino({ level: 'silent' }), network: false })
await node.start()
const t0 = Date.now() - 100000
const setup = []
for (const o of origins) setup.push([o, [ev(o, t0, 'node', { name: o.name, priority: o === M ? 100 : 0, profiles: [], resources: o.name.startsWith('x') ? { slot: ['slot0', 'slot1'] } : {}, api: '', addresses: [], version: 't' })]])
setup.push([M, [ev(M, t0, 'master', { term: 5 })]])
for (const [o, es] of setup) { signBatch(o.key, es); node.receive(JSON.parse(JSON.stringify(es[0])), o.id) }
await node.flush()
const spec = validateJoblist({ name: 'ingest', stages: [{ name: 's', jobs: [{ name: 'j', run: 'true' }] }] }).spec
const messages = []
for (let from = 0; from < JOBS; from += PER) {
  const batch = new Map(origins.map(o => [o, []]))
  for (let j = from; j < Math.min(JOBS, from + PER); j++) {
    const ts = t0 + 10 + Math.floor(j / 10)
    const S = j % 2 === 0 ? S0 : S1; const X = j % 2 === 0 ? X0 : X1
    const submit = ev(S, ts, 'submit', { spec: { ...spec, name: `ingest-${j}`, values: {} }, owner: 'bench' })
    batch.get(S).push(submit)
    const id = `mmmm-${j + 1}`; const jobId = `${id}.1`
    batch.get(M).push(ev(M, ts, 'accept', { request: `${S.id}:${submit.seq}`, id, term: 5, onLost: 'retry', maxLost: 3 }))
    batch.get(M).push(ev(M, ts, 'assign', { jobId, attempt: 1, node: X.id, resources: { slot: [`slot${(j >> 1) % 2}`] }, term: 5 }))
    batch.get(X).push(ev(X, ts, 'started', { jobId, attempt: 1, pid: 100000 + j }))
    batch.get(X).push(ev(X, ts, 'finished', { jobId, attempt: 1, state: 'succeeded', exitCode: 0, signal: null, usage: { cpuUserMs: 0, cpuSysMs: 1 } }))
  }
  for (const [o, es] of batch) { if (es.length === 0) continue; signBatch(o.key, es); messages.push([o.id, JSON.stringify(es)]) }
}
const total = JOBS * 5
const c0 = process.cpuUsage(); const w0 = performance.now()
let i = 0
await new Promise(resolve => {
  const step = () => {
    const end = Math.min(messages.length, i + 20)
    for (; i < end; i++) { const [from, json] = messages[i]; for (const e of JSON.parse(json)) node.receive(e, from) }
    if (i < messages.length) setImmediate(step); else resolve()
  }
  step()
})
await node.flush()
const ms = performance.now() - w0; const cpu = process.cpuUsage(c0)
const ok = Object.values(node.state.joblists).filter(j => j.state === 'succeeded').length
console.log(`${total} events in ${ms.toFixed(0)} ms: ${(total / ms * 1000).toFixed(0)} events/s; CPU ${((cpu.user + cpu.system) / 1000 / total * 1000).toFixed(0)} ms per 1000 events; succeeded ${ok}/${JOBS}`)
await node.stop(); rmSync(dir, { recursive: true, force: true })
