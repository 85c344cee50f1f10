/**
 * The browser SSH terminal (`/api/{v}/ssh-terminal/:hostId?ticket=…`), protocol version 1: JSON text frames, one
 * message each, exactly as PatchMon's own front end speaks them plus additive, optional extras.
 * One definition for terminal-ws, the web UI, tests and recordings (terminal-recording.ts maps these messages to
 * asciicast events).
 *
 * PatchMon's messages, unchanged: client → server `connect` / `input` / `resize` / `disconnect`; server → client
 * `connected` / `data` / `error` / `closed`. Extras (a PatchMon client ignores them): `connected` carries the session
 * id, mode and host key; `error` a stable `code`; `closed` the close code and reason; `warning` announces an idle or
 * maximum-duration close; `auth_prompt` / `auth_response` answer keyboard-interactive prompts.
 *
 * Browser-safe: zod only, no Node built-ins.
 */
import { z } from "zod";
import { messageUnion } from "./message-union.js";
import { CloseCode, ObservedCloseCode, type CloseCodeValue } from "./close-codes.js";

export const TERMINAL_PROTOCOL_VERSION = 1;

/** `/api/{version}/ssh-terminal/{hostId}` */
export const TERMINAL_PATH_PATTERN = /^\/api\/([^/]+)\/ssh-terminal\/([^/]+)\/?$/;

/** Browser frames are small (keystrokes, pastes, resizes); larger ones close the socket with 1009. */
export const TERMINAL_CLIENT_MAX_PAYLOAD = 64 * 1024;

export const CONNECTION_MODES = ["direct", "proxy"] as const;
export const ConnectionMode = z.enum(CONNECTION_MODES);
export type ConnectionMode = z.infer<typeof ConnectionMode>;

export const TERMINAL_DEFAULTS = {
  connectionMode: "direct",
  terminal: "xterm-256color",
  cols: 80,
  rows: 24,
} as const satisfies { connectionMode: ConnectionMode; terminal: string; cols: number; rows: number };

const Cols = z.number().int().min(1).max(1000);
const Rows = z.number().int().min(1).max(1000);
/** TERM values are short names of terminfo entries. */
const TermName = z.string().regex(/^[A-Za-z0-9._+-]{1,64}$/);
/** The same characters SSH login names use (and nothing a shell would interpret). */
export const SshUsername = z.string().regex(/^[A-Za-z0-9._][A-Za-z0-9._@-]{0,63}$/, "must be a valid login name");

// --- client → server -----------------------------------------------------------------------------------------------

/**
 * Opens the SSH session. The target (address and port) always comes from the host registry, never from the client:
 * `port`, `proxy_host` and `proxy_port`, which PatchMon's client sends, are accepted and ignored (no SSRF).
 * Credentials are used once and never stored, logged or recorded.
 */
export const TerminalConnect = z.looseObject({
  type: z.literal("connect"),
  connection_mode: ConnectionMode.default(TERMINAL_DEFAULTS.connectionMode),
  /** The login name; default the host's registered SSH user, then root (an empty field counts as none). */
  username: z.union([SshUsername, z.literal("").transform(() => undefined)]).optional(),
  terminal: TermName.default(TERMINAL_DEFAULTS.terminal),
  cols: Cols.default(TERMINAL_DEFAULTS.cols),
  rows: Rows.default(TERMINAL_DEFAULTS.rows),
  password: z.string().max(1024).optional(),
  privateKey: z.string().max(16_384).optional(),
  passphrase: z.string().max(1024).optional(),
});
export type TerminalConnect = z.infer<typeof TerminalConnect>;

export const TerminalClientSchemas = {
  connect: TerminalConnect,
  /** Keystrokes or a paste, as typed (UTF-8 text). */
  input: z.looseObject({ type: z.literal("input"), data: z.string().max(TERMINAL_CLIENT_MAX_PAYLOAD) }),
  resize: z.looseObject({ type: z.literal("resize"), cols: Cols, rows: Rows }),
  /** Ends the session; the server answers `closed` and closes the socket with 1000. */
  disconnect: z.looseObject({ type: z.literal("disconnect") }),
  /** Extension: answers to an `auth_prompt`, in the order of its prompts. */
  auth_response: z.looseObject({ type: z.literal("auth_response"), responses: z.array(z.string().max(1024)).max(16) }),
} as const;

export type TerminalClientType = keyof typeof TerminalClientSchemas;
export const TERMINAL_CLIENT_TYPES = Object.keys(TerminalClientSchemas) as TerminalClientType[];
export const TerminalClientMessage = messageUnion(TerminalClientSchemas);
export type TerminalClientMessage = z.infer<typeof TerminalClientMessage>;

// --- errors ----------------------------------------------------------------------------------------------------------

/**
 * Why a terminal session failed or ended, as `error.code` (and `closed.reason`), with the socket's close code. Codes
 * are never reused for another meaning; a client that does not know one shows `message`.
 */
export const TerminalErrorCatalogue = {
  INVALID_MESSAGE: { close: null, message: "The message was not understood." },
  ALREADY_CONNECTED: { close: null, message: "This terminal is already connected." },
  NO_SSH_TARGET: { close: CloseCode.TARGET_UNAVAILABLE, message: "The host has no SSH address registered; use proxy mode or set its SSH target." },
  HOST_UNREACHABLE: { close: CloseCode.TARGET_UNAVAILABLE, message: "The host could not be reached over SSH." },
  SSH_AUTH_FAILED: { close: CloseCode.TARGET_REFUSED, message: "The SSH server refused the credentials." },
  HOST_KEY_MISMATCH: {
    close: CloseCode.TARGET_REFUSED,
    message: "The host presented a different SSH host key than the one pinned; an administrator must clear the pin if the change is expected.",
  },
  AGENT_OFFLINE: { close: CloseCode.TARGET_UNAVAILABLE, message: "The host's agent is not connected." },
  PROXY_DISABLED: {
    close: CloseCode.TARGET_REFUSED,
    message: "SSH proxying is disabled on the host's agent; enable ssh-proxy-enabled in its config.yml.",
  },
  AGENT_ERROR: { close: CloseCode.TARGET_UNAVAILABLE, message: "The host's agent could not open the SSH session." },
  SSH_ERROR: { close: CloseCode.TARGET_UNAVAILABLE, message: "The SSH session failed." },
  RELAY_LOST: { close: CloseCode.TARGET_UNAVAILABLE, message: "The connection to the host's agent was lost." },
  RELAY_STALLED: { close: CloseCode.TARGET_UNAVAILABLE, message: "The terminal did not keep up with the host's output for too long." },
  SESSION_LIMIT: { close: CloseCode.SESSION_LIMIT, message: "Too many terminal sessions are open for this user or this host." },
  IDLE_TIMEOUT: { close: CloseCode.IDLE_TIMEOUT, message: "The terminal was idle for too long." },
  SESSION_EXPIRED: { close: CloseCode.SESSION_EXPIRED, message: "The session reached its maximum duration." },
  CREDENTIALS_REVOKED: { close: CloseCode.CREDENTIALS_REVOKED, message: "Your access to this terminal was revoked." },
  HOST_DELETED: { close: CloseCode.HOST_DELETED, message: "The host was deleted." },
  DEPENDENCY_UNAVAILABLE: { close: CloseCode.TRY_AGAIN_LATER, message: "A service the terminal depends on is unavailable; try again shortly." },
  SHUTTING_DOWN: { close: CloseCode.SERVICE_RESTART, message: "The terminal service is restarting; reconnect." },
  TOO_MANY_INVALID_MESSAGES: { close: CloseCode.POLICY_VIOLATION, message: "Too many invalid messages." },
  INTERNAL: { close: CloseCode.INTERNAL_ERROR, message: "Internal error." },
} as const satisfies Record<string, { close: CloseCodeValue | null; message: string }>;

export type TerminalErrorCode = keyof typeof TerminalErrorCatalogue;
export const TERMINAL_ERROR_CODES = Object.keys(TerminalErrorCatalogue) as TerminalErrorCode[];

export function isTerminalErrorCode(value: unknown): value is TerminalErrorCode {
  return typeof value === "string" && Object.hasOwn(TerminalErrorCatalogue, value);
}

/** A terminal error code on the wire; a code this build does not know (from a newer server) reads as INTERNAL. */
export const TerminalErrorCodeSchema = z.string().transform((code): TerminalErrorCode => (isTerminalErrorCode(code) ? code : "INTERNAL"));

/** How a session ended normally: the user disconnected, or the remote shell exited. */
export const TERMINAL_END_REASONS = ["disconnected", "exited"] as const;
export type TerminalEndReason = (typeof TERMINAL_END_REASONS)[number];

// --- server → client -----------------------------------------------------------------------------------------------

export const HostKeyStatus = z.enum(["pinned", "verified", "unchecked"]);
export type HostKeyStatus = z.infer<typeof HostKeyStatus>;

/** The SSH host key the session was opened with. `pinned`: trusted on first use now; `verified`: matches the pin. */
export const TerminalHostKey = z.looseObject({
  algorithm: z.string(),
  fingerprint: z.string(),
  status: HostKeyStatus,
});
export type TerminalHostKey = z.infer<typeof TerminalHostKey>;

export const WARNING_KINDS = ["idle_timeout", "max_duration"] as const;

export const TerminalServerSchemas = {
  /** The shell is really open (the PTY and shell were granted). */
  connected: z.looseObject({
    type: z.literal("connected"),
    session_id: z.string().optional(),
    connection_mode: ConnectionMode.optional(),
    protocol_version: z.number().int().optional(),
    host_key: TerminalHostKey.nullable().optional(),
    /** Epoch ms at which the session ends at the latest (maximum duration). */
    expires_at: z.number().int().optional(),
    /** Seconds of inactivity after which the session closes (0: never). */
    idle_timeout_seconds: z.number().int().optional(),
  }),
  /** Terminal output (stdout and stderr, as the PTY writes them), UTF-8 text. */
  data: z.looseObject({ type: z.literal("data"), data: z.string() }),
  /** Something failed; `closed` follows when the session cannot continue. */
  error: z.looseObject({
    type: z.literal("error"),
    message: z.string(),
    code: TerminalErrorCodeSchema.optional(),
    /** HOST_KEY_MISMATCH: the pinned and the presented key. */
    expected_fingerprint: z.string().optional(),
    presented_fingerprint: z.string().optional(),
  }),
  /** The session ended; the socket closes right after with `code`. */
  closed: z.looseObject({
    type: z.literal("closed"),
    code: z.number().int().optional(),
    reason: z.string().optional(),
  }),
  /** Extension: the session will close in `seconds` unless something changes (input, for idle_timeout). */
  warning: z.looseObject({
    type: z.literal("warning"),
    kind: z.enum(WARNING_KINDS),
    seconds: z.number().int(),
    message: z.string(),
  }),
  /** Extension: a keyboard-interactive prompt from the SSH server; answer with `auth_response`. */
  auth_prompt: z.looseObject({
    type: z.literal("auth_prompt"),
    name: z.string(),
    instructions: z.string(),
    prompts: z.array(z.looseObject({ prompt: z.string(), echo: z.boolean() })),
  }),
} as const;

export type TerminalServerType = keyof typeof TerminalServerSchemas;
export const TERMINAL_SERVER_TYPES = Object.keys(TerminalServerSchemas) as TerminalServerType[];
export const TerminalServerMessage = messageUnion(TerminalServerSchemas);
export type TerminalServerMessage = z.infer<typeof TerminalServerMessage>;
export type TerminalServerMessageOf<T extends TerminalServerType> = z.infer<(typeof TerminalServerSchemas)[T]>;

/** The close of a session that ended for `code` (the catalogue's close code, or 1000 for a normal end). */
export function terminalCloseCode(code: TerminalErrorCode | TerminalEndReason): CloseCodeValue {
  if (code === "disconnected" || code === "exited") return CloseCode.NORMAL;
  return TerminalErrorCatalogue[code].close ?? CloseCode.INTERNAL_ERROR;
}

/**
 * Whether a client should reconnect (with a fresh ticket) after the socket closed with `code`: only after a network
 * loss or a replica going away, never after a normal end, a refusal or a policy close.
 */
export function terminalShouldReconnect(code: number): boolean {
  return code === ObservedCloseCode.ABNORMAL_CLOSURE || code === ObservedCloseCode.GOING_AWAY || code === CloseCode.SERVICE_RESTART || code === CloseCode.TRY_AGAIN_LATER;
}
