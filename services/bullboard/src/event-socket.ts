import type { RawData } from "ws";
import {
  BoardClientMessage,
  CloseCode,
  type CloseCodeValue,
  type Principal,
  type RevocationEvent,
} from "@patchmon-ws/protocol";
import { BufferedSender, GarbageCounter, LiveSocket, type BufferedSocket, type Revocable, type SocketEvents, type SocketLike } from "@patchmon-ws/service-kit";
import type { BoardMode } from "./board-mode.js";
import { messages, type Outbound } from "./event-messages.js";
import type { HubSubscriber } from "./queue-event-hub.js";

/** Why the server ended an event socket. */
export type EventSocketEndReason = "revoked" | "expired" | "invalid_messages" | "shutdown" | "user_changed";

export interface EventSocketOptions {
  maxQueuedEvents: number;
  highWaterBytes: number;
  /** Invalid client messages tolerated per minute before closing with 1008. Default 5. */
  maxProtocolErrors?: number;
  /** Called when the client changed its queue selection (the hub then sends it a snapshot). */
  onSubscriptionChange: (socket: EventSocket) => void;
  /** Called when the user behind the socket changed: re-authorise it. */
  onUserChanged?: (socket: EventSocket) => void;
  /** Called once when the socket closed (any side). */
  onClosed?: (socket: EventSocket, code: number) => void;
  onDropped?: (count: number) => void;
}

const PROTOCOL_ERROR_WINDOW_MS = 60_000;

/**
 * One live-event socket on the kit's lifecycle (heartbeat, closing state, ping policy): the authenticated user
 * behind it, the queues it streams, and a bounded sender that feeds the socket only while its send buffer is
 * below the high-water mark, dropping the oldest events (with a gap message) for a slow reader.
 */
export class EventSocket extends LiveSocket<EventSocketEndReason> implements HubSubscriber, Revocable, SocketEvents {
  /** null = every visible queue. */
  private selection: ReadonlySet<string> | null = null;
  private readonly sender: BufferedSender<Outbound>;
  private readonly protocolErrors: GarbageCounter;

  constructor(
    socket: SocketLike & BufferedSocket,
    readonly principal: Principal,
    readonly mode: BoardMode,
    /** The dashboard token, to re-verify when the user changes. */
    readonly token: string,
    readonly sourceAddress: string,
    private readonly options: EventSocketOptions,
  ) {
    super(socket);
    this.sender = new BufferedSender<Outbound>(socket, {
      maxQueued: options.maxQueuedEvents,
      highWaterBytes: options.highWaterBytes,
      gap: (dropped) => messages.gap(dropped),
      ...(options.onDropped ? { onDropped: options.onDropped } : {}),
    });
    this.protocolErrors = new GarbageCounter({ limit: options.maxProtocolErrors ?? 5, windowMs: PROTOCOL_ERROR_WINDOW_MS });
  }

  wants(queue: string): boolean {
    return this.selection === null || this.selection.has(queue);
  }

  deliver(message: Outbound): void {
    if (this.open) this.sender.push(message);
  }

  /** Closes with a coded reason; nothing more is sent. */
  close(code: number, reason: EventSocketEndReason, text: string): void {
    this.sender.stop();
    this.end(code, reason, text);
  }

  revoked(code: CloseCodeValue, text: string, _event: RevocationEvent): void {
    this.close(code, "revoked", text);
  }

  userChanged(): void {
    if (this.options.onUserChanged) this.options.onUserChanged(this);
    else this.close(CloseCode.CREDENTIALS_REVOKED, "user_changed", "permissions changed; reconnect");
  }

  get queuedMessages(): number {
    return this.sender.queued;
  }

  onSocketError(): void {
    this.kill("socket_error");
  }

  onClosed(code: number): void {
    this.sender.stop();
    this.options.onClosed?.(this, code);
  }

  /** A data frame from the client (the lifecycle routes frames only while the socket is open). */
  onMessage(data: RawData, isBinary: boolean): void {
    let parsed: ReturnType<typeof BoardClientMessage.safeParse>;
    try {
      parsed = BoardClientMessage.safeParse(isBinary ? undefined : JSON.parse(data.toString()));
    } catch {
      parsed = BoardClientMessage.safeParse(undefined);
    }
    if (!parsed.success) {
      if (this.protocolErrors.record()) {
        this.close(CloseCode.POLICY_VIOLATION, "invalid_messages", "too many invalid messages");
        return;
      }
      this.deliver(messages.error("VALIDATION_FAILED", 'expected {"type":"subscribe","queues":[names] or "*"}'));
      return;
    }
    const { queues } = parsed.data;
    this.selection = queues === "*" ? null : new Set(queues);
    this.deliver(messages.subscribed(queues));
    this.options.onSubscriptionChange(this);
  }
}
