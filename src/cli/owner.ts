import { hostname } from 'node:os'

/** The default owner tag of a submission (P-2): CIS_TAG, LOGNAME unless root, USERNAME, host name. */
export function defaultOwner (env: NodeJS.ProcessEnv = process.env): string {
  if (env.CIS_TAG !== undefined && env.CIS_TAG !== '') return env.CIS_TAG
  if (env.LOGNAME !== undefined && env.LOGNAME !== '' && env.LOGNAME !== 'root') return env.LOGNAME
  if (env.USERNAME !== undefined && env.USERNAME !== '') return env.USERNAME
  return hostname()
}
