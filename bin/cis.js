#!/usr/bin/env -S node --max-semi-space-size=2
// The `cis` executable: the polyfill first (Node 20), then the CLI.
// The first line caps V8's young generation at 2 MB a semi-space (the default grows it to
// 16): an idle agent holds ~20 MB less, for ~4 % of its ingest rate at saturation and none
// at a real cluster's pace (README, "Memory"). Started as `node bin/cis.js`, node's defaults apply.
import '../dist/src/polyfill.js'
const { main } = await import('../dist/src/cli/main.js')
await main(process.argv)
