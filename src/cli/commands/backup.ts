// `cis admin backup FILE` (G-6): save a running agent's backup (GET /v1/admin/backup) to
// FILE, atomically: it is written to FILE.tmp, checked line by line against its header (every
// origin's events from seq 1, none missing: a cut-off transfer is never kept), synced to disk,
// then renamed over FILE. The file is mode 0600: it holds every joblist, with its env values.
import { open, rename, rm } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { ApiError } from '../../api/errors.js'
import { isCut } from '../../state/cuts.js'
import type { CisEvent } from '../../events/types.js'
import { BACKUP_MEDIA_TYPE, BackupSequence, backupEventCount, readBackupHeader } from '../../events/backup-format.js'
import type { BackupHeader } from '../../events/backup-format.js'
import { CountProgress, size } from '../count-progress.js'
import { CliExit, failWith, printJson } from '../context.js'
import type { Ctx } from '../context.js'

export interface BackupResult { file: string, node: string, name: string, at: string, events: number, origins: number, bytes: number }

export async function backup (ctx: Ctx, file: string): Promise<void> {
  const target = resolve(file)
  const tmp = `${target}.tmp`
  // The file first: a path that cannot be written is said before the agent does any work.
  let fh: FileHandle
  try {
    fh = await open(tmp, 'w', 0o600)
  } catch (err) {
    return failWith(ctx, 2, 'ERR_BAD_FILE', `cannot write ${tmp}: ${(err as Error).message}; choose a FILE in a directory you can write`)
  }
  let result: BackupResult
  try {
    let body: ReadableStream<Uint8Array>
    try {
      body = await ctx.client.openStream('/v1/admin/backup', { accept: BACKUP_MEDIA_TYPE })
    } catch (err) {
      if (err instanceof ApiError && err.code === 'ERR_NOT_FOUND') {
        throw new ApiError(404, err.code, `the agent at ${ctx.client.addr} cannot make backups: it runs an older cisystem. Upgrade it, then run 'cis admin backup' again`)
      }
      throw err
    }
    result = await save(ctx, body, async chunk => { await fh.write(chunk) }, target)
    await fh.sync()
    await fh.close()
    await rename(tmp, target)
    await syncDir(dirname(target))
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
  if (ctx.json) printJson(result)
  else ctx.out(`backup of ${result.name}: ${result.events} events from ${result.origins} origins → ${file} (${size(result.bytes)})`)
}

/** Write what the agent sends, checking it as it comes; what it was. */
async function save (ctx: Ctx, body: ReadableStream<Uint8Array>, write: (chunk: Uint8Array) => Promise<void>, target: string): Promise<BackupResult> {
  const from = `the agent at ${ctx.client.addr}`
  const decoder = new TextDecoder()
  let header: BackupHeader | undefined
  let sequence: BackupSequence | undefined
  let progress: CountProgress | undefined
  let partial = ''
  let line = 0
  let bytes = 0
  const fail = (why: string): never => failWith(ctx, 1, 'ERR_BACKUP_INCOMPLETE', `the backup from ${from} is not usable: ${why}. Nothing was written to ${target}; run 'cis admin backup' again`)
  const take = (text: string): void => {
    line++
    if (header === undefined) {
      const h = readBackupHeader(text, `the answer of ${from}`)
      if ('problem' in h) fail(h.problem)
      else {
        header = h.header
        sequence = new BackupSequence(header)
        if (!ctx.json) progress = new CountProgress('backup', backupEventCount(header), 'events')
      }
      return
    }
    let e: { origin?: unknown, seq?: unknown, type?: unknown }
    try { e = JSON.parse(text) as typeof e } catch { return fail(`line ${line} is not JSON`) }
    const problem = (sequence as BackupSequence).next({ origin: String(e.origin), seq: Number(e.seq) })
    if (problem !== null) fail(`line ${line}: ${problem}`)
    // A purge's cut explains the seqs it took out of the log (restore checks every event again).
    if (e.type === 'purge' && isCut((e as { body?: { cut?: unknown } }).body?.cut)) (sequence as BackupSequence).prove(e as CisEvent)
    progress?.update((sequence as BackupSequence).count)
  }
  try {
    for await (const chunk of body) {
      bytes += chunk.length
      const text = partial + decoder.decode(chunk, { stream: true })
      const lines = text.split('\n')
      partial = lines.pop() as string
      for (const l of lines) take(l)
      await write(chunk)
    }
  } catch (err) {
    if (err instanceof CliExit) throw err
    fail(`the transfer broke off (${(err as Error).message})`)
  }
  partial += decoder.decode()
  if (partial !== '') fail('it ends in the middle of a line (the transfer was cut off)')
  if (header === undefined || sequence === undefined) return fail('it is empty')
  progress?.end(sequence.count)
  const missing = sequence.missing()
  if (missing !== null) fail(`it was cut off: ${missing}`)
  return { file: target, node: header.node, name: header.name, at: header.at, events: sequence.count, origins: Object.keys(header.origins).length, bytes }
}

/** Make a rename durable: sync the directory that holds the file (where the system allows it). */
async function syncDir (dir: string): Promise<void> {
  try {
    const d = await open(dir, 'r')
    try { await d.sync() } finally { await d.close() }
  } catch { /* not every system can sync a directory; the file itself is synced */ }
}
