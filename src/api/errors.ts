// The API's error catalogue: every error has a stable code, an HTTP status and a message
// that says what to do. A test checks each code is documented in the README.

export class ApiError extends Error {
  override name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string, readonly details?: unknown) {
    super(message)
  }
}

export const ERROR_CODES = {
  ERR_SPEC_INVALID: 400,
  ERR_BAD_REQUEST: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_ALREADY_ENDED: 409,
  ERR_NOT_FAILED: 409,
  ERR_SCHEDULE_REMOVED: 409,
  ERR_TOO_LARGE: 413,
  ERR_UNSUPPORTED_TYPE: 415,
  ERR_UNSATISFIABLE: 422,
  ERR_INTERNAL: 500,
  ERR_NODE_OFFLINE: 503
} as const

export const notFound = (what: string, ref: string): ApiError =>
  new ApiError(404, 'ERR_NOT_FOUND', `no ${what} '${ref}' is known to this node; list them with 'cis status'`)
