/**
 * Keepalive for one open connection, a hardened form of the stock agent's ("Compatibility" in docs/architecture.md): a ping every
 * pingIntervalMs, a read deadline of readDeadlineMs extended by ANY frame (data, ping or pong), and a ping that
 * cannot be written within pingWriteTimeoutMs, or fails, ends the connection. Half-open TCP (PatchMon #773) is
 * therefore detected within the read deadline. Runs on a shared TimerWheel: one wheel entry per connection.
 */
import type { TimerWheel, WheelTimer } from "./timer-wheel.js";

export interface HeartbeatSettings {
  pingIntervalMs: number;
  readDeadlineMs: number;
  pingWriteTimeoutMs: number;
}

export interface HeartbeatPeer {
  /** Sends a ping; calls `written` once it was flushed (or with the error that prevented it). */
  ping(written: (error?: Error) => void): void;
  /** The connection is dead: close it without a handshake. Called at most once. */
  expire(reason: string): void;
}

export class Heartbeat {
  private lastFrameAt = 0;
  private nextPingAt = 0;
  private pingSentAt: number | undefined;
  private timer: WheelTimer | undefined;
  private running = false;

  constructor(
    private readonly settings: HeartbeatSettings,
    private readonly peer: HeartbeatPeer,
    private readonly wheel: TimerWheel,
    private readonly clock: () => number,
  ) {}

  start(): void {
    const now = this.clock();
    this.running = true;
    this.lastFrameAt = now;
    this.nextPingAt = now + this.settings.pingIntervalMs;
    this.pingSentAt = undefined;
    this.arm(now);
  }

  /** A frame arrived: the peer is alive. Cheap on purpose (called for every frame). */
  touch(): void {
    this.lastFrameAt = this.clock();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private check = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    const now = this.clock();
    const { readDeadlineMs, pingWriteTimeoutMs, pingIntervalMs } = this.settings;
    if (now - this.lastFrameAt >= readDeadlineMs) {
      this.fail(`read deadline exceeded: no frame for ${readDeadlineMs} ms`);
      return;
    }
    if (this.pingSentAt !== undefined && now - this.pingSentAt >= pingWriteTimeoutMs) {
      this.fail(`ping not written within ${pingWriteTimeoutMs} ms`);
      return;
    }
    if (now >= this.nextPingAt) {
      const sentAt = now;
      this.pingSentAt = sentAt;
      this.nextPingAt = now + pingIntervalMs;
      this.peer.ping((error) => {
        if (!this.running || this.pingSentAt !== sentAt) return;
        if (error) this.fail(`ping failed: ${error.message}`);
        else this.pingSentAt = undefined;
      });
      if (!this.running) return;
    }
    this.arm(now);
  };

  private arm(now: number): void {
    let due = Math.min(this.nextPingAt, this.lastFrameAt + this.settings.readDeadlineMs);
    if (this.pingSentAt !== undefined) due = Math.min(due, this.pingSentAt + this.settings.pingWriteTimeoutMs);
    this.timer = this.wheel.schedule(due - now, this.check);
  }

  private fail(reason: string): void {
    this.stop();
    this.peer.expire(reason);
  }
}
