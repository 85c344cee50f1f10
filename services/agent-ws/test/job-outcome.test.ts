import { describe, expect, it } from "vitest";
import { decideAfterError, decideAfterSend, isExpired } from "../src/commands/job-outcome.js";

const base = { hostId: "h", commandId: "c" };

describe("decideAfterSend", () => {
  it("completes acked and written-to-stock-agent deliveries", () => {
    expect(decideAfterSend({ ...base, status: "acked" })).toEqual({ action: "complete" });
    expect(decideAfterSend({ ...base, status: "delivered" })).toEqual({ action: "complete" });
  });

  it("retries a delivery the agent did not ack in time", () => {
    expect(decideAfterSend({ ...base, status: "delivered", ackTimedOut: true }).action).toBe("retry");
  });

  it("fails for good when the agent refused", () => {
    const decision = decideAfterSend({ ...base, status: "rejected", error: "nope" });
    expect(decision).toEqual({ action: "fail", reason: "the agent rejected the command: nope" });
  });

  it("parks jobs of offline hosts", () => {
    expect(decideAfterSend({ ...base, status: "offline" })).toEqual({ action: "wait_online" });
  });

  it("retries transient errors and fails permanent ones", () => {
    expect(decideAfterSend({ ...base, status: "failed", code: "DEPENDENCY_UNAVAILABLE", error: "x" }).action).toBe("retry");
    expect(decideAfterError("INTERNAL", "x").action).toBe("retry");
    expect(decideAfterError("PAYLOAD_TOO_LARGE", "too big")).toEqual({ action: "fail", reason: "too big" });
    expect(decideAfterError("VALIDATION_FAILED", "bad").action).toBe("fail");
  });
});

describe("isExpired", () => {
  it("is strict about the TTL", () => {
    expect(isExpired(0, 100, 100)).toBe(false);
    expect(isExpired(0, 100, 101)).toBe(true);
  });
});
