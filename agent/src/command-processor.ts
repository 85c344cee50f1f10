/**
 * What the agent does with each text frame from the server, without any socket: validate it against the
 * catalogue, log it, act on it (through the sink), ack it when it carried an id, and dedupe ids, so a redelivered
 * command is acked again with its first outcome but never executed twice. Bad frames are logged, never thrown.
 */
import type { AgentToServerMessage, ServerToAgentMessage } from "@patchmon-ws/protocol";
import { parseServerFrame } from "./frames.js";
import type { AgentLogger } from "./logger.js";
import { RecentCommandIds, type CommandOutcome } from "./recent-ids.js";

export interface CommandSink {
  /** Acts on a validated command (first delivery only); throws when the command failed. */
  execute(message: ServerToAgentMessage): void;
  /** A command id seen before arrived again; it is re-acked, not executed. */
  duplicate(message: ServerToAgentMessage): void;
  /** Writes a frame to the server. */
  reply(message: AgentToServerMessage): void;
  /** A known command failed its schema (already logged and acked); e.g. an invalid ssh_proxy still gets its error. */
  invalid?(frame: { type: ServerToAgentMessage["type"]; error: string; sessionId?: string }): void;
}

export class CommandProcessor {
  constructor(
    private readonly sink: CommandSink,
    private readonly log: AgentLogger,
    readonly recent: RecentCommandIds = new RecentCommandIds(),
  ) {}

  process(text: string): void {
    const frame = parseServerFrame(text);
    switch (frame.kind) {
      case "invalid_json":
        this.log.warn({ error: frame.error, length: text.length }, "ignored a frame that is not JSON");
        return;
      case "malformed":
        this.log.warn({ error: frame.error, id: frame.id }, "ignored a malformed frame");
        this.rejectWithAck(frame.id, `malformed frame: ${frame.error}`);
        return;
      case "unknown_type":
        this.log.warn({ type: frame.type, id: frame.id }, "ignored a message of unknown type");
        this.rejectWithAck(frame.id, `unsupported message type "${frame.type}"`);
        return;
      case "invalid":
        this.log.warn({ type: frame.type, id: frame.id, error: frame.error }, "ignored an invalid message");
        this.sink.invalid?.({ type: frame.type, error: frame.error, ...(frame.sessionId === undefined ? {} : { sessionId: frame.sessionId }) });
        this.rejectWithAck(frame.id, `invalid ${frame.type}: ${frame.error}`);
        return;
      case "message":
        this.handle(frame.message);
        return;
    }
  }

  private handle(message: ServerToAgentMessage): void {
    const { id } = message;
    if (message.type === "connected") {
      this.log.debug?.({ id }, "server greeting received");
      if (id !== undefined) this.ack(id, { ok: true });
      return;
    }
    if (id !== undefined) {
      const previous = this.recent.get(id);
      if (previous) {
        this.log.info({ type: message.type, id }, "duplicate command id: acked again, not executed");
        this.sink.duplicate(message);
        this.ack(id, previous);
        return;
      }
    }
    // Only the type and id: some commands (ssh_proxy) carry passwords or private keys.
    this.log.info({ type: message.type, id }, "command received");
    let outcome: CommandOutcome;
    try {
      this.sink.execute(message);
      outcome = { ok: true };
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      outcome = { ok: false, error: text.slice(0, 1024) };
      this.log.warn({ type: message.type, id, error: text }, "command failed");
    }
    if (id !== undefined) {
      this.recent.remember(id, outcome);
      this.ack(id, outcome);
    }
  }

  private rejectWithAck(id: string | undefined, error: string): void {
    if (id === undefined) return;
    const outcome = { ok: false, error: error.slice(0, 1024) };
    this.recent.remember(id, outcome);
    this.ack(id, outcome);
  }

  private ack(id: string, outcome: CommandOutcome): void {
    this.sink.reply(outcome.ok ? { type: "ack", id, ok: true } : { type: "ack", id, ok: false, error: outcome.error });
  }
}
