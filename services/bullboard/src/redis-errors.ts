import { CodedError } from "@patchmon-ws/protocol";

/** Seconds a client should wait before retrying while Redis is away. */
export const REDIS_RETRY_AFTER_SECONDS = 2;

const CONNECTION_FAILURE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|Command timed out|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|LOADING|socket closed/i;

/** Whether an error means "Redis could not be reached" rather than a bug or a bad request. */
export function isRedisConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_FAILURE.test(code)) return true;
  return CONNECTION_FAILURE.test(err.message);
}

export function redisUnavailable(cause?: unknown): CodedError {
  return new CodedError("DEPENDENCY_UNAVAILABLE", "Redis is unavailable; the queue dashboard will recover when it returns.", {
    retryAfter: REDIS_RETRY_AFTER_SECONDS,
    ...(cause === undefined ? {} : { cause }),
  });
}
