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
