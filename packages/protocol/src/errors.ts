/**
 * Stable, coded errors (Fastify style). Every rejection a client can see, over HTTP, in an upgrade rejection
 * or in a NATS reply, carries one of these codes. Codes are never reused for another meaning.
 */
export const ErrorCatalogue = {
  BAD_REQUEST: { status: 400, message: "The request is malformed." },
  VALIDATION_FAILED: { status: 400, message: "The request body or parameters are invalid." },
  UNSUPPORTED_API_VERSION: { status: 404, message: "This API version is not served." },
  NOT_FOUND: { status: 404, message: "Nothing is served at this path." },
  HOST_NOT_FOUND: { status: 404, message: "No such host." },
  USER_NOT_FOUND: { status: 404, message: "No such user." },
  SESSION_NOT_FOUND: { status: 404, message: "No such terminal session." },
  RECORDING_NOT_FOUND: { status: 404, message: "No recording is stored for this terminal session." },
  CREDENTIALS_MISSING: { status: 401, message: "Credentials are missing." },
  INVALID_CREDENTIALS: { status: 401, message: "The credentials are invalid." },
  TOKEN_EXPIRED: { status: 401, message: "The token has expired." },
  TOKEN_INVALID: { status: 401, message: "The token is invalid." },
  SESSION_REVOKED: { status: 401, message: "The session has been revoked." },
  REFRESH_TOKEN_REUSED: { status: 401, message: "A refresh token was reused; the session has been revoked." },
  TICKET_INVALID: { status: 401, message: "The ticket is invalid, expired or already used." },
  TICKET_MISMATCH: { status: 403, message: "The ticket was issued for another purpose or target." },
  USER_DISABLED: { status: 403, message: "The user is disabled." },
  FORBIDDEN: { status: 403, message: "You are not allowed to do this." },
  ORIGIN_FORBIDDEN: { status: 403, message: "This Origin is not allowed." },
  METHOD_NOT_ALLOWED: { status: 405, message: "This method is not allowed here." },
  CONFLICT: { status: 409, message: "The resource changed or already exists." },
  AGENT_OFFLINE: { status: 409, message: "The host's agent is not connected." },
  USERNAME_TAKEN: { status: 409, message: "That username is already taken." },
  LAST_ADMIN: { status: 409, message: "The last active admin cannot be removed, demoted or disabled." },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large." },
  UNSUPPORTED_WEBSOCKET_VERSION: {
    status: 426,
    message: "Only WebSocket protocol versions 13 and 8 are supported.",
    headers: { "Sec-WebSocket-Version": "13, 8" },
  },
  RATE_LIMITED: { status: 429, message: "Too many attempts; try again later." },
  INTERNAL: { status: 500, message: "Internal error." },
  NO_UPSTREAM: { status: 502, message: "No live upstream for this route." },
  DEPENDENCY_UNAVAILABLE: { status: 503, message: "A dependency is unavailable; try again later." },
  OVERLOADED: { status: 503, message: "This replica is at capacity; try again shortly (another replica may take it)." },
  SHUTTING_DOWN: { status: 503, message: "The service is shutting down; try again." },
} as const satisfies Record<string, { status: number; message: string; headers?: Record<string, string> }>;

export type ErrorCode = keyof typeof ErrorCatalogue;
export const ERROR_CODES = Object.keys(ErrorCatalogue) as ErrorCode[];

/** Extra response headers a code always carries (e.g. 426 names the supported WebSocket version). */
export function errorHeaders(code: ErrorCode): Readonly<Record<string, string>> {
  const entry = ErrorCatalogue[code];
  return "headers" in entry ? entry.headers : {};
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ErrorCatalogue, value);
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: unknown;
}

export class CodedError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds, for 429 and 503 (sent as Retry-After). */
  readonly retryAfter: number | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, options: { retryAfter?: number; details?: unknown; cause?: unknown } = {}) {
    super(message ?? ErrorCatalogue[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CodedError";
    this.code = code;
    this.status = ErrorCatalogue[code].status;
    this.retryAfter = options.retryAfter;
    this.details = options.details;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { error: this.message, code: this.code }
      : { error: this.message, code: this.code, details: this.details };
  }

  /** Rebuilds an error received in a NATS reply or an HTTP body. Unknown codes become INTERNAL. */
  static fromBody(body: { code?: unknown; error?: unknown; message?: unknown; retryAfter?: unknown }): CodedError {
    const code = isErrorCode(body.code) ? body.code : "INTERNAL";
    const message = typeof body.error === "string" ? body.error : typeof body.message === "string" ? body.message : undefined;
    const retryAfter = typeof body.retryAfter === "number" ? body.retryAfter : undefined;
    return new CodedError(code, message, retryAfter === undefined ? {} : { retryAfter });
  }
}

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof CodedError;
}
