import { WebSocket, type RawData } from "ws";
import { CloseCode, closeReason, type Principal } from "@patchmon-ws/protocol";
import type { BoardMode } from "./board-mode.js";
import { ClientMessage, messages, type Outbound } from "./event-messages.js";
import type { HubSubscriber } from "./queue-event-hub.js";
import { SocketOutbox } from "./socket-outbox.js";

export interface EventSocketOptions {
  maxQueuedEvents: number;
  highWaterBytes: number;
  /** Invalid client messages tolerated before closing with 1008. */
  maxProtocolErrors?: number;
  /** Called when the client changed its queue selection (the hub then sends it a snapshot). */
  onSubscriptionChange: (socket: EventSocket) => void;
  onDropped?: (count: number) => void;
}

/**
 * One live-event socket: the authenticated user behind it, the queues it streams, and a bounded outbox that only
 * feeds the socket while its send buffer is below the high-water mark (sends resume from the send callbacks, so a
 * slow reader never makes the process buffer without bound).
 */
export class EventSocket implements HubSubscriber {
  /** null = every visible queue. */
  private selection: ReadonlySet<string> | null = null;
  private readonly outbox: SocketOutbox;
  private protocolErrors = 0;
  private missedPongs = 0;
  private closed = false;
  private readonly onSent = (err?: Error) => {
    if (!err) this.flush();
  };

  constructor(
    readonly ws: WebSocket,
    readonly principal: Principal,
    readonly mode: BoardMode,
    /** The dashboard token, to re-verify when the user changes. */
    readonly token: string,
    readonly sourceAddress: string,
    private readonly options: EventSocketOptions,
  ) {
    this.outbox = new SocketOutbox(options.maxQueuedEvents);
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("pong", () => {
      this.missedPongs = 0;
    });
    ws.on("close", () => {
      this.closed = true;
    });
    ws.on("error", () => ws.terminate());
  }

  wants(queue: string): boolean {
    return this.selection === null || this.selection.has(queue);
  }

  deliver(message: Outbound): void {
    if (this.closed) return;
    const droppedBefore = this.outbox.totalDropped;
    this.outbox.push(message);
    const dropped = this.outbox.totalDropped - droppedBefore;
    if (dropped > 0) this.options.onDropped?.(dropped);
    this.flush();
  }

  /** Pings, or terminates a peer that missed two pongs in a row. Returns false when it terminated. */
  heartbeat(): boolean {
    if (this.closed) return false;
    if (this.missedPongs >= 2) {
      this.ws.terminate();
      return false;
    }
    this.missedPongs++;
    this.ws.ping();
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(code, closeReason(reason));
    // A peer that never completes the closing handshake must not hold the socket.
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get queuedMessages(): number {
    return this.outbox.size;
  }

  private flush(): void {
    while (!this.closed && this.ws.readyState === WebSocket.OPEN && this.ws.bufferedAmount < this.options.highWaterBytes) {
      const next = this.outbox.shift();
      if (!next) return;
      this.ws.send(next.json, this.onSent);
    }
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    let parsed: ReturnType<typeof ClientMessage.safeParse>;
    try {
      parsed = isBinary ? ClientMessage.safeParse(undefined) : ClientMessage.safeParse(JSON.parse(data.toString()));
    } catch {
      parsed = ClientMessage.safeParse(undefined);
    }
    if (!parsed.success) {
      this.protocolErrors++;
      if (this.protocolErrors > (this.options.maxProtocolErrors ?? 5)) {
        this.close(CloseCode.POLICY_VIOLATION, "too many invalid messages");
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
