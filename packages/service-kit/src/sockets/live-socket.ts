import { CloseCode, closeReason } from "@patchmon-ws/protocol";
import type { Logger } from "../logger.js";
import { HeartbeatState } from "./heartbeat.js";

/** The part of a `ws` WebSocket the lifecycle uses; unit tests pass a fake. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string, cb: (err?: Error) => void): void;
  ping(): void;
  pong(data?: Buffer): void;
  close(code: number, reason: string): void;
  terminate(): void;
  /** Stops reading from the peer (TCP back-pressure), and starts again (ws's pause/resume). */
  pause?(): void;
  resume?(): void;
}

/** ws readyState OPEN. */
export const SOCKET_OPEN = 1;

/**
 * How many pings a peer may send per window. Stock agents ping every 30 s and browsers never do, so a peer
 * above this is hostile: it is closed with 1008 and the reason `ping_flood` (ws would otherwise cut it without a
 * close frame once 60 pongs are pending).
 */
export interface PingFloodPolicy {
  maxPings: number;
  windowMs: number;
}
export const DEFAULT_PING_FLOOD_POLICY: PingFloodPolicy = { maxPings: 20, windowMs: 10_000 };

/** Warnings one connection may log per window; further ones are counted and summarised once. */
export const WARNINGS_PER_CONNECTION = 5;
export const WARNING_WINDOW_MS = 60_000;

/** Why the lifecycle itself ended a connection; services add their own reasons. */
export type LifecycleEndReason = "heartbeat_timeout" | "ping_flood" | "socket_error";

interface WarningWindow {
  startedAt: number;
  logged: number;
  suppressed: number;
}

/**
 * One live WebSocket as every service holds it: liveness (any frame is life; two silent heartbeat intervals and it
 * is terminated), a closing state (once the server ends a connection its frames are no longer parsed, routed or
 * logged), the ping-flood policy, coded closes with the first reason winning, and rate-limited warnings. Kept
 * small (agent-ws holds tens of thousands): optional state is created on first use. Services extend it.
 */
export class LiveSocket<R extends string = LifecycleEndReason> {
  readonly heartbeat = new HeartbeatState();
  /** Set when the server decides to end the connection, so the close is recorded with the right reason. */
  endReason: R | LifecycleEndReason | null = null;
  private pingWindowStart = 0;
  private pingsInWindow = 0;
  private warnings: WarningWindow | undefined;
  private pausedBy: Set<unknown> | undefined;

  constructor(readonly socket: SocketLike) {}

  /**
   * Stops reading the peer's frames on behalf of `holder` (a consumer that cannot keep up): TCP back-pressure then
   * slows the peer. Reading resumes once every holder let go. Frames already received may still arrive.
   */
  pauseReading(holder: unknown): void {
    const holders = (this.pausedBy ??= new Set());
    if (holders.size === 0) this.socket.pause?.();
    holders.add(holder);
  }

  resumeReading(holder: unknown): void {
    const holders = this.pausedBy;
    if (!holders?.delete(holder) || holders.size > 0) return;
    this.socket.resume?.();
  }

  get readingPaused(): boolean {
    return (this.pausedBy?.size ?? 0) > 0;
  }

  /** The ping-flood policy of this connection (subclasses may tighten it). */
  get pingPolicy(): PingFloodPolicy {
    return DEFAULT_PING_FLOOD_POLICY;
  }

  /** Open and not being ended by the server: frames may be handled and messages sent. */
  get open(): boolean {
    return this.socket.readyState === SOCKET_OPEN && this.endReason === null;
  }

  /** Any frame (message, ping, pong) proves the peer alive. */
  life(): void {
    this.heartbeat.life();
  }

  /**
   * A ping from the peer (servers run with ws's autoPong off so the policy decides): answered with a pong, or,
   * beyond the policy, the connection is closed with 1008 `ping_flood`. Returns false when it closed.
   */
  pinged(data: Buffer | undefined, policy: PingFloodPolicy = DEFAULT_PING_FLOOD_POLICY, now = Date.now()): boolean {
    this.life();
    if (!this.open) return false;
    if (now - this.pingWindowStart >= policy.windowMs) {
      this.pingWindowStart = now;
      this.pingsInWindow = 0;
    }
    if (++this.pingsInWindow > policy.maxPings) {
      this.end(CloseCode.POLICY_VIOLATION, "ping_flood", "ping flood");
      return false;
    }
    try {
      this.socket.pong(data);
    } catch {
      this.kill("socket_error");
    }
    return true;
  }

  /** One heartbeat interval passed: ping the peer, or report it dead (the caller kills it with its reason). */
  heartbeatTick(): "pinged" | "silent" {
    if (this.heartbeat.tick() === "terminate") return "silent";
    try {
      this.socket.ping();
    } catch {
      this.kill("socket_error");
    }
    return "pinged";
  }

  /** Writes one text frame; resolves once it was handed to the socket, rejects if the socket is gone. */
  write(frame: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.socket.readyState !== SOCKET_OPEN) {
        reject(new Error("socket is not open"));
        return;
      }
      this.socket.send(frame, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * Ends the connection with a close frame, recording why; the first reason given wins. The server's socket
   * options bound how long the peer may take to answer the close (CLOSE_HANDSHAKE_TIMEOUT_MS), then ws destroys it.
   */
  end(code: number, reason: R | LifecycleEndReason, text: string): void {
    this.endReason ??= reason;
    try {
      this.socket.close(code, closeReason(text));
    } catch {
      this.socket.terminate();
    }
  }

  /** Drops a dead peer without a close handshake. */
  kill(reason: R | LifecycleEndReason): void {
    this.endReason ??= reason;
    this.socket.terminate();
  }

  /**
   * Logs a warning about this connection, at most WARNINGS_PER_CONNECTION per WARNING_WINDOW_MS; the first warning
   * of a later window says how many were suppressed. A misbehaving peer cannot turn the log into its amplifier.
   */
  warn(logger: Logger, fields: Record<string, unknown>, message: string, now = Date.now()): void {
    let window = this.warnings;
    if (!window || now - window.startedAt >= WARNING_WINDOW_MS) {
      const suppressed = window?.suppressed ?? 0;
      window = this.warnings = { startedAt: now, logged: 0, suppressed: 0 };
      if (suppressed > 0) fields = { ...fields, suppressedWarnings: suppressed };
    }
    if (window.logged >= WARNINGS_PER_CONNECTION) {
      window.suppressed++;
      return;
    }
    window.logged++;
    logger.warn(window.logged === WARNINGS_PER_CONNECTION ? { ...fields, furtherWarningsSuppressed: true } : fields, message);
  }
}
