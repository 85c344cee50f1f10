/**
 * The terminal relay: an SSH session through a host's agent ("proxy" mode) crosses two replicas, the terminal-ws
 * replica holding the browser and the agent-ws replica holding the agent. Between them it is a stream on NATS, per
 * session and flow-controlled, never one request per keystroke:
 *
 *   open     terminal-ws → agents.v1.replica.<holder>.relay   RelayOpenRequest → RelayOpenReply (request/reply, once)
 *   input    terminal-ws → terminal.v1.relay.<session>.in     RelayInMessage: input, resize, close, credit, keepalive
 *   output   agent-ws    → terminal.v1.relay.<session>.out    RelayOutMessage: connected, data, error, closed, credit, keepalive
 *
 * Ordered, checked and resent: every message that carries session content (credit included) has a sequence number
 * per direction, and every message carries `ack`, the next number its sender expects. Each side keeps what it sent
 * until acknowledged and sends it all again after a second without progress (go-back-N), and skips duplicates and
 * anything past a gap, so a NATS node failing over, or a subscription re-made after a reconnect, loses nothing. A
 * peer whose messages carry no `ack` (an older release) is never resent to; a gap in its stream ends the session
 * rather than show corrupt output. Flow control is by credit, in characters of `data`: the agent side may publish output only within the
 * window the terminal side granted (granted again as the browser's socket drains), and the terminal side may
 * publish input only within the window the agent side granted (granted again as the agent's socket drains). Each
 * side sends a keepalive every RELAY_KEEPALIVE_MS; silence for RELAY_TIMEOUT_MS means the other replica died: the
 * terminal side tells the browser, the agent side tells the agent `ssh_proxy_disconnect`.
 */
import { z } from "zod";
import { HostId } from "./ids.js";
import type { DeclaredFields } from "./message-union.js";
import { replyOf } from "./replies.js";

/** Terminal session ids: also the agent's `session_id`, which PatchMon limits to these characters. */
export const TERMINAL_SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const TerminalSessionId = z.string().regex(TERMINAL_SESSION_ID_PATTERN);

/** Both sides send a keepalive this often while a session is open. */
export const RELAY_KEEPALIVE_MS = 5000;
/** A side silent this long is gone (a replica died or lost NATS). */
export const RELAY_TIMEOUT_MS = 15_000;
/** Output the agent side may have in flight before the terminal side grants more (characters). */
export const RELAY_OUTPUT_WINDOW = 256 * 1024;
/** Input the terminal side may have in flight before the agent side grants more (characters). */
export const RELAY_INPUT_WINDOW = 128 * 1024;

/** The `ssh_proxy` the holder sends the agent: the target is decided by terminal-ws from the host registry. */
export const RelaySshTarget = z.looseObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  username: z.string().min(1).max(64),
  terminal: z.string().max(64),
  cols: z.number().int().min(1).max(1000),
  rows: z.number().int().min(1).max(1000),
  password: z.string().max(1024).optional(),
  private_key: z.string().max(16_384).optional(),
  passphrase: z.string().max(1024).optional(),
});
export type RelaySshTarget = z.infer<typeof RelaySshTarget>;

export const RelayOpenRequest = z.looseObject({
  sessionId: TerminalSessionId,
  hostId: HostId,
  /** The terminal-ws replica (for logs and audit on the agent side). */
  terminalReplica: z.string().max(128),
  /** Output credit granted up front. */
  outputWindow: z.number().int().min(1024).max(16 * 1024 * 1024).default(RELAY_OUTPUT_WINDOW),
  ssh: RelaySshTarget,
});
export type RelayOpenRequest = z.input<typeof RelayOpenRequest>;

/** The holder sent `ssh_proxy` to the agent; the agent's answer comes on the output subject. */
export const RelayOpenReply = replyOf({
  connectionId: z.string(),
  /** Input credit granted up front. */
  inputWindow: z.number().int().min(1),
  agentVersion: z.string().nullable().optional(),
});
export type RelayOpenReply = z.infer<typeof RelayOpenReply>;

const Seq = z.number().int().min(0);
/** On every message: the next sequence number the sender expects from the other side (all below it arrived). */
const Ack = Seq.optional();

/** Host → browser (agent-ws → terminal-ws). */
export const RelayOutMessage = z.discriminatedUnion("type", [
  /** The agent opened the shell (`ssh_proxy_connected`). */
  z.looseObject({ type: z.literal("connected"), seq: Seq, ack: Ack, hostKeyFingerprint: z.string().max(128).optional() }),
  /** Terminal output (`ssh_proxy_data`). */
  z.looseObject({ type: z.literal("data"), seq: Seq, ack: Ack, data: z.string() }),
  /** The agent reported a failure (`ssh_proxy_error`), or the holder lost the agent; `closed` follows. */
  z.looseObject({ type: z.literal("error"), seq: Seq, ack: Ack, message: z.string().max(4096), code: z.string().max(64).optional() }),
  /** The session is over on the agent side; the last message. */
  z.looseObject({ type: z.literal("closed"), seq: Seq, ack: Ack, reason: z.string().max(256) }),
  /** Input the holder has written to the agent: the terminal side may send this much more. Sequenced since acks. */
  z.looseObject({ type: z.literal("credit"), seq: Seq.optional(), ack: Ack, chars: z.number().int().min(1) }),
  z.looseObject({ type: z.literal("keepalive"), ack: Ack }),
]);
export type RelayOutMessage = z.infer<typeof RelayOutMessage>;
/** A RelayOutMessage as the agent side builds it (declared fields only). */
export type RelayOutFrame = DeclaredFields<z.input<typeof RelayOutMessage>>;

/** Browser → host (terminal-ws → agent-ws). */
export const RelayInMessage = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("input"), seq: Seq, ack: Ack, data: z.string() }),
  z.looseObject({ type: z.literal("resize"), seq: Seq, ack: Ack, cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }),
  /** The browser side ended the session: the holder sends `ssh_proxy_disconnect`; the last message. */
  z.looseObject({ type: z.literal("close"), seq: Seq, ack: Ack, reason: z.string().max(256) }),
  /** Output delivered to the browser: the agent side may send this much more. Sequenced since acks. */
  z.looseObject({ type: z.literal("credit"), seq: Seq.optional(), ack: Ack, chars: z.number().int().min(1) }),
  z.looseObject({ type: z.literal("keepalive"), ack: Ack }),
]);
export type RelayInMessage = z.infer<typeof RelayInMessage>;
