import type { RawData } from "ws";
import { TerminalClientMessage, type TerminalServerMessage } from "@patchmon-ws/protocol";
import { BufferedSender, GarbageCounter, LiveSocket, type BufferedSocket, type OutboxMessage, type SocketEvents, type SocketLike } from "@patchmon-ws/service-kit";
import type { TerminalClient, TerminalSession } from "./terminal-session.js";

/** Why the server ended a terminal socket (besides the lifecycle's own reasons). */
export type TerminalSocketEndReason = "session_ended";

export interface TerminalSocketOptions {
  /** Bytes in the socket's send buffer above which output waits (and the shell is paused). */
  highWaterBytes: number;
  /** Invalid messages tolerated per minute before the session ends with 1008. */
  maxInvalidMessages: number;
  /** How long the last messages may take to leave before the socket is closed anyway. */
  finishTimeoutMs?: number;
}

const INVALID_WINDOW_MS = 60_000;
const FINISH_TIMEOUT_MS = 2000;

interface Outbound extends OutboxMessage {
  readonly droppable: false;
}

/** Nothing a terminal sends may be dropped: the outbox only bounds droppable messages, of which there are none. */
const noGap = (): Outbound => ({ json: "", droppable: false });

/**
 * A browser's terminal socket on the kit's lifecycle (heartbeat, closing state, ping policy): parses and validates
 * the browser's messages for its session, and sends the session's messages through a bounded sender that pauses
 * the session's shell while the browser is slow. Reading from the browser pauses while the shell cannot take input.
 */
export class TerminalSocket extends LiveSocket<TerminalSocketEndReason> implements TerminalClient, SocketEvents {
  private readonly sender: BufferedSender<Outbound>;
  private readonly invalid: GarbageCounter;
  private session: TerminalSession | undefined;
  private finishing = false;

  constructor(
    socket: SocketLike & BufferedSocket,
    private readonly options: TerminalSocketOptions,
    private readonly onClosedHook: (socket: TerminalSocket, code: number) => void,
  ) {
    super(socket);
    this.sender = new BufferedSender<Outbound>(socket, {
      maxQueued: 1,
      highWaterBytes: options.highWaterBytes,
      gap: noGap,
      onPressure: (pressed) => this.session?.outputPressure(pressed),
    });
    this.invalid = new GarbageCounter({ limit: options.maxInvalidMessages, windowMs: INVALID_WINDOW_MS });
  }

  attach(session: TerminalSession): void {
    this.session = session;
  }

  send(message: TerminalServerMessage): void {
    if (this.finishing || !this.open) return;
    this.sender.push({ json: JSON.stringify(message), droppable: false });
  }

  finish(last: TerminalServerMessage[], code: number, reason: string): void {
    if (this.finishing) return;
    for (const message of last) this.send(message);
    this.finishing = true;
    this.resumeReading("shell");
    const close = () => {
      clearTimeout(timer);
      this.sender.stop();
      if (this.socket.readyState === 1) this.end(code, "session_ended", reason);
    };
    const timer = setTimeout(close, this.options.finishTimeoutMs ?? FINISH_TIMEOUT_MS);
    timer.unref();
    void this.sender.whenFlushed().then(close);
  }

  pauseInput(): void {
    this.pauseReading("shell");
  }

  resumeInput(): void {
    this.resumeReading("shell");
  }

  /** Queued output (for tests and metrics). */
  get queuedMessages(): number {
    return this.sender.queued;
  }

  onMessage(data: RawData, isBinary: boolean): void {
    const session = this.session;
    if (!session || this.finishing) return;
    let raw: unknown;
    try {
      raw = isBinary ? undefined : JSON.parse(data.toString());
    } catch {
      raw = undefined;
    }
    const parsed = TerminalClientMessage.safeParse(raw);
    if (parsed.success) {
      session.message(parsed.data);
      return;
    }
    if (this.invalid.record()) {
      session.end("TOO_MANY_INVALID_MESSAGES");
      return;
    }
    const issue = parsed.error.issues[0];
    session.invalidMessage(raw === undefined ? "Messages are JSON text." : issue ? `${issue.path.join(".") || "message"}: ${issue.message}` : "");
  }

  onSocketError(): void {
    this.kill("socket_error");
  }

  onClosed(code: number): void {
    this.sender.stop();
    this.session?.socketClosed({ code, heartbeatTimeout: this.endReason === "heartbeat_timeout" });
    this.onClosedHook(this, code);
  }
}
