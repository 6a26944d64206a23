// JSON-lines logs with pino; pretty when stdout is a terminal.
import { pino } from 'pino'
import type { Logger } from 'pino'
import pretty from 'pino-pretty'

export function createLogger (level: string, prettyMode: boolean | 'auto', name: string): Logger {
  const usePretty = prettyMode === 'auto' ? process.stdout.isTTY === true : prettyMode
  const base = { level, base: { node: name } }
  if (usePretty) return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
  return pino(base)
}
