/**
 * The WebSocket close codes the services send, each with a stable name and a sentence that docs/architecture.md
 * repeats (a test fails on a code declared here that no service sends). Application codes live in 4000-4999; 4003 is
 * left unassigned: a peer that missed its heartbeats is terminated without a close frame, since it could not answer
 * one, so it observes 1006 (ObservedCloseCode) and the server records the reason `heartbeat_timeout`.
 */
export const CloseCode = {
  NORMAL: 1000,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  REPLACED: 4000,
  CREDENTIALS_REVOKED: 4001,
  IDLE_TIMEOUT: 4002,
  SESSION_LIMIT: 4004,
  HOST_DELETED: 4005,
  TARGET_UNAVAILABLE: 4006,
  SESSION_EXPIRED: 4007,
  TARGET_REFUSED: 4008,
} as const;

/**
 * Codes no service sends but that the services see from their peers (and record as the code a connection ended
 * with), and that clients must handle.
 */
export const ObservedCloseCode = {
  /** A peer going away (a browser leaving the page) closes with it. */
  GOING_AWAY: 1001,
  /** The TCP connection ended without a close frame (a crash, a cut cable, a terminate()): never in a frame (RFC 6455 §7.4.1). */
  ABNORMAL_CLOSURE: 1006,
} as const;

export type CloseCodeName = keyof typeof CloseCode;
export type CloseCodeValue = (typeof CloseCode)[CloseCodeName];

export const CLOSE_CODE_DESCRIPTIONS: Record<CloseCodeName, string> = {
  NORMAL: "The session ended normally (the peer asked to close, or the terminal exited).",
  POLICY_VIOLATION: "Authentication expired or was revoked, or the peer kept sending invalid messages.",
  MESSAGE_TOO_BIG: "A frame exceeded the endpoint's maxPayload.",
  INTERNAL_ERROR: "The service hit an unexpected error; the connection cannot continue.",
  SERVICE_RESTART: "The replica is restarting; reconnect at once, another replica will take the connection.",
  TRY_AGAIN_LATER: "The service is overloaded or a dependency is unavailable; reconnect after a backoff.",
  REPLACED: "A newer connection with the same identity replaced this one.",
  CREDENTIALS_REVOKED: "The credentials behind this connection (API key, user, session) were revoked or rotated.",
  IDLE_TIMEOUT: "The session was idle longer than the configured idle timeout.",
  SESSION_LIMIT: "The user, or the host, already has the maximum number of concurrent terminal sessions, counted across every replica.",
  HOST_DELETED: "The host this connection belongs to was deleted.",
  TARGET_UNAVAILABLE: "The terminal target (the host or its agent) became unreachable.",
  SESSION_EXPIRED: "The session reached its maximum duration.",
  TARGET_REFUSED: "The terminal target refused the session (SSH credentials, host key mismatch, or proxying disabled on the agent).",
};

export const OBSERVED_CLOSE_CODE_DESCRIPTIONS: Record<keyof typeof ObservedCloseCode, string> = {
  GOING_AWAY: "Sent by no service: a peer that leaves (a browser closing its tab) closes with it; a client receiving it (from an intermediary) reconnects, as after 1012.",
  ABNORMAL_CLOSURE: "Never sent: the connection ended without a close frame (the peer or its network died, or the server terminated a peer silent for two heartbeat intervals, recorded as `heartbeat_timeout`).",
};

/**
 * The documented close for a connection whose credentials a revocation event withdrew: a deleted host closes its
 * agent with HOST_DELETED, everything else (a rotated key, a logout, a disabled, deleted or changed user) with
 * CREDENTIALS_REVOKED and the reason in the text.
 */
export function revocationClose(event: { kind: "user" | "session" | "host"; reason: string }): { code: CloseCodeValue; text: string } {
  if (event.kind === "host") {
    return event.reason === "host_deleted"
      ? { code: CloseCode.HOST_DELETED, text: "host deleted" }
      : { code: CloseCode.CREDENTIALS_REVOKED, text: "API key rotated or revoked" };
  }
  if (event.reason === "user_changed") return { code: CloseCode.CREDENTIALS_REVOKED, text: "permissions changed; reconnect" };
  return { code: CloseCode.CREDENTIALS_REVOKED, text: `credentials revoked (${event.reason})` };
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** WebSocket close reasons must fit in 123 bytes of UTF-8. (TextEncoder, not Buffer: this module runs in browsers.) */
export function closeReason(text: string): string {
  const bytes = utf8.encode(text);
  return bytes.length <= 123 ? text : utf8Decoder.decode(bytes.subarray(0, 120)).replace(/\uFFFD$/, "") + "...";
}
