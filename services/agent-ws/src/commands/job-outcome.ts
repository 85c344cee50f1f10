import type { SendOutcome } from "./delivery-plan.js";

/**
 * What the queue worker does with a durable command after one delivery attempt:
 * - complete: the agent has it (acked, or written to a stock agent that never acks);
 * - retry: transient (no ack in time, holder unreachable): BullMQ retries with backoff, same command id, so an
 *   agent that did get it acks again without running it twice;
 * - wait_online: nobody holds the agent: park the job until the host reconnects (or the recheck interval);
 * - fail: the agent refused it, or it can never be delivered (too large, invalid): failed for good, visible.
 */
export type JobDecision =
  | { action: "complete" }
  | { action: "retry"; reason: string }
  | { action: "wait_online" }
  | { action: "fail"; reason: string };

export function decideAfterSend(outcome: SendOutcome): JobDecision {
  switch (outcome.status) {
    case "acked":
      return { action: "complete" };
    case "delivered":
      return outcome.ackTimedOut ? { action: "retry", reason: "the agent did not acknowledge the command in time" } : { action: "complete" };
    case "rejected":
      return { action: "fail", reason: `the agent rejected the command: ${outcome.error ?? "no reason given"}` };
    case "offline":
      return { action: "wait_online" };
    case "failed":
      return decideAfterError(outcome.code, outcome.error);
  }
}

/** Errors that no retry can fix. */
const PERMANENT_CODES = new Set(["PAYLOAD_TOO_LARGE", "VALIDATION_FAILED", "BAD_REQUEST", "HOST_NOT_FOUND"]);

export function decideAfterError(code: string, message: string): JobDecision {
  return PERMANENT_CODES.has(code) ? { action: "fail", reason: message } : { action: "retry", reason: message };
}

/** Whether a job queued at `enqueuedAt` has outlived the command TTL. */
export function isExpired(enqueuedAt: number, ttlMs: number, now: number): boolean {
  return now - enqueuedAt > ttlMs;
}
