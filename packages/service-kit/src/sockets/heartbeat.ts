/** Consecutive heartbeat intervals without any sign of life after which a peer is considered dead. */
export const MAX_MISSED_HEARTBEATS = 2;

export type HeartbeatAction = "ping" | "terminate";

/**
 * Liveness of one peer, advanced by a replica-wide ticker every ping interval. Any frame from the peer (pong,
 * ping, message) counts as life, so a busy agent whose pongs queue behind data is never reaped, and a half-open
 * TCP connection (PatchMon #773) is terminated after two silent intervals.
 */
export class HeartbeatState {
  private sawLife = true;
  private missed = 0;

  /** Record any frame received from the peer. */
  life(): void {
    this.sawLife = true;
    this.missed = 0;
  }

  /** Called once per interval: ping the peer, or terminate it after MAX_MISSED_HEARTBEATS silent intervals. */
  tick(): HeartbeatAction {
    if (this.sawLife) this.missed = 0;
    else this.missed++;
    this.sawLife = false;
    return this.missed >= MAX_MISSED_HEARTBEATS ? "terminate" : "ping";
  }

  get missedIntervals(): number {
    return this.missed;
  }
}

/** What the monitor needs of a peer (LiveSocket has it). */
export interface HeartbeatPeer {
  heartbeatTick(): "pinged" | "silent";
}

/**
 * One timer per process, not one per socket: every interval each peer is pinged, and peers silent for two
 * intervals are handed to `onSilent` (which terminates them with the service's reason and logs).
 */
export class HeartbeatMonitor<P extends HeartbeatPeer> {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly peers: () => Iterable<P>,
    private readonly onSilent: (peer: P) => void,
  ) {}

  /** Ticks every `intervalMs` (a configured ping interval, at most MAX_PING_INTERVAL_MS). */
  start(intervalMs: number): void {
    this.timer ??= setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** One interval: exposed so tests drive it without timers. */
  tick(): void {
    for (const peer of [...this.peers()]) if (peer.heartbeatTick() === "silent") this.onSilent(peer);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
