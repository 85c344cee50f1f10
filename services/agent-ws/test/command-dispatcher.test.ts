import { describe, expect, it } from "vitest";
import { CodedError, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import type { SendOutcome } from "../src/commands/delivery-plan.js";
import { CommandDispatcher, type CommandPorts } from "../src/commands/command-dispatcher.js";

type Behaviour = SendOutcome["status"] | "throw-unavailable" | "throw-too-large" | { status: "delivered"; ackTimedOut: true };

function ports(behaviour: Record<string, Behaviour>, existing: string[] = Object.keys(behaviour)) {
  const queued: { hostId: string; commandId: string; message: ServerToAgentMessage }[] = [];
  const observed: string[] = [];
  const outcome = (hostId: string, commandId: string): SendOutcome => {
    const b = behaviour[hostId] ?? "offline";
    if (b === "throw-unavailable") throw new CodedError("DEPENDENCY_UNAVAILABLE", "holder timeout", { retryAfter: 2 });
    if (b === "throw-too-large") throw new CodedError("PAYLOAD_TOO_LARGE");
    if (typeof b === "object") return { hostId, commandId, status: "delivered", ackTimedOut: true };
    if (b === "failed") return { hostId, commandId, status: "failed", code: "DEPENDENCY_UNAVAILABLE", error: "x" };
    if (b === "rejected") return { hostId, commandId, status: "rejected", error: "no" };
    return { hostId, commandId, status: b } as SendOutcome;
  };
  const p: CommandPorts = {
    send: async (t) => outcome(t.hostId, t.commandId),
    sendMany: async (targets) => targets.map((t) => outcome(t.hostId, t.commandId)),
    enqueue: async (hostId, commandId, message) => {
      queued.push({ hostId, commandId, message });
      return { jobId: `${hostId}.${commandId}`, replaces: null };
    },
    hostExists: async (hostId) => {
      if (!existing.includes(hostId)) throw new CodedError("HOST_NOT_FOUND");
    },
    knownHosts: () => Object.keys(behaviour),
    lastDisconnect: () => ({ at: 1, code: 1006, reason: "heartbeat_timeout" }),
    observe: (status) => observed.push(status),
  };
  return { ports: p, queued, observed };
}

const options = { ifOffline: "fail" as const, waitForAck: true, ackTimeoutMs: 1000, requestedBy: "u1" };
const report = { type: "report_now" as const };

describe("CommandDispatcher.sendOne", () => {
  it("200 with the outcome when the agent got it", async () => {
    const { ports: p, observed } = ports({ h: "acked" });
    const res = await new CommandDispatcher(p).sendOne("h", report, options);
    expect(res.httpStatus).toBe(200);
    expect(res.body).toMatchObject({ hostId: "h", status: "acked" });
    expect(typeof (res.body as { latencyMs: number }).latencyMs).toBe("number");
    expect(observed).toEqual(["acked"]);
  });

  it("keeps a caller's command id (idempotent retries)", async () => {
    const { ports: p } = ports({ h: "acked" });
    const res = await new CommandDispatcher(p).sendOne("h", report, { ...options, commandId: "my-id" });
    expect(res.body).toMatchObject({ commandId: "my-id" });
  });

  it("409 offline (with the last disconnect) when the caller did not allow queueing", async () => {
    const { ports: p, queued } = ports({ h: "offline" });
    const res = await new CommandDispatcher(p).sendOne("h", report, options);
    expect(res.httpStatus).toBe(409);
    expect(res.body).toMatchObject({ code: "AGENT_OFFLINE", status: "offline", hostId: "h", lastDisconnect: { reason: "heartbeat_timeout" } });
    expect(typeof (res.body as { error: string }).error).toBe("string");
    expect(queued).toEqual([]);
  });

  it("202 queued when offline and ifOffline is queue", async () => {
    const { ports: p, queued } = ports({ h: "offline" });
    const res = await new CommandDispatcher(p).sendOne("h", report, { ...options, ifOffline: "queue" });
    expect(res.httpStatus).toBe(202);
    expect(res.body).toMatchObject({ status: "queued", hostId: "h", reason: "the agent is offline" });
    expect(queued).toHaveLength(1);
  });

  it("404 for a host that does not exist, queue or not", async () => {
    const { ports: p, queued } = ports({ ghost: "offline" }, []);
    await expect(new CommandDispatcher(p).sendOne("ghost", report, { ...options, ifOffline: "queue" })).rejects.toMatchObject({ code: "HOST_NOT_FOUND" });
    expect(queued).toEqual([]);
  });

  it("queues, under the same command id, a delivery the agent did not ack in time (if allowed)", async () => {
    const { ports: p, queued } = ports({ h: { status: "delivered", ackTimedOut: true } });
    const strict = await new CommandDispatcher(p).sendOne("h", report, options);
    expect(strict.httpStatus).toBe(200);
    expect(strict.body).toMatchObject({ status: "delivered", ackTimedOut: true });
    const lenient = await new CommandDispatcher(p).sendOne("h", report, { ...options, ifOffline: "queue", commandId: "same" });
    expect(lenient.httpStatus).toBe(202);
    expect(queued[0]?.commandId).toBe("same");
  });

  it("queues when the holding replica cannot be reached (if allowed), else 503", async () => {
    const { ports: p, queued } = ports({ h: "throw-unavailable" });
    await expect(new CommandDispatcher(p).sendOne("h", report, options)).rejects.toMatchObject({ code: "DEPENDENCY_UNAVAILABLE", status: 503 });
    const res = await new CommandDispatcher(p).sendOne("h", report, { ...options, ifOffline: "queue" });
    expect(res.httpStatus).toBe(202);
    expect(queued).toHaveLength(1);
  });

  it("refuses a command over 64 KiB before trying or queueing it", async () => {
    const { ports: p, queued } = ports({ h: "offline" });
    const big = { type: "report_now" as const, padding: "x".repeat(70_000) } as ServerToAgentMessage;
    await expect(new CommandDispatcher(p).sendOne("h", big, { ...options, ifOffline: "queue" })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(new CommandDispatcher(p).sendMany({ all: true }, big, { ...options, ifOffline: "queue" })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(queued).toEqual([]);
  });

  it("never queues what can never be delivered", async () => {
    const { ports: p, queued } = ports({ h: "throw-too-large" });
    await expect(new CommandDispatcher(p).sendOne("h", report, { ...options, ifOffline: "queue" })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(queued).toEqual([]);
  });
});

describe("CommandDispatcher.sendMany", () => {
  it("reports every host's outcome with a summary", async () => {
    const { ports: p } = ports({ a: "acked", b: "delivered", c: "offline", d: "rejected" });
    const res = await new CommandDispatcher(p).sendMany({ all: false, ids: ["a", "b", "c", "d"] }, report, options);
    expect(res.httpStatus).toBe(200);
    const body = res.body as { total: number; summary: Record<string, number>; results: { hostId: string; status: string }[] };
    expect(body.total).toBe(4);
    expect(body.summary).toEqual({ acked: 1, delivered: 1, offline: 1, rejected: 1 });
    expect(body.results.map((r) => r.status)).toEqual(["acked", "delivered", "offline", "rejected"]);
  });

  it("queues offline, unacknowledged and unreachable hosts when allowed; unknown hosts are not_found", async () => {
    const { ports: p, queued } = ports({ a: "acked", b: "offline", c: { status: "delivered", ackTimedOut: true }, d: "failed", ghost: "offline" }, ["a", "b", "c", "d"]);
    const res = await new CommandDispatcher(p).sendMany({ all: false, ids: ["a", "b", "c", "d", "ghost"] }, report, { ...options, ifOffline: "queue" });
    const body = res.body as { summary: Record<string, number> };
    expect(body.summary).toEqual({ acked: 1, queued: 3, not_found: 1 });
    expect(queued.map((q) => q.hostId).sort()).toEqual(["b", "c", "d"]);
  });

  it("all means every host presence knows", async () => {
    const { ports: p } = ports({ a: "acked", b: "offline" });
    const res = await new CommandDispatcher(p).sendMany({ all: true }, report, options);
    expect((res.body as { total: number }).total).toBe(2);
  });

  it("gives each host its own command id", async () => {
    const { ports: p } = ports({ a: "acked", b: "acked" });
    const res = await new CommandDispatcher(p).sendMany({ all: false, ids: ["a", "b"] }, report, options);
    const ids = (res.body as { results: { commandId: string }[] }).results.map((r) => r.commandId);
    expect(new Set(ids).size).toBe(2);
  });
});
