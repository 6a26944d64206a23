// `cis admin restore FILE --data DIR [--force]` (G-6): make the store of a stopped agent from
// a backup. Offline: no agent runs on DIR (its store's lock says so).
//
// The file is checked as it is written, in one pass, into a new store beside the old one
// (DIR/store.restoring): its header (a cisystem backup, of a schema this code reads), every
// event's shape and signature, and per origin seqs 1, 2, 3... up to the header's. Only a
// whole, valid file becomes DIR/store (a rename); with --force the old store is replaced then,
// never before. No snapshot is written: the agent replays the events on start.
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { Level } from 'level'
import { BackupSequence, backupEventCount, readBackupHeader } from '../../events/backup-format.js'
import type { BackupHeader } from '../../events/backup-format.js'
import { checkEvent } from '../../events/check.js'
import type { CisEvent } from '../../events/types.js'
import { loadOrCreateIdentity, verifyEvent } from '../../identity/keys.js'
import { STORE_SCHEMA } from '../../store/event-store.js'
import { LevelEventStore } from '../../store/level-store.js'
import { VERSION } from '../../version.js'
import { CountProgress } from '../count-progress.js'
import { failWith, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export interface RestoreOptions { data: string, force?: boolean }

/** Events written to the store in one batch. */
const BATCH = 1000

export async function restore (ctx: Ctx, file: string, o: RestoreOptions): Promise<void> {
  const dir = resolve(o.data)
  const storePath = join(dir, 'store')
  const header = await readHeader(ctx, file)
  if (header.schema > STORE_SCHEMA) {
    failWith(ctx, 2, 'ERR_BACKUP_NEWER', `${file} was made by a newer cisystem (store schema ${header.schema}); this one (${VERSION}) knows schema ${STORE_SCHEMA} at most: restore it with that newer version`)
  }
  // Before the long part: a running agent or a store in the way is said at once.
  await checkTarget(ctx, dir, storePath, o.force === true)

  await mkdir(dir, { recursive: true })
  const temp = join(dir, 'store.restoring')
  if ((await inspect(temp)).kind === 'locked') failWith(ctx, 1, 'ERR_STORE_IN_USE', `another 'cis admin restore' into ${dir} is running: wait for it to end`)
  await rm(temp, { recursive: true, force: true }) // (left by a restore that was interrupted)
  const store = new LevelEventStore(temp)
  await store.open()
  let count: number
  try {
    count = await copyEvents(ctx, file, header, store)
  } catch (err) {
    await store.close()
    await rm(temp, { recursive: true, force: true })
    throw err
  }
  await store.close()

  // The store is complete: now it replaces what is there (checked again: time has passed).
  try {
    const existing = await checkTarget(ctx, dir, storePath, o.force === true)
    if (existing !== 'absent') {
      const old = join(dir, `store.replaced-${Date.now()}`)
      await rename(storePath, old)
      await rename(temp, storePath)
      await rm(old, { recursive: true, force: true })
    } else {
      await rename(temp, storePath)
    }
  } catch (err) {
    await rm(temp, { recursive: true, force: true })
    throw err
  }
  await report(ctx, file, dir, header, count)
}

/** The file's first line as a backup header; exit 2 if it is none. */
async function readHeader (ctx: Ctx, file: string): Promise<BackupHeader> {
  try {
    for await (const { text } of lines(file)) {
      const h = readBackupHeader(text, file)
      if ('problem' in h) failWith(ctx, 2, /newer/.test(h.problem) ? 'ERR_BACKUP_NEWER' : 'ERR_NOT_A_BACKUP', h.problem)
      else return h.header
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (typeof code === 'string' && code.startsWith('E')) failWith(ctx, 2, 'ERR_BAD_FILE', `cannot read ${file}: ${(err as Error).message}`)
    throw err
  }
  return failWith(ctx, 2, 'ERR_NOT_A_BACKUP', `${file} is empty: it is not a cisystem backup; make one with 'cis admin backup FILE'`)
}

/** Check and write every event after the header; how many. Exit 2 at the first bad line. */
async function copyEvents (ctx: Ctx, file: string, header: BackupHeader, store: LevelEventStore): Promise<number> {
  const sequence = new BackupSequence(header)
  const progress = ctx.json ? undefined : new CountProgress('restore', backupEventCount(header), 'events')
  const bad = (line: number, why: string): never => failWith(ctx, 2, 'ERR_BACKUP_INVALID', `${file}, line ${line}: ${why}. Nothing was restored`)
  let batch: CisEvent[] = []
  for await (const { line, text } of lines(file)) {
    if (line === 1) continue // the header
    let e: unknown
    try { e = JSON.parse(text) } catch { bad(line, 'not JSON') }
    const shape = checkEvent(e)
    if (shape !== null) bad(line, `not a well-formed event (${shape})`)
    const event = e as CisEvent
    const order = sequence.next(event)
    if (order !== null) bad(line, order)
    // A peer checks this on every event it receives; a changed file would be refused there.
    if (!verifyEvent(event)) bad(line, `the signature of event ${event.origin}:${event.seq} does not match (the file was changed after it was made)`)
    sequence.prove(event)
    batch.push(event)
    if (batch.length >= BATCH) { await store.write(batch); batch = [] }
    progress?.update(sequence.count)
  }
  if (batch.length > 0) await store.write(batch)
  progress?.end(sequence.count)
  const missing = sequence.missing()
  if (missing !== null) failWith(ctx, 2, 'ERR_BACKUP_INVALID', `${file} is incomplete: ${missing} (was it cut off while copying, or changed?). Nothing was restored`)
  return sequence.count
}

type TargetState = 'absent' | 'empty' | 'data' | 'unreadable'

/** What DIR/store is; exit if the restore may not go there. */
async function checkTarget (ctx: Ctx, dir: string, storePath: string, force: boolean): Promise<TargetState> {
  const state = await inspect(storePath)
  if (state.kind === 'locked') {
    failWith(ctx, 1, 'ERR_STORE_IN_USE', `the store in ${dir} is in use: an agent runs on ${dir}. Stop it first (a restore replaces its whole store), then run 'cis admin restore' again`)
  }
  if (state.kind === 'data' && !force) {
    failWith(ctx, 2, 'ERR_STORE_EXISTS', `${dir} already holds a store: restore into a new --data directory, or add --force to replace it (only ${storePath} is replaced; node.key, jobs/ and the logs stay)`)
  }
  if (state.kind === 'unreadable' && !force) {
    failWith(ctx, 1, 'ERR_STORE', `cannot open the store in ${dir} (${state.why}): add --force to replace it`)
  }
  return state.kind as TargetState
}

async function inspect (storePath: string): Promise<{ kind: TargetState | 'locked', why?: string }> {
  let files: string[]
  try { files = await readdir(storePath) } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' }
    return { kind: 'unreadable', why: (err as Error).message }
  }
  if (files.length === 0) return { kind: 'absent' }
  const db = new Level<string, string>(storePath, { createIfMissing: false })
  try {
    await db.open()
  } catch (err) {
    const cause = (err as { cause?: { code?: string, message?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') return { kind: 'locked' }
    return { kind: 'unreadable', why: cause?.message ?? (err as Error).message }
  }
  try {
    for await (const _key of db.keys({ limit: 1 })) return { kind: 'data' }
    return { kind: 'empty' }
  } finally { await db.close() }
}

/** The lines of a file, numbered from 1 (a last line without a newline too). */
async function * lines (file: string): AsyncGenerator<{ line: number, text: string }> {
  const input = createReadStream(file, { encoding: 'utf8' })
  const rl = createInterface({ input, crlfDelay: Infinity })
  let line = 0
  try {
    for await (const text of rl) yield { line: ++line, text }
  } finally {
    // (A reader that stops early, after the header or at a bad line, closes the file too.)
    rl.close()
    input.destroy()
  }
}

/** What was restored, and which node the agent on DIR will be. */
async function report (ctx: Ctx, file: string, dir: string, h: BackupHeader, events: number): Promise<void> {
  const keyFile = join(dir, 'node.key')
  // (Read only when there: loading would make a key where there is none.)
  const own = existsSync(keyFile) ? (await loadOrCreateIdentity(dir)).id : undefined
  const identity = own === undefined ? 'new' : own === h.node ? 'same' : 'other'
  const origins = Object.keys(h.origins).length
  if (ctx.json) {
    printJson({ file: resolve(file), dir, store: join(dir, 'store'), node: h.node, name: h.name, at: h.at, schema: h.schema, events, origins, identity, ...(own !== undefined ? { identityNode: own } : {}) })
    return
  }
  ctx.out(`restored ${events} events from ${origins} origins (backup of ${h.name}, taken ${h.at}) into ${join(dir, 'store')}`)
  if (identity === 'new') {
    ctx.out(`${dir} has no node.key: the agent started on it is a new node (new identity), which catches up from its peers.`)
  } else if (identity === 'same') {
    ctx.out(`${keyFile} is the identity of ${h.name}, which made this backup: the agent resumes as that node. If that node wrote events after the backup (its peers have them), move node.key away first and start as a new node instead.`)
  } else {
    ctx.out(`${keyFile} is the identity of another node (${own as string}) than the one that made the backup (${h.node}): the agent starts as that node.`)
  }
  ctx.out(`start it with: cis agent --data ${dir}`)
}
