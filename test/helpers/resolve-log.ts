// `node --import <this file> …`: record every module the process resolves, one line each,
// "<specifier>\t<resolved URL>", to the file named by $CIS_RESOLVE_LOG (test/cli checks what
// each CLI command loads). Needs module.register (Node 20.6+). Without the variable it does nothing.
import { register } from 'node:module'

const file = process.env.CIS_RESOLVE_LOG
if (file !== undefined && file !== '') register('./resolve-log-hooks.js', import.meta.url, { data: { file } })
