// The `cis` command line: the agent daemon and the client commands.
//
// Start-up cost: this module declares every command but loads none. Each action imports its
// command module when it runs, so `cis status` loads the client and the table code only,
// `cis submit`/`plan`/`validate`/`vars` the spec modules (zod, yaml), `cis keygen` libp2p's pnet,
// and only `cis agent` the agent's stack. Keep the static imports below light: commander,
// and local modules with no heavy imports of their own (`import type` is free).
// test/cli/cli.test.ts checks what each command loads.
import { existsSync } from 'node:fs'
import { Command } from 'commander'
import { ApiError } from '../api/errors.js'
import { addAgentOptions } from '../config/agent-options.js'
import { VERSION } from '../version.js'
import { UnreachableError } from './client.js'
import { CliExit, makeCtx, printJson } from './context.js'
import { ContextError, unreachableInContext } from './contexts.js'
import type { Ctx, GlobalOptions } from './context.js'
import type { SetOptions } from './commands/set.js'
import type { AcctOptions } from './commands/acct.js'
import type { ExportOptions } from './commands/export.js'

/**
 * A commander action that runs `fn` with a context built from the command's options and maps
 * what it throws to an exit code: 1 failed, 2 bad input (an unknown context too), 3 unreachable.
 * Commander calls an action with the command's arguments, its options, then the command itself;
 * `fn` gets the context and all but the command. The options include the program's (--context).
 */
const run = <A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) => async (...args: unknown[]): Promise<void> => {
  const cmd = args[args.length - 1] as Command
  const ctx = makeCtx(cmd.optsWithGlobals<GlobalOptions>())
  try {
    await fn(ctx, ...(args.slice(0, -1) as A))
  } catch (err) {
    if (err instanceof CliExit) {
      process.exitCode = err.exitCode
      // (With --json the error is the document on stdout, as the agent's errors are.)
      if (err.message !== '') { if (ctx.json) printJson({ error: err.message, code: err.code ?? (err.exitCode === 2 ? 'ERR_BAD_INPUT' : 'ERR_FAILED') }); else ctx.err(`cis: ${err.message}`) }
      return
    }
    if (err instanceof ContextError) {
      if (ctx.json) printJson({ error: err.message, code: err.code, ...(err.known !== undefined ? { known: err.known } : {}) })
      else ctx.err(`cis: ${err.message}`)
      process.exitCode = 2
      return
    }
    if (err instanceof UnreachableError) {
      // Through a context: say which one, and another node of its cluster to try (P-7).
      const t = ctx.target
      if (t.context !== undefined && err.url === ctx.client.addr) {
        const { message, others } = unreachableInContext({ ...t, context: t.context }, err.url, err.reason)
        if (ctx.json) printJson({ error: message, code: err.code, addr: err.url, context: t.context, otherNodes: others })
        else ctx.err(`cis: ${message}`)
      } else if (ctx.json) printJson({ error: err.message, code: err.code })
      else ctx.err(`cis: ${err.message}`)
      process.exitCode = 3
      return
    }
    if (err instanceof ApiError) {
      if (ctx.json) printJson({ error: err.message, code: err.code, details: err.details })
      else {
        ctx.err(`cis: ${err.message}`)
        if (Array.isArray(err.details)) for (const d of err.details as Array<{ path?: string, message?: string }>) ctx.err(`  ${d.path !== undefined && d.path !== '' ? `${d.path}: ` : ''}${d.message ?? JSON.stringify(d)}`)
      }
      process.exitCode = err.status === 400 || err.status === 422 ? 2 : 1
      return
    }
    throw err
  }
}

/** Commander's collector of a repeatable option. */
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]

/** The options of a command that talks to an agent. */
const client = (cmd: Command): Command => cmd
  .option('--addr <url>', 'the agent to talk to (default: --context, $CIS_CONTEXT, $CIS_ADDR, the current context, http://127.0.0.1:7700)')
  .option('--token <token>', "bearer token (default: the context's, or $CIS_TOKEN)")
  .option('--json', 'machine-readable output')

function program (): Command {
  const p = new Command('cis')
    // Before the subcommands are made, so they inherit it: a usage error in any of them is exit 2.
    .exitOverride()
    .description('cisystem: a masterless peer-to-peer job daemon')
    .version(VERSION)
    .showHelpAfterError('(add --help for the usage)')
    .option('--context <name>', "the named agent to talk to (default $CIS_CONTEXT, else the current one: see 'cis context')")
    // `cis status --help` shows --context too (it may come before or after the command).
    .configureHelp({ showGlobalOptions: true })

  client(p.command('submit').argument('<file>', 'a joblist file (YAML or JSON)')
    .description('submit a joblist; prints its ID (a file with a schedule creates or replaces that schedule)')
    .option('--var <name=value>', "a variable's value (repeat for more); on a terminal, missing required ones are asked for", collect)
    .option('--wait', 'show live progress; exit 0 only if it succeeded (not for schedules)')
    .option('--owner <name>', 'owner tag (default $CIS_TAG, $LOGNAME, $USERNAME or the host name)')
    .option('--wait-for-nodes', 'accept jobs no alive node can run yet: they wait for such a node'))
    .action(run(async (ctx, file: string, o: { wait?: boolean, owner?: string, waitForNodes?: boolean, var?: string[] }) => {
      const { submit } = await import('./commands/submit.js')
      await submit(ctx, file, o)
    }))

  client(p.command('plan').argument('<file>', 'a joblist file')
    .description('dry run: where the first stage would run now, or why it would wait'))
    .action(run(async (ctx, file: string) => {
      const { plan } = await import('./commands/submit.js')
      await plan(ctx, file)
    }))

  client(p.command('status').argument('[ref]', 'a joblist ID or name')
    .description('list joblists (unacknowledged failures and paused schedules first), or show one with its stages and jobs')
    .option('--hash', "print this node's state hash (equal on nodes with the same events)")
    .option('--at <time>', 'as it was at this time (an ISO time like 2026-11-30T10:00:00Z, or a span before now like 2h): replayed from the stored events'))
    .action(run(async (ctx, ref: string | undefined, o: { hash?: boolean, at?: string }) => {
      const { status } = await import('./commands/status.js')
      await status(ctx, ref, o)
    }))

  client(p.command('stop').argument('<ref>', 'a joblist ID or name (or a job ID with --job)')
    .description('stop a running joblist or job')
    .option('--job', 'ref is a job'))
    .action(run(async (ctx, ref: string, o: { job?: boolean }) => {
      const { stop } = await import('./commands/stop.js')
      await stop(ctx, ref, o)
    }))

  client(p.command('set').argument('<ref>', 'a joblist ID or name (or a job ID or JOBLIST/JOB with --job)')
    .description('change a joblist that has not ended: its priority, tags and/or notify list (what is given replaces the old); with --job, the notify list of one job')
    .option('--priority <n>', 'the new priority, -1000 to 1000 (higher runs first with the priority policy)')
    .option('--tag <tag>', 'a tag (repeat for more); replaces the tags', collect)
    .option('--no-tags', 'remove every tag')
    .option('--webhook <url>', 'a webhook to tell (repeat for more); with --email, replaces the notify list', collect)
    .option('--email <address>', 'an address to tell (repeat for more); with --webhook, replaces the notify list', collect)
    .option('--on <states>', 'the states the given webhooks and emails are told about: running,succeeded,failed,stopped (default: all for a webhook, the final ones for an email)')
    .option('--digest <when>', 'for the given emails: now or daily (default daily)')
    .option('--no-notify', 'remove every subscription')
    .option('--job', 'ref is a job: change its notify list'))
    .action(run(async (ctx, ref: string, o: SetOptions) => {
      const { set } = await import('./commands/set.js')
      await set(ctx, ref, o)
    }))

  client(p.command('logs').argument('<job>', 'a job ID, or JOBLIST/JOBNAME')
    .description("print a job's stdout and stderr")
    .option('-f, --follow', 'keep printing until the attempt ends')
    .option('--attempt <n>', 'which attempt (default: the latest)')
    .option('--stream <name>', 'only stdout or stderr'))
    .action(run(async (ctx, job: string, o: { follow?: boolean, attempt?: string, stream?: string }) => {
      const { logs } = await import('./commands/logs.js')
      await logs(ctx, job, o)
    }))

  client(p.command('ack').argument('[ref]', 'a failed joblist ID or name')
    .description("mark a failed joblist as seen: it leaves the top of 'cis status'")
    .option('--all', 'every failure not acknowledged yet (of the joblists named REF, if given)'))
    .action(run(async (ctx, ref: string | undefined, o: { all?: boolean }) => {
      const { ack } = await import('./commands/ack.js')
      await ack(ctx, ref, o)
    }))

  client(p.command('notifications').argument('[ref]', 'only the deliveries of this joblist (ID or name)')
    .description('webhook deliveries (delivered, retrying, gave up or disabled) and emails (sent, pending, gave up)'))
    .action(run(async (ctx, ref: string | undefined) => {
      const { notifications } = await import('./commands/notifications.js')
      await notifications(ctx, ref)
    }))

  client(p.command('schedules').description('list the schedules (paused and failing first)')
    .option('--all', 'removed ones too'))
    .action(run(async (ctx, o: { all?: boolean }) => {
      const { schedules } = await import('./commands/schedules.js')
      await schedules(ctx, o)
    }))

  client(p.command('schedule').argument('<name>', 'a schedule name')
    .description('show a schedule: its definition, its runs and skipped instants, newest first')
    .option('--limit <n>', 'at most this many runs and skips (default 100)'))
    .action(run(async (ctx, name: string, o: { limit?: string }) => {
      const { schedule } = await import('./commands/schedules.js')
      await schedule(ctx, name, o)
    }))

  for (const [name, op, what] of [['pause', 'pause', 'pause a schedule: no new runs until resumed'], ['resume', 'resume', 'resume a paused schedule (the instants it missed are skipped)'], ['unschedule', 'delete', 'remove a schedule: no new runs; its history stays']] as const) {
    client(p.command(name).argument('<name>', 'a schedule name').description(what))
      .action(run(async (ctx, schedule: string) => {
        const { control } = await import('./commands/schedules.js')
        await control(ctx, schedule, op)
      }))
  }

  client(p.command('trigger').argument('<name>', 'a schedule name')
    .description('start a run of a schedule now, outside its cron; prints its ID'))
    .action(run(async (ctx, name: string) => {
      const { trigger } = await import('./commands/schedules.js')
      await trigger(ctx, name)
    }))

  client(p.command('watch').description('the front page live in the terminal (q quits); --json: the live stream as JSON lines'))
    .action(run(async ctx => {
      const { watch } = await import('./commands/watch.js')
      await watch(ctx)
    }))

  client(p.command('nodes').description('list the nodes, their resources, and the master'))
    .action(run(async ctx => {
      const { nodes } = await import('./commands/nodes.js')
      await nodes(ctx)
    }))

  client(p.command('history').argument('<ref>', 'a joblist ID or name')
    .description('every change of a joblist and its jobs (G-3): when, which node wrote it, what changed'))
    .action(run(async (ctx, ref: string) => {
      const { history } = await import('./commands/history.js')
      await history(ctx, ref)
    }))

  client(p.command('acct')
    .description('accounting (G-2): the attempts that ran in a range (default the last 7 days), summed per owner, node, joblist or day; or the records')
    .option('--owner <owner>', 'only this owner')
    .option('--node <name>', 'only attempts that ran on this node')
    .option('--joblist <ref>', 'only this joblist (ID or name)')
    .option('--tag <tag>', 'only joblists with this tag')
    .option('--since <time>', 'from: an ISO date or time, or a span before now (7d, 12h); default 7d')
    .option('--until <time>', 'to (same forms); default now')
    .option('--by <group>', 'owner (default), node, joblist or day')
    .option('--records', 'the records themselves, one per ended attempt')
    .option('--csv', 'comma-separated values with a header line (RFC 4180)'))
    .action(run(async (ctx, o: AcctOptions) => {
      const { acct } = await import('./commands/acct.js')
      await acct(ctx, o)
    }))

  client(p.command('export')
    .description('copy the events and the joblists, jobs, attempts and accounting records into PostgreSQL (G-5), and keep them up to date until stopped (Ctrl-C); resumes where it stopped')
    .requiredOption('--to <url>', 'the database: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE')
    .option('--once', 'export what the agent has now, then exit')
    .option('--batch <n>', 'events per transaction (1 to 10000, default 1000)'))
    .action(run(async (ctx, o: ExportOptions) => {
      const { exportCommand } = await import('./commands/export.js')
      await exportCommand(ctx, o)
    }))

  client(p.command('usage').description('fair share (P-4): per owner its usage, share and the factor its priority is multiplied by'))
    .action(run(async ctx => {
      const { usage } = await import('./commands/usage.js')
      await usage(ctx)
    }))

  p.command('validate').argument('<file>', 'a joblist file').description('check a joblist file without a node').option('--json', 'machine-readable output')
    .action(run(async (ctx, file: string) => {
      const { validate } = await import('./commands/validate.js')
      await validate(ctx, file)
    }))

  p.command('vars').argument('<file>', 'a joblist file').description('list the variables a joblist file declares, without a node').option('--json', 'machine-readable output')
    .action(run(async (ctx, file: string) => {
      const { vars } = await import('./commands/vars.js')
      await vars(ctx, file)
    }))

  p.command('keygen').argument('<file>', 'where to write the key (never overwritten)').description('create a private network key for a cluster').option('--json', 'machine-readable output')
    .action(run(async (ctx, file: string) => {
      const { keygen } = await import('./commands/keygen.js')
      await keygen(ctx, file)
    }))

  const contexts = p.command('context').description('named agents to talk to (P-7): cis context add|use|list|remove; then --context NAME or $CIS_CONTEXT')
  contexts.command('add').argument('<name>', 'a name: letters, digits, ".", "_", "-"')
    .description('add (or replace) a context: an agent address and its token')
    .requiredOption('--addr <url>', "the agent's API URL, e.g. http://10.0.0.5:7700")
    .option('--token <token>', 'bearer token for it (stored in the file, mode 0600; never printed)')
    .option('--json', 'machine-readable output')
    .action(run(async (ctx, name: string, o: { addr: string, token?: string }) => {
      const { contextAdd } = await import('./commands/context.js')
      contextAdd(ctx, name, o)
    }))
  contexts.command('use').argument('[name]', 'a context')
    .description('make a context the current one: used when neither --context, $CIS_CONTEXT, --addr nor $CIS_ADDR says otherwise')
    .option('--none', 'no current context (back to $CIS_ADDR or http://127.0.0.1:7700)')
    .option('--json', 'machine-readable output')
    .action(run(async (ctx, name: string | undefined, o: { none?: boolean }) => {
      const { contextUse } = await import('./commands/context.js')
      contextUse(ctx, name, o)
    }))
  contexts.command('list', { isDefault: true }).alias('ls').description('list the contexts (* marks the current one; tokens show as set or none)')
    // (The default: `cis context` lists; `cis context WORD` with a word no subcommand has comes here too.)
    .argument('[unknown]')
    .option('--json', 'machine-readable output')
    .action(run(async (ctx, unknown: string | undefined) => {
      if (unknown !== undefined) throw new CliExit(2, `'cis context ${unknown}' is not a command: use cis context add|use|list|remove`)
      const { contextList } = await import('./commands/context.js')
      contextList(ctx)
    }))
  contexts.command('remove').alias('rm').argument('<name>', 'a context').description('remove a context')
    .option('--json', 'machine-readable output')
    .action(run(async (ctx, name: string) => {
      const { contextRemove } = await import('./commands/context.js')
      contextRemove(ctx, name)
    }))

  // Administration (G-6): backup from a running agent; restore offline, for a stopped one.
  const admin = p.command('admin').description('backup, restore and purge of the store (G-6): cis admin backup|restore|purge')
  client(admin.command('backup').argument('<file>', 'where to write the backup (replaced atomically when complete)')
    .description("save a consistent backup of a running agent's store (every event of every origin) to FILE; its node key is not in it"))
    .action(run(async (ctx, file: string) => {
      const { backup } = await import('./commands/backup.js')
      await backup(ctx, file)
    }))
  client(admin.command('purge')
    .description('remove ended joblists from every node (state, snapshot, accounting): those that ended before --before or longer ago than --older-than')
    .option('--older-than <span>', 'ended longer ago than this: 30m, 12h, 90d, 2w')
    .option('--before <time>', 'ended before this time: an ISO date or time')
    .option('--dry-run', 'only count what would go'))
    .action(run(async (ctx, o: { olderThan?: string, before?: string, dryRun?: boolean }) => {
      const { purge } = await import('./commands/purge.js')
      await purge(ctx, o)
    }))
  admin.command('restore').argument('<file>', "a file made by 'cis admin backup'")
    .description('make the store of a stopped agent from a backup (checked first: header, events, signatures); then start it with cis agent --data DIR')
    .requiredOption('--data <dir>', 'the data directory of the agent to restore (it must not be running)')
    .option('--force', 'replace the store DIR holds (only DIR/store: node.key, jobs and logs stay)')
    .option('--json', 'machine-readable output')
    .action(run(async (ctx, file: string, o: { data: string, force?: boolean }) => {
      const { restore } = await import('./commands/restore.js')
      await restore(ctx, file, o)
    }))

  addAgentOptions(p.command('agent').description('run the cisystem daemon on this machine'))
    .action(async (o: Record<string, unknown>) => {
      // The agent's whole stack (libp2p, fastify, level, pino) loads here and only here: from
      // its bundle (dist/bundle/agent.js, scripts/bundle.mjs: a fraction of the memory of its
      // modules) when the build made one, else from the modules.
      const { runAgent } = await loadAgent()
      await runAgent(o)
    })
  return p
}

/** The agent's entry: from the bundle if there is one (CIS_NO_BUNDLE=1: the modules, to debug them). */
async function loadAgent (): Promise<typeof import('../agent/run.js')> {
  const bundle = new URL('../../bundle/agent.js', import.meta.url)
  if (process.env.CIS_NO_BUNDLE !== '1' && existsSync(bundle)) return await import(bundle.href) as typeof import('../agent/run.js')
  return await import('../agent/run.js')
}

export async function main (argv: string[]): Promise<void> {
  // `cis status | head`: the reader went away; that is not an error of ours. Another error (a
  // full disk under `cis logs JOB > out.txt`) is said in a line, not a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    try { process.stderr.write(`cis: cannot write the output: ${err.message}. Is the disk full?\n`) } catch { /* stderr gone too */ }
    process.exit(1)
  })
  // `cis ... 2>&1 | head`: stderr's reader went away too; the command ends with its own exit
  // code, not 1 from an unhandled EPIPE (an agent run from here keeps running: its log is stdout).
  process.stderr.on('error', () => {})
  const p = program()
  p.exitOverride()
  // A usage error (an unknown option, a missing argument) with --json: also one JSON document
  // on stdout (commander writes its own text to stderr).
  const json = argv.includes('--json')
  try {
    await p.parseAsync(argv)
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') { process.exitCode = 0; return }
    if (typeof code === 'string' && code.startsWith('commander.')) {
      if (json) printJson({ error: (err as Error).message.replace(/^error: /, ''), code: 'ERR_BAD_INPUT' })
      process.exitCode = 2
      return
    }
    process.stderr.write(`cis: ${(err as Error).message}\n`)
    process.exitCode = 1
  }
}
