#!/usr/bin/env -S node --max-semi-space-size=8 --v8-pool-size=1
// The `cis` executable: the polyfill first (Node 20), then the CLI.
// The first line caps V8's young generation at 8 MB a semi-space (node 20 grows it to 16):
// an idle agent of 20 holds ~15 MB less at the same CPU; 2 or 4 MB saved little more and cost
// idle CPU (more scavenges, more promoted). One V8 worker thread instead of four: each holds
// memory of its own (a malloc arena, stacks): a lone idle agent ~1.5 MB less. README, "Memory".
// As `node bin/cis.js`, node's defaults apply.
import '../dist/src/polyfill.js'
const { main } = await import('../dist/src/cli/main.js')
await main(process.argv)
