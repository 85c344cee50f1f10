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
  /** First wait for an acknowledgement before sequenced messages are sent again (doubling up to 8×); default 1000. */
  resendAfterMs?: number;
  onMessage(message: In): void;
  /** The peer fell silent, lost a message it cannot resend, or sent something unreadable: the stream cannot be trusted. */
  onFault(fault: RelayLinkFault, detail: string): void;
}

/** A standalone acknowledgement waits this long for a message to ride on. */
const ACK_DELAY_MS = 50;
/** Sequenced messages kept for resending at most; a peer that acknowledges none of this many is not keeping up. */
const MAX_UNACKED = 10_000;

/**
 * One side of a relay session on NATS: at-least-once delivery turned exactly-once and in order, over core NATS.
 *
 * Messages that carry content get a sequence number; every message carries `ack`, the next number this side
 * expects. The peer keeps what it sent until acknowledged and, after resendAfterMs without progress, sends all of it
 * again (go-back-N, backing off); the receiver skips duplicates and anything past a gap (asking again at once by
 * acknowledging), so a NATS node dying mid-session, or a subscription re-made after a reconnect, loses nothing. A
 * peer whose messages carry no `ack` is of an older release: it is never resent to, and a gap in its stream is a
 * fault, as before. Keepalives keep the link and the acknowledgements alive; silence for timeoutMs is a fault.
 * Transport only: what the messages mean and the credit that bounds them belong to the caller.
 */
export class RelayLink<In extends { type: string }, Out extends { type: string }> {
  private readonly subscription: Subscription;
  private nextOutSeq = 0;
  private nextInSeq = 0;
  private lastHeard: number;
  private lastSent = 0;
  private readonly timer: NodeJS.Timeout;
  /** Whether the peer acknowledges (and so resends): unknown until its first message. */
  private peerAcks: boolean | undefined;
  /** Sent sequenced messages the peer has not acknowledged, oldest first. */
  private unacked: { seq: number; message: Record<string, unknown> }[] = [];
  private lastProgress = Date.now();
  private readonly resendAfterMs: number;
  private resendWait: number;
  private ackTimer: NodeJS.Timeout | undefined;
  private ackDelay = 0;
  /** No more deliveries to the caller; set by stop(). */
  private stopped = false;
  /** Subscription and timers gone; after stop(), once the peer acknowledged everything (or could not). */
  private closed = false;
  private lingerUntil = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: RelayLinkOptions<In>,
  ) {
    this.lastHeard = Date.now();
    this.resendAfterMs = options.resendAfterMs ?? 1000;
    this.resendWait = this.resendAfterMs;
    this.subscription = nc.subscribe(options.subscribeSubject, { callback: (err, msg) => this.receive(err, () => msg.json()) });
    const tick = Math.max(50, Math.min(options.keepaliveMs, Math.floor(options.timeoutMs / 3), Math.floor(this.resendAfterMs / 2)));
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref();
  }

  /**
   * Publishes a message; messages whose type carries content get the next sequence number (`seq` replaced) and are
   * kept until acknowledged. Returns false when the link is stopped or NATS refused it (closed connection).
   */
  send(message: Out, sequenced: boolean): boolean {
    if (this.stopped) return false;
    const body: Record<string, unknown> = sequenced ? { ...message, seq: this.nextOutSeq++ } : { ...message };
    if (sequenced && this.peerAcks !== false) {
      if (this.unacked.length === 0) this.lastProgress = Date.now();
      this.unacked.push({ seq: body.seq as number, message: body });
    }
    return this.publish(body);
  }

  /**
   * Stops delivering to the caller and sending anything new (idempotent). What was sent and not yet acknowledged is
   * still resent until the peer acknowledges it (the session's last message must arrive) or timeoutMs passes.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.unacked.length === 0 || this.peerAcks === false) return this.close();
    this.lingerUntil = Date.now() + this.options.timeoutMs;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Sequenced messages sent and not yet acknowledged (for tests and metrics). */
  get unacknowledged(): number {
    return this.unacked.length;
  }

  private receive(err: Error | null, json: () => unknown): void {
    if (this.closed) return;
    if (err) return this.fault("malformed", err.message);
    let raw: Record<string, unknown> | null;
    try {
      raw = json() as Record<string, unknown> | null;
    } catch {
      return this.fault("malformed", "not JSON");
    }
    this.lastHeard = Date.now();
    const ack = raw?.ack;
    if (typeof ack === "number") {
      this.peerAcks = true;
      this.acknowledged(ack);
    } else if (this.peerAcks === undefined) {
      // An older peer: it neither acknowledges nor takes resends.
      this.peerAcks = false;
      this.unacked = [];
    }
    const seq = raw?.seq;
    if (this.stopped) {
      // Lingering for our last messages: a resend from the peer means it missed our acknowledgement.
      if (typeof seq === "number" && this.peerAcks) this.acknowledgeSoon(0);
      if (this.unacked.length === 0) this.close();
      return;
    }
    // The sequence is checked before the type is understood: a newer peer's new kind of content still counts.
    if (typeof seq === "number") {
      if (seq !== this.nextInSeq) {
        if (!this.peerAcks) return this.fault("gap", `expected message ${this.nextInSeq}, got ${seq}`);
        // A duplicate (a resend of what arrived), or past a gap (what precedes it will be resent): acknowledge now.
        this.acknowledgeSoon(0);
        return;
      }
      this.nextInSeq++;
      if (this.peerAcks) this.acknowledgeSoon(ACK_DELAY_MS);
    }
    const type = raw?.type;
    if (typeof type === "string" && !this.options.inboundTypes.has(type)) return;
    const parsed = this.options.inbound.safeParse(raw);
    if (!parsed.success) return this.fault("malformed", `${String(type)}: ${parsed.error.issues[0]?.message ?? "invalid message"}`);
    this.options.onMessage(parsed.data);
  }

  /** The peer has everything below `ack`. */
  private acknowledged(ack: number): void {
    let dropped = 0;
    while (dropped < this.unacked.length && this.unacked[dropped]!.seq < ack) dropped++;
    if (dropped === 0) return;
    this.unacked = this.unacked.slice(dropped);
    this.lastProgress = Date.now();
    this.resendWait = this.resendAfterMs;
  }

  private publish(body: Record<string, unknown>): boolean {
    body.ack = this.nextInSeq;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    try {
      this.nc.publish(this.options.publishSubject, encodeJson(body));
      this.lastSent = Date.now();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A keepalive carrying the acknowledgement, unless another message carries it first. Coalesced: a burst of
   * resends arriving together is answered once.
   */
  private acknowledgeSoon(delayMs: number): void {
    if (this.ackTimer) {
      if (delayMs >= this.ackDelay) return;
      clearTimeout(this.ackTimer);
    }
    this.ackDelay = delayMs;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (!this.closed) this.publish({ type: "keepalive" });
    }, delayMs);
    this.ackTimer.unref();
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.stopped && now >= this.lingerUntil) return this.close();
    if (now - this.lastHeard >= this.options.timeoutMs) return this.fault("silent", `nothing heard for ${now - this.lastHeard} ms`);
    if (this.unacked.length > MAX_UNACKED) return this.fault("gap", `the peer acknowledged none of ${this.unacked.length} messages`);
    // Only to a peer known to acknowledge: an older one would take a resend for a gap.
    if (this.unacked.length > 0 && this.peerAcks === true && now - this.lastProgress >= this.resendWait) {
      // Go-back-N: everything from the first unacknowledged message, in order, with today's acknowledgement.
      for (const { message } of this.unacked) this.publish(message);
      this.lastProgress = now;
      this.resendWait = Math.min(this.resendWait * 2, this.resendAfterMs * 8);
      return;
    }
    if (!this.stopped && now - this.lastSent >= this.options.keepaliveMs - 50) this.publish({ type: "keepalive" });
  }

  private fault(fault: RelayLinkFault, detail: string): void {
    if (this.closed) return;
    const wasStopped = this.stopped;
    this.stopped = true;
    this.close();
    if (!wasStopped) this.options.onFault(fault, detail);
  }

  private close(): void {
    if (this.closed) return;
    // An acknowledgement still owed goes now: otherwise the peer resends its last messages until it gives up.
    if (this.ackTimer) this.publish({ type: "keepalive" });
    this.closed = true;
    this.stopped = true;
    clearInterval(this.timer);
    this.subscription.unsubscribe();
  }
}
