// The resolve hook registered by resolve-log.ts; runs on Node's hooks thread.
import { appendFileSync } from 'node:fs'
import type { InitializeHook, ResolveHook } from 'node:module'

let file = ''

export const initialize: InitializeHook<{ file: string }> = data => { file = data.file }

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  const r = await nextResolve(specifier, context)
  // Synchronous, so every line is written before the module loads (and before the process exits).
  appendFileSync(file, `${specifier}\t${r.url}\n`)
  return r
}
