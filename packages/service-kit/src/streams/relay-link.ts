import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { z } from "zod";
import { encodeJson } from "../nats.js";

/** Why a link stopped hearing its peer properly. */
export type RelayLinkFault = "silent" | "gap" | "malformed";

export interface RelayLinkOptions<In extends { type: string }> {
  /** Where this side publishes. */
  publishSubject: string;
  /** Where the peer publishes. */
  subscribeSubject: string;
  /** The peer's messages. */
  inbound: z.ZodType<In>;
  /** The types `inbound` knows; a message of another type (from a newer peer) is skipped, not a fault. */
  inboundTypes: ReadonlySet<string>;
  keepaliveMs: number;
  /** The peer is gone after this long without any message from it. */
  timeoutMs: number;
  onMessage(message: In): void;
  /** The peer fell silent, skipped a sequence number, or sent something unreadable: the stream cannot be trusted. */
  onFault(fault: RelayLinkFault, detail: string): void;
}

/**
 * One side of a relay session on NATS: publishes this side's messages with a sequence number on those that carry
 * content, and checks the peer's (core NATS keeps one publisher's order on a connection, so a gap means loss);
 * sends keepalives and notices a peer that stopped sending them. Transport only: what the messages mean and the
 * credit that bounds them belong to the caller.
 */
export class RelayLink<In extends { type: string }, Out extends { type: string }> {
  private readonly subscription: Subscription;
  private nextOutSeq = 0;
  private nextInSeq = 0;
  private lastHeard: number;
  private lastSent = 0;
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: RelayLinkOptions<In>,
  ) {
    this.lastHeard = Date.now();
    this.subscription = nc.subscribe(options.subscribeSubject, {
      callback: (err, msg) => {
        if (this.stopped) return;
        if (err) return this.fault("malformed", err.message);
        let raw: unknown;
        try {
          raw = msg.json();
        } catch {
          return this.fault("malformed", "not JSON");
        }
        this.lastHeard = Date.now();
        // The sequence is checked before the type is understood: a newer peer's new kind of content still counts.
        const seq = (raw as { seq?: unknown } | null)?.seq;
        if (typeof seq === "number") {
          if (seq !== this.nextInSeq) return this.fault("gap", `expected message ${this.nextInSeq}, got ${seq}`);
          this.nextInSeq++;
        }
        const type = (raw as { type?: unknown } | null)?.type;
        if (typeof type === "string" && !options.inboundTypes.has(type)) return;
        const parsed = options.inbound.safeParse(raw);
        if (!parsed.success) return this.fault("malformed", `${String(type)}: ${parsed.error.issues[0]?.message ?? "invalid message"}`);
        options.onMessage(parsed.data);
      },
    });
    const tick = Math.min(options.keepaliveMs, Math.max(100, Math.floor(options.timeoutMs / 3)));
    this.timer = setInterval(() => this.heartbeat(), tick);
    this.timer.unref();
  }

  /**
   * Publishes a message; messages whose type carries content get the next sequence number (`seq` replaced).
   * Returns false when the link is stopped or NATS refused it (closed connection).
   */
  send(message: Out, sequenced: boolean): boolean {
    if (this.stopped) return false;
    const body = sequenced ? { ...message, seq: this.nextOutSeq++ } : message;
    try {
      this.nc.publish(this.options.publishSubject, encodeJson(body));
      this.lastSent = Date.now();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops listening and sending (idempotent). Messages already published still reach the peer. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.subscription.unsubscribe();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  private heartbeat(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (now - this.lastHeard >= this.options.timeoutMs) {
      this.fault("silent", `nothing heard for ${now - this.lastHeard} ms`);
      return;
    }
    if (now - this.lastSent >= this.options.keepaliveMs - 50) {
      this.send({ type: "keepalive" } as Out, false);
    }
  }

  private fault(fault: RelayLinkFault, detail: string): void {
    if (this.stopped) return;
    this.stop();
    this.options.onFault(fault, detail);
  }
}
