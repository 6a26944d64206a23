// The options of `cis agent`, declared on a commander Command. The CLI loads this module for
// every command, so it imports commander only: the checks of the values (zod schema, YAML
// file) happen in flags.ts once the agent starts.
import { InvalidArgumentError, Option } from 'commander'
import type { Command } from 'commander'

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

function integer (v: string): number {
  const n = Number(v.trim())
  if (!/^[+-]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('expected an integer, e.g. 0 or 10.')
  return n
}

function resource (v: string, prev: string[] = []): string[] {
  if (!/^[^=,\s]+=\s*\S/.test(v)) throw new InvalidArgumentError('expected TYPE=ID,ID or TYPE=COUNT, e.g. gpu=gpu0,gpu1 or slot=4.')
  return [...prev, v]
}

export function addAgentOptions (cmd: Command): Command {
  return cmd
    .addOption(new Option('--config <file>', 'YAML config file (see config/default.yaml)').env('CIS_CONFIG'))
    .addOption(new Option('--data <dir>', 'data directory (default ./.cis-data)').env('CIS_DATA'))
    .addOption(new Option('--name <name>', 'node name (default: the host name)'))
    .addOption(new Option('--api <host:port>', 'HTTP API address (default 127.0.0.1:7700)').env('CIS_API'))
    .addOption(new Option('--resource <type=ids>', 'a resource: TYPE=ID,ID or TYPE=COUNT (repeatable)').argParser(resource))
    .addOption(new Option('--profile <name>', 'a profile this node advertises (repeatable)').argParser(collect))
    .addOption(new Option('--priority <n>', 'election priority, an integer (highest alive node is master)').argParser(integer))
    .addOption(new Option('--token <token>', 'API bearer token (required beyond loopback)').env('CIS_TOKEN'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent').env('CIS_LOG_LEVEL'))
    .addOption(new Option('--listen <multiaddr>', 'libp2p listen address (repeatable; default /ip4/0.0.0.0/tcp/7701)').argParser(collect))
    .addOption(new Option('--peer <multiaddr>', 'bootstrap peer /ip4/…/tcp/…/p2p/… (repeatable)').argParser(collect))
    .addOption(new Option('--no-mdns', 'do not discover peers on the LAN with mDNS'))
    .addOption(new Option('--swarm-key <file>', 'private network key (default <data>/swarm.key, created if missing)'))
    .addOption(new Option('--heartbeat-interval <duration>', 'heartbeat interval (default 200ms)'))
    .addOption(new Option('--heartbeat-timeout <duration>', 'a node silent this long is offline (default 800ms)'))
    .addOption(new Option('--nodes-log-interval <duration>', 'how often nodes.log gets the online nodes (default 60s)'))
    .addOption(new Option('--watch-ring-above <n>', 'clusters of more nodes than this use the watch ring (default 16)').argParser(integer))
    .addOption(new Option('--lost-after <duration>', "how long a disconnected node's running jobs stay unknown before they are lost and run elsewhere (default 1m)"))
    .addOption(new Option('--enable-test-gate', 'enable POST /v1/debug/partition (tests only)').hideHelp())
}
