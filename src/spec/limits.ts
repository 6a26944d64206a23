// Limits on joblists: every one is enforced with a message that names it.
export const MAX_SPEC_BYTES = 1024 * 1024
export const MAX_FILE_BYTES = 256 * 1024
export const MAX_TOTAL_FILE_BYTES = 2 * 1024 * 1024
export const MAX_STAGES = 100
export const MAX_JOBS = 1000
export const MAX_FILES_PER_JOB = 100
export const MAX_NAME_LENGTH = 100
export const MAX_RETRIES = 100
export const MAX_COUNT_PER_TYPE = 1024
export const MAX_RUN_LENGTH = 64 * 1024
export const MAX_DURATION_MS = 30 * 24 * 3600 * 1000

export function kib (bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`
}
