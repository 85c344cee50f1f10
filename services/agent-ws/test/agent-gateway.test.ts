import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { CloseCode, type AgentToServerMessage, type PresenceRecord } from "@patchmon-ws/protocol";
import type { AgentConnection } from "../src/connection/agent-connection.js";
import { AgentGateway, PRESENCE_HELLO_WAIT_MS, type EventsPort, type PresencePort } from "../src/connection/agent-gateway.js";
import { connectedRecord, type ConnectionFacts, type DisconnectFacts } from "../src/presence/presence-record.js";
import { RevocationHub, WARNINGS_PER_CONNECTION, createLogger } from "@patchmon-ws/service-kit";
import { counterValue, FakeSocket, silentLogger, testMetrics } from "./fakes.js";

class RecordingPresence implements PresencePort {
  connects: ConnectionFacts[] = [];
  hellos: ConnectionFacts[] = [];
  disconnects: { facts: ConnectionFacts; disconnect: DisconnectFacts }[] = [];
  ends: { facts: ConnectionFacts; disconnect: DisconnectFacts }[] = [];
  newer: PresenceRecord | null = null;
  async connect(facts: ConnectionFacts) {
    this.connects.push(facts);
    if (this.newer) return { written: false as const, newer: this.newer };
    return { written: true as const, record: connectedRecord(facts, null, facts.since), revision: this.connects.length };
  }
  async hello(facts: ConnectionFacts) {
    this.hellos.push(facts);
  }
  async disconnect(facts: ConnectionFacts, disconnect: DisconnectFacts) {
    this.disconnects.push({ facts, disconnect });
    return { record: { ...connectedRecord(facts, null, 0), connected: false }, revision: 99 };
  }
  async ended(facts: ConnectionFacts, disconnect: DisconnectFacts) {
    this.ends.push({ facts, disconnect });
    return null;
  }
  busy() {
    return false;
  }
}

class RecordingEvents implements EventsPort {
  connectedRecords: PresenceRecord[] = [];
  disconnectedRecords: PresenceRecord[] = [];
  messages: { hostId: string; message: AgentToServerMessage }[] = [];
  connected(record: PresenceRecord) {
    this.connectedRecords.push(record);
  }
  disconnected(record: PresenceRecord) {
    this.disconnectedRecords.push(record);
  }
  agentMessage(connection: AgentConnection, message: AgentToServerMessage) {
    this.messages.push({ hostId: connection.hostId, message });
  }
}

function setup(over: { helloGraceMs?: number; garbageLimit?: number } = {}) {
  const presence = new RecordingPresence();
  const events = new RecordingEvents();
  const online: string[] = [];
  const metrics = testMetrics();
  const revocations = new RevocationHub(silentLogger);
  const gateway = new AgentGateway({
    replicaId: "r1",
    garbageLimit: over.garbageLimit ?? 3,
    garbageWindowMs: 60_000,
    helloGraceMs: over.helloGraceMs ?? 0,
    logger: silentLogger,
    metrics,
    presence,
    events,
    revocations,
    onAgentOnline: (h) => online.push(h),
  });
  const accept = (hostId = "h1", socket = new FakeSocket()) => ({ socket, connection: gateway.accept(socket, { id: hostId, apiId: `api-${hostId}` }, { secure: true, remoteAddress: "10.1.1.1" }) });
  return { gateway, presence, events, online, metrics, accept, revocations };
}

/** Past the check phase (the first presence writes of connections whose hello came go out there together): setImmediate is not faked. */
const flush = () => new Promise((r) => setImmediate(() => setImmediate(r)));
/** Past the wait for a hello before the first presence write (checked on a 20 ms tick; the clock is fake). */
const afterHelloWait = () => vi.advanceTimersByTimeAsync(PRESENCE_HELLO_WAIT_MS + 50);
const frame = (m: object) => Buffer.from(JSON.stringify(m));

describe("AgentGateway", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] }));
  afterEach(() => vi.useRealTimers());

  it("accepts: greets, records presence, announces, then promotes queued commands (routable once recorded)", async () => {
    const { gateway, presence, events, online, accept } = setup();
    const { socket, connection } = accept();
    await flush();
    expect(JSON.parse(socket.sent[0]!)).toEqual({ type: "connected" });
    expect(presence.connects).toEqual([]); // presence waits briefly for a hello
    // Presence is the routing table: queued commands wait until the connection is recorded there.
    expect(online).toEqual([]);
    await afterHelloWait();
    expect(presence.connects[0]).toMatchObject({ hostId: "h1", apiId: "api-h1", secure: true, remoteAddress: "10.1.1.1", replica: "r1", connectionId: connection.connectionId });
    expect(events.connectedRecords).toHaveLength(1);
    expect(online).toEqual(["h1"]);
    expect(gateway.size).toBe(1);
  });

  it("a second connection of a host replaces the first (REPLACED), and the old close changes nothing", async () => {
    const { gateway, presence, accept } = setup();
    const first = accept("h1");
    await afterHelloWait();
    const second = accept("h1");
    expect(first.socket.closed?.code).toBe(CloseCode.REPLACED);
    expect(first.connection.endReason).toBe("replaced");
    gateway.closed(first.connection, CloseCode.REPLACED);
    await flush();
    expect(gateway.get("h1")).toBe(second.connection);
    // the replaced connection's disconnect is still offered to presence (which refuses it by compare-and-set)
    expect(presence.disconnects[0]?.disconnect.reason).toBe("replaced");
  });

  it("closes its own connection when presence shows a newer one elsewhere", async () => {
    const { presence, accept } = setup();
    presence.newer = connectedRecord({ hostId: "h1", apiId: "a", connectionId: "zzz", replica: "r2", since: Date.now() + 1000, secure: true, remoteAddress: "x", agentVersion: null, capabilities: [] }, null, 0);
    const { socket } = accept("h1");
    await afterHelloWait();
    expect(socket.closed?.code).toBe(CloseCode.REPLACED);
  });

  it("closes an older local connection when another replica records a newer one", () => {
    const { gateway, accept } = setup();
    const { socket, connection } = accept("h1");
    const older = connectedRecord({ ...connection.facts(), connectionId: "other", replica: "r2", since: connection.since - 1000 }, null, 0);
    gateway.remoteConnected(older);
    expect(socket.closed).toBeNull();
    const newer = connectedRecord({ ...connection.facts(), connectionId: "other", replica: "r2", since: connection.since + 1000 }, null, 0);
    gateway.remoteConnected(newer);
    expect(socket.closed?.code).toBe(CloseCode.REPLACED);
  });

  it("publishes valid agent messages; a prompt hello rides along with the first presence write", async () => {
    const { gateway, events, presence, accept } = setup();
    const { connection } = accept();
    gateway.frame(connection, frame({ type: "docker_status", container_id: "c1", status: "running" }), false);
    gateway.frame(connection, frame({ type: "hello", agent_version: "2.0", capabilities: ["ack", "dedupe", "ack"] }), false);
    await flush();
    expect(events.messages).toEqual([{ hostId: "h1", message: { type: "docker_status", container_id: "c1", status: "running" } }]);
    expect(connection.agentVersion).toBe("2.0");
    expect(connection.acksCommands).toBe(true);
    expect(presence.connects).toHaveLength(1);
    expect(presence.connects[0]).toMatchObject({ agentVersion: "2.0", capabilities: ["ack", "dedupe"] });
    expect(presence.hellos).toHaveLength(0);
  });

  it("first presence writes of agents whose hellos came in one turn go out together, in the next check phase", async () => {
    const { gateway, presence, accept } = setup();
    const connections = ["h1", "h2", "h3"].map((hostId) => accept(hostId).connection);
    for (const connection of connections) gateway.frame(connection, frame({ type: "hello", agent_version: "2.0", capabilities: ["ack"] }), false);
    expect(presence.connects).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(presence.connects.map((c) => c.hostId)).toEqual(["h1", "h2", "h3"]);
  });

  it("records agents that never say hello when each one's wait ends, with one timer for all of them", () => {
    vi.useFakeTimers();
    const { presence, accept } = setup();
    accept("h1");
    vi.advanceTimersByTime(100);
    accept("h2");
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(PRESENCE_HELLO_WAIT_MS - 100);
    expect(presence.connects.map((c) => c.hostId)).toEqual(["h1"]);
    vi.advanceTimersByTime(100);
    expect(presence.connects.map((c) => c.hostId)).toEqual(["h1", "h2"]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("connections with the same hello share one copy of its version and capabilities", () => {
    const { gateway, accept } = setup();
    const [a, b] = ["h1", "h2"].map((hostId) => accept(hostId).connection);
    gateway.frame(a!, frame({ type: "hello", agent_version: "2.1", capabilities: ["ack", "dedupe"] }), false);
    gateway.frame(b!, frame({ type: "hello", agent_version: "2.1", capabilities: ["ack", "dedupe", "ack"] }), false);
    expect(a!.capabilities).toEqual(["ack", "dedupe"]);
    expect(b!.capabilities).toBe(a!.capabilities);
    expect(b!.agentVersion).toBe("2.1");
  });

  it("a late hello gets its own presence write", async () => {
    const { gateway, presence, accept } = setup();
    const { connection } = accept();
    await afterHelloWait();
    expect(presence.connects[0]?.agentVersion).toBeNull();
    gateway.frame(connection, frame({ type: "hello", agent_version: "3.0", capabilities: [] }), false);
    await flush();
    expect(presence.hellos).toHaveLength(1);
    expect(presence.hellos[0]?.agentVersion).toBe("3.0");
  });

  it("a connection gone before its first presence write is never shown online, only its last disconnect recorded", async () => {
    const { gateway, presence, events, accept } = setup();
    const { connection } = accept();
    gateway.closed(connection, 1006);
    await afterHelloWait();
    expect(presence.connects).toEqual([]);
    expect(presence.disconnects).toEqual([]);
    expect(presence.ends[0]?.disconnect).toEqual({ code: 1006, reason: "connection_lost", replica: "r1" });
    expect(events.connectedRecords).toEqual([]);
    expect(events.disconnectedRecords).toEqual([]);
  });

  it("a connection replaced before its first presence write never writes one", async () => {
    const { presence, accept } = setup();
    const first = accept("h1");
    const second = accept("h1");
    await afterHelloWait();
    expect(presence.connects.map((c) => c.connectionId)).toEqual([second.connection.connectionId]);
    expect(first.socket.closed?.code).toBe(CloseCode.REPLACED);
  });

  it("counts garbage and closes a peer that keeps sending it with 1008", async () => {
    const { gateway, metrics, accept } = setup({ garbageLimit: 3 });
    const { socket, connection } = accept();
    for (let i = 0; i < 3; i++) gateway.frame(connection, Buffer.from("nope"), false);
    expect(socket.closed).toBeNull();
    gateway.frame(connection, frame({ type: "unknown_thing" }), false);
    expect(socket.closed?.code).toBe(CloseCode.POLICY_VIOLATION);
    expect(connection.endReason).toBe("policy_violation");
    expect(await counterValue(metrics, "invalidFrames", { reason: "invalid_json" })).toBe(3);
    expect(await counterValue(metrics, "invalidFrames", { reason: "unknown_type" })).toBe(1);
  });

  it("records the reason of a close: oversized frames are message_too_big", async () => {
    const { gateway, presence, accept } = setup();
    const { connection } = accept();
    gateway.error(connection, Object.assign(new RangeError("Max payload size exceeded"), { code: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" }));
    gateway.closed(connection, CloseCode.MESSAGE_TOO_BIG);
    await flush();
    // ended before its first presence write: recorded as a last disconnect only
    expect(presence.ends[0]?.disconnect).toEqual({ code: 1009, reason: "message_too_big", replica: "r1" });
  });

  it("a peer closing on its own is agent_closed; the host is released and the disconnect announced", async () => {
    const { gateway, presence, events, accept } = setup();
    const { connection } = accept();
    await afterHelloWait();
    gateway.closed(connection, 1000);
    await flush();
    expect(gateway.get("h1")).toBeUndefined();
    expect(presence.disconnects[0]?.disconnect.reason).toBe("agent_closed");
    expect(events.disconnectedRecords).toHaveLength(1);
    expect(gateway.size).toBe(0);
  });

  it("heartbeat: pings, and terminates a peer silent for two intervals; any frame is life", () => {
    const { gateway, accept } = setup();
    const quiet = accept("quiet");
    const chatty = accept("chatty");
    gateway.tickHeartbeats();
    expect(quiet.socket.pings).toBe(1);
    gateway.frame(chatty.connection, frame({ type: "docker_status" }), false);
    gateway.tickHeartbeats();
    chatty.connection.life();
    gateway.tickHeartbeats();
    expect(quiet.socket.terminated).toBe(true);
    expect(quiet.connection.endReason).toBe("heartbeat_timeout");
    expect(chatty.socket.terminated).toBe(false);
  });

  it("delivers to a stock agent: delivered once written, with the command id", async () => {
    const { gateway, accept } = setup();
    const { socket } = accept();
    const result = await gateway.deliver("h1", "cmd-1", { type: "report_now" }, { awaitAck: true, ackTimeoutMs: 1000 });
    expect(result).toMatchObject({ hostId: "h1", commandId: "cmd-1", status: "delivered", replica: "r1" });
    expect(result.ackTimedOut).toBeUndefined();
    expect(socket.commands()).toEqual([{ type: "report_now", id: "cmd-1" }]);
  });

  it("delivers to an acking agent: waits for the ack, carries a refusal, times out", async () => {
    const { gateway, accept } = setup();
    const { connection, socket } = accept();
    gateway.frame(connection, frame({ type: "hello", agent_version: "1", capabilities: ["ack"] }), false);
    const pending = gateway.deliver("h1", "c1", { type: "report_now" }, { awaitAck: true, ackTimeoutMs: 5000 });
    await flush();
    expect(socket.commands()[0]).toEqual({ type: "report_now", id: "c1" });
    gateway.frame(connection, frame({ type: "ack", id: "c1", ok: true }), false);
    expect((await pending).status).toBe("acked");

    const refused = gateway.deliver("h1", "c2", { type: "update_agent" }, { awaitAck: true, ackTimeoutMs: 5000 });
    await flush();
    gateway.frame(connection, frame({ type: "ack", id: "c2", ok: false, error: "disabled" }), false);
    expect(await refused).toMatchObject({ status: "rejected", error: "disabled" });

    const silent = gateway.deliver("h1", "c3", { type: "report_now" }, { awaitAck: true, ackTimeoutMs: 20 });
    let settled = false;
    void silent.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(19);
    expect(socket.commands().at(-1)).toEqual({ type: "report_now", id: "c3" });
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await silent).toMatchObject({ status: "delivered", ackTimedOut: true });
  });

  it("waits for a young connection's hello before deciding whether to await an ack", async () => {
    const { gateway, accept } = setup({ helloGraceMs: 2000 });
    const { connection } = accept();
    const pending = gateway.deliver("h1", "c1", { type: "report_now" }, { awaitAck: true, ackTimeoutMs: 5000 });
    await flush();
    gateway.frame(connection, frame({ type: "hello", agent_version: "1", capabilities: ["ack"] }), false);
    await flush();
    gateway.frame(connection, frame({ type: "ack", id: "c1" }), false);
    expect((await pending).status).toBe("acked");
  });

  it("answers not_held for hosts it does not hold or whose socket is gone", async () => {
    const { gateway, accept } = setup();
    expect((await gateway.deliver("nobody", "c", { type: "report_now" }, { awaitAck: false, ackTimeoutMs: 1 })).status).toBe("not_held");
    const { socket } = accept();
    socket.failWrites = true;
    expect((await gateway.deliver("h1", "c", { type: "report_now" }, { awaitAck: false, ackTimeoutMs: 1 })).status).toBe("not_held");
  });

  it("refuses commands over 64 KiB before writing anything", async () => {
    const { gateway, accept } = setup();
    const { socket } = accept();
    await expect(gateway.deliver("h1", "c", { type: "ssh_proxy_input", session_id: "s", data: "x".repeat(70_000) }, { awaitAck: false, ackTimeoutMs: 1 })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(socket.commands()).toEqual([]);
  });

  it("an ack pending when the socket closes resolves at once (unconfirmed)", async () => {
    const { gateway, accept } = setup();
    const { connection } = accept();
    gateway.frame(connection, frame({ type: "hello", agent_version: "1", capabilities: ["ack"] }), false);
    const pending = gateway.deliver("h1", "c1", { type: "report_now" }, { awaitAck: true, ackTimeoutMs: 60_000 });
    await flush();
    gateway.closed(connection, 1006);
    expect(await pending).toMatchObject({ status: "delivered", ackTimedOut: true });
  });

  it("drain closes every agent with 1012 and terminates the ones that do not go", async () => {
    const { gateway, accept } = setup();
    const a = accept("a");
    const b = accept("b");
    const draining = gateway.drain(50);
    gateway.closed(a.connection, CloseCode.SERVICE_RESTART);
    await vi.advanceTimersByTimeAsync(40);
    expect(b.socket.terminated).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    await draining;
    expect(a.socket.closed?.code).toBe(CloseCode.SERVICE_RESTART);
    expect(b.socket.closed?.code).toBe(CloseCode.SERVICE_RESTART);
    expect(b.socket.terminated).toBe(true);
    expect(a.connection.endReason).toBe("service_restart");
  });

  it("reconcile re-records live connections whose record is missing or stale", async () => {
    const { gateway, presence, accept } = setup();
    const { connection } = accept("h1");
    await afterHelloWait();
    expect(presence.connects).toHaveLength(1);
    expect(gateway.reconcile(() => connectedRecord(connection.facts(), null, 0))).toBe(0);
    expect(gateway.reconcile(() => null)).toBe(1);
    await flush();
    await flush();
    expect(presence.connects).toHaveLength(2);
  });

  it("reconcile leaves a connection still in its hello wait alone (it records itself once)", async () => {
    const { gateway, presence, accept } = setup();
    accept("h1");
    expect(gateway.reconcile(() => null)).toBe(0);
    await afterHelloWait();
    await flush();
    expect(presence.connects).toHaveLength(1);
  });

  it("a revocation event closes the host's agent at once: 4001 for a rotated key, 4005 for a deleted host", () => {
    const { gateway, accept, revocations } = setup();
    const rotated = accept("h1");
    const deleted = accept("h2");
    expect(revocations.apply({ kind: "host", id: "h1", reason: "key_rotated", at: 1 })).toBe(1);
    expect(rotated.socket.closed).toEqual({ code: CloseCode.CREDENTIALS_REVOKED, reason: "API key rotated or revoked" });
    expect(rotated.connection.endReason).toBe("credentials_revoked");
    expect(revocations.apply({ kind: "host", id: "h2", reason: "host_deleted", at: 1 })).toBe(1);
    expect(deleted.socket.closed).toEqual({ code: CloseCode.HOST_DELETED, reason: "host deleted" });
    expect(deleted.connection.endReason).toBe("host_deleted");
    gateway.closed(rotated.connection, CloseCode.CREDENTIALS_REVOKED);
    gateway.closed(deleted.connection, CloseCode.HOST_DELETED);
    expect(revocations.tracked.hosts).toBe(0);
  });

  it("a closing connection is closing: later frames are neither parsed, routed nor logged", () => {
    const lines: string[] = [];
    const logger = createLogger("test", "warn");
    const spy = vi.spyOn(logger, "warn").mockImplementation(((obj: unknown) => void lines.push(JSON.stringify(obj))) as never);
    const presence = new RecordingPresence();
    const events = new RecordingEvents();
    const gateway = new AgentGateway({
      replicaId: "r1",
      garbageLimit: 2,
      garbageWindowMs: 60_000,
      helloGraceMs: 0,
      logger,
      metrics: testMetrics(),
      presence,
      events,
      revocations: new RevocationHub(silentLogger),
    });
    const socket = new FakeSocket();
    const connection = gateway.accept(socket, { id: "h1", apiId: "a1" }, { secure: true, remoteAddress: "10.0.0.1" });
    for (let i = 0; i < 3; i++) gateway.frame(connection, "garbage", false);
    expect(socket.closed?.code).toBe(CloseCode.POLICY_VIOLATION);
    const logged = lines.length;
    for (let i = 0; i < 1000; i++) gateway.frame(connection, i % 2 ? "garbage" : frame({ type: "docker_status" }), false);
    expect(lines.length).toBe(logged);
    expect(events.messages).toHaveLength(0);
    expect(logged).toBeLessThanOrEqual(WARNINGS_PER_CONNECTION);
    spy.mockRestore();
  });

  it("answers pings itself, and closes a ping flood with 1008 and the reason ping_flood", async () => {
    const { gateway, accept, presence } = setup();
    const { socket, connection } = accept("h1");
    for (let i = 0; i < 20; i++) expect(connection.pinged(undefined)).toBe(true);
    expect(socket.pongs).toBe(20);
    expect(connection.pinged(undefined)).toBe(false);
    expect(socket.closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: "ping flood" });
    expect(socket.pongs).toBe(20);
    gateway.closed(connection, CloseCode.POLICY_VIOLATION);
    await flush();
    expect(presence.ends.concat(presence.disconnects)[0]?.disconnect.reason).toBe("ping_flood");
  });

  it("records a connection that ended without a close frame as connection_lost (1006)", async () => {
    const { gateway, accept, presence } = setup();
    const { connection } = accept("h1");
    gateway.closed(connection, 1006);
    await flush();
    expect(presence.ends.concat(presence.disconnects)[0]?.disconnect).toMatchObject({ code: 1006, reason: "connection_lost" });
  });
});
