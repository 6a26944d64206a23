// JSON-lines logs with pino; pretty when stdout is a terminal.
import { pino } from 'pino'
import type { Logger } from 'pino'
import { LogSink } from './log-sink.js'

export async function createLogger (level: string, prettyMode: boolean | 'auto', name: string): Promise<Logger> {
  const usePretty = prettyMode === 'auto' ? process.stdout.isTTY === true : prettyMode
  const base = { level, base: { node: name } }
  if (usePretty) {
    // Loaded only for a terminal: it costs memory a daemon under a supervisor does not need.
    const { default: pretty } = await import('pino-pretty')
    return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
  }
  // (Not pino's own destination: a failed write there ended the agent, or hung it at exit; log-sink.ts.)
  return pino(base, new LogSink())
}
