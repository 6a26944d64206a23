#!/usr/bin/env node
// The `cis` executable: the polyfill first (Node 20), then the CLI.
import '../dist/src/polyfill.js'
const { main } = await import('../dist/src/cli/main.js')
await main(process.argv)
