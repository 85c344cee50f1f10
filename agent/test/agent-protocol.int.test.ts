import type { ServerToAgentMessage } from "@patchmon-ws/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SSH_PROXY_DISABLED } from "../src/reference-agent.js";
import { AGENT_PACKAGE_VERSION } from "../src/version.js";
import { AgentPool, captureLogger } from "./support/agents.js";
import { TestPeer } from "./support/peer.js";
import { nextEvent, waitFor } from "./support/wait.js";

let peer: TestPeer;
const pool = new AgentPool();

beforeEach(async () => {
  peer = await TestPeer.start();
});
afterEach(async () => {
  await pool.stopAll();
  await peer.close();
});

/** Every command of the catalogue (ServerToAgentSchemas minus the greeting and ssh_proxy*), with valid fields. */
const COMMANDS: Record<string, Record<string, unknown>> = {
  settings_update: { update_interval: 15 },
  report_now: {},
  update_agent: {},
  refresh_integration_status: {},
  docker_inventory_refresh: {},
  update_notification: { version: "1.4.3", force: true, message: "please update" },
  integration_toggle: { integration: "docker", enabled: false },
  set_compliance_mode: { mode: "enabled" },
  set_compliance_on_demand_only: { on_demand_only: false },
  compliance_scan: { profile_type: "all", profile_id: null, enable_remediation: false },
  compliance_scan_cancel: {},
  upgrade_ssg: {},
  install_scanner: {},
  remediate_rule: { rule_id: "xccdf_org.ssgproject.content_rule_1" },
  docker_image_scan: { image_name: "nginx:1.27", container_name: "web" },
};

describe("reference agent wire protocol", () => {
  it("sends X-API-ID / X-API-KEY on the upgrade to /api/v1/agents/ws, no Origin, no compression", async () => {
    const agent = pool.create({ server: `${peer.serverUrl()}/`, apiId: "patchmon_1a2b3c4d", apiKey: "s3cret-key" });
    agent.start();
    const connection = await peer.connection(0);
    expect(connection.path).toBe("/api/v1/agents/ws");
    expect(connection.headers["x-api-id"]).toBe("patchmon_1a2b3c4d");
    expect(connection.headers["x-api-key"]).toBe("s3cret-key");
    expect(connection.headers.origin).toBeUndefined();
    expect(connection.headers["sec-websocket-extensions"]).toBeUndefined();
    expect(connection.headers["user-agent"]).toBe(`patchmon-ws-reference-agent/${AGENT_PACKAGE_VERSION}`);
  });

  it("uses the configured API version in the path", async () => {
    pool.create({ server: peer.serverUrl(), apiVersion: "v2" }).start();
    expect((await peer.connection(0)).path).toBe("/api/v2/agents/ws");
  });

  it("says hello right after connecting, then emits connected", async () => {
    const agent = pool.create({ server: peer.serverUrl(), agentVersion: "9.9.9-test" });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    expect(agent.connected).toBe(true);
    const connection = await peer.connection(0);
    const hello = await waitFor(() => connection.messages[0], "hello");
    expect(hello).toEqual({ type: "hello", agent_version: "9.9.9-test", capabilities: ["ack", "dedupe"] });
  });

  it("handles every command of the catalogue: command event, ack with the id", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    const seen: ServerToAgentMessage[] = [];
    agent.on("command", (message) => seen.push(message));
    agent.start();
    const connection = await peer.connection(0);
    connection.send({ type: "connected" });
    let n = 0;
    for (const [type, fields] of Object.entries(COMMANDS)) {
      const id = `cmd-${(n += 1)}`;
      connection.send({ type, id, ...fields });
      const ack = await connection.nextMessage((m) => m.type === "ack" && m.id === id, `ack of ${type}`);
      expect(ack, type).toEqual({ type: "ack", id, ok: true });
    }
    expect(seen.map((m) => m.type)).toEqual(Object.keys(COMMANDS));
    expect(seen[0]).toMatchObject({ type: "settings_update", update_interval: 15, id: "cmd-1" });
  });

  it("report_now emits a report event (with the id when there is one)", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    agent.start();
    const connection = await peer.connection(0);
    const withId = nextEvent(agent, "report");
    connection.send({ type: "report_now", id: "r-1" });
    expect(await withId).toEqual([{ id: "r-1" }]);
    const withoutId = nextEvent(agent, "report");
    connection.send({ type: "report_now" });
    expect(await withoutId).toEqual([{}]);
  });

  it("settings_update changes the report interval", async () => {
    const agent = pool.create({ server: peer.serverUrl(), updateIntervalMinutes: 60 });
    agent.start();
    const connection = await peer.connection(0);
    expect(agent.updateIntervalMinutes).toBe(60);
    const settings = nextEvent(agent, "settings");
    connection.send({ type: "settings_update", update_interval: 5, id: "s-1" });
    expect(await settings).toEqual([{ updateIntervalMinutes: 5 }]);
    expect(agent.updateIntervalMinutes).toBe(5);
  });

  it("dedupes command ids, also across reconnects: acked again, executed once", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    const reports: unknown[] = [];
    const duplicates: unknown[] = [];
    agent.on("report", (r) => reports.push(r));
    agent.on("duplicate", (m) => duplicates.push(m));
    agent.start();
    const first = await peer.connection(0);
    first.send({ type: "report_now", id: "dup-1" });
    await first.nextMessage((m) => m.type === "ack" && m.id === "dup-1", "first ack");
    first.send({ type: "report_now", id: "dup-1" });
    await first.nextMessage((m) => m.type === "ack" && m.id === "dup-1", "second ack");
    expect(first.messages.filter((m) => m.type === "ack")).toEqual([
      { type: "ack", id: "dup-1", ok: true },
      { type: "ack", id: "dup-1", ok: true },
    ]);

    // The server restarts and redelivers: still not executed again.
    first.ws.close(1012, "restart");
    const second = await peer.connection(1);
    await second.nextMessage((m) => m.type === "hello", "hello after reconnect");
    second.send({ type: "report_now", id: "dup-1" });
    expect(await second.nextMessage((m) => m.type === "ack", "ack after reconnect")).toEqual({ type: "ack", id: "dup-1", ok: true });
    expect(reports).toEqual([{ id: "dup-1" }]);
    expect(duplicates).toHaveLength(2);
  });

  it("refuses ssh_proxy with ssh_proxy_error and a failed ack while SSH proxying is disabled (the default)", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    agent.start();
    const connection = await peer.connection(0);
    connection.send({ type: "ssh_proxy", id: "p1", session_id: "sess_1", host: "127.0.0.1", port: 22, username: "root", password: "pw" });
    const error = await connection.nextMessage((m) => m.type === "ssh_proxy_error", "ssh_proxy_error");
    expect(error).toEqual({ type: "ssh_proxy_error", session_id: "sess_1", message: SSH_PROXY_DISABLED, data: SSH_PROXY_DISABLED });
    expect(SSH_PROXY_DISABLED).toContain("ssh-proxy-enabled");
    expect(await connection.nextMessage((m) => m.type === "ack" && m.id === "p1", "ack of ssh_proxy")).toEqual({ type: "ack", id: "p1", ok: false, error: SSH_PROXY_DISABLED });

    // An ssh_proxy that fails the schema still gets its answer (the server is waiting on the session).
    connection.send({ type: "ssh_proxy", id: "p0", session_id: "sess_0", host: "127.0.0.1", port: 0, username: "root", password: "pw" });
    expect(await connection.nextMessage((m) => m.type === "ssh_proxy_error", "ssh_proxy_error of an invalid ssh_proxy")).toMatchObject({ session_id: "sess_0", message: SSH_PROXY_DISABLED });
    expect(await connection.nextMessage((m) => m.type === "ack" && m.id === "p0", "ack")).toMatchObject({ ok: false, error: expect.stringMatching(/^invalid ssh_proxy: port/) });

    // No such session: input, resize and disconnect are ignored (acked, nothing else).
    const others = [
      { type: "ssh_proxy_input", id: "p2", session_id: "sess_1", data: "ls\n" },
      { type: "ssh_proxy_resize", id: "p3", session_id: "sess_1", cols: 100, rows: 30 },
      { type: "ssh_proxy_disconnect", id: "p4", session_id: "sess_1" },
    ];
    for (const message of others) {
      connection.send(message);
      expect(await connection.nextMessage((m) => m.type === "ack" && m.id === message.id, `ack of ${message.type}`)).toEqual({ type: "ack", id: message.id, ok: true });
    }
    expect(connection.messages.filter((m) => String(m.type).startsWith("ssh_proxy_"))).toHaveLength(2);
  });

  it("survives garbage: invalid JSON, binary, unknown and invalid types are logged, never fatal", async () => {
    const logger = captureLogger();
    const agent = pool.create({ server: peer.serverUrl(), logger });
    const commands: unknown[] = [];
    agent.on("command", (m) => commands.push(m));
    agent.start();
    const connection = await peer.connection(0);
    connection.send("{not json");
    connection.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    connection.send({ type: "reboot_everything", id: "u-1" });
    connection.send({ type: "settings_update", update_interval: "often", id: "i-1" });
    connection.send({ type: "remediate_rule", rule_id: "rm -rf /" });
    connection.send([1, 2]);
    expect(await connection.nextMessage((m) => m.id === "u-1", "unknown-type ack")).toEqual({
      type: "ack",
      id: "u-1",
      ok: false,
      error: 'unsupported message type "reboot_everything"',
    });
    expect(await connection.nextMessage((m) => m.id === "i-1", "invalid ack")).toMatchObject({ type: "ack", id: "i-1", ok: false });
    connection.send({ type: "report_now", id: "ok-1" });
    expect(await connection.nextMessage((m) => m.id === "ok-1", "ack after garbage")).toEqual({ type: "ack", id: "ok-1", ok: true });
    expect(commands).toHaveLength(1);
    expect(agent.connected).toBe(true);
    expect(connection.closed).toBeUndefined();
    const warnings = logger.entries.filter((e) => e.level === "warn").map((e) => e.msg);
    expect(warnings).toEqual(
      expect.arrayContaining([
        "ignored a frame that is not JSON",
        "ignored a binary frame (the protocol is JSON text)",
        "ignored a message of unknown type",
        "ignored an invalid message",
        "ignored a malformed frame",
      ]),
    );
  });

  it("works with a stock server that sends no ids: executes, sends no acks", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    const reports: unknown[] = [];
    agent.on("report", (r) => reports.push(r));
    agent.start();
    const connection = await peer.connection(0);
    connection.send({ type: "connected" });
    connection.send({ type: "report_now" });
    connection.send({ type: "report_now" });
    await waitFor(() => reports.length === 2, "two reports");
    // A marker command proves the frames before it were processed without any ack.
    connection.send({ type: "update_agent", id: "marker" });
    await connection.nextMessage((m) => m.id === "marker", "marker ack");
    expect(connection.messages.filter((m) => m.type === "ack")).toEqual([{ type: "ack", id: "marker", ok: true }]);
  });

  it("a command listener that throws makes the ack ok:false instead of crashing", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    agent.on("command", (m) => {
      if (m.type === "update_agent") throw new Error("update failed: disk full");
    });
    agent.start();
    const connection = await peer.connection(0);
    connection.send({ type: "update_agent", id: "u-9" });
    expect(await connection.nextMessage((m) => m.id === "u-9", "ack")).toEqual({ type: "ack", id: "u-9", ok: false, error: "update failed: disk full" });
    expect(agent.connected).toBe(true);
  });

  it("send() validates agent→server messages and delivers them", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    expect(() => agent.send({ type: "docker_status", status: "running" })).toThrow(/not connected/);
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    const connection = await peer.connection(0);
    agent.send({ type: "docker_status", container_id: "abc", name: "web", status: "running", timestamp: "2026-01-01T00:00:00Z" });
    agent.send({ type: "compliance_scan_progress", phase: "started", progress: 0 });
    expect(await connection.nextMessage((m) => m.type === "docker_status", "docker_status")).toMatchObject({ container_id: "abc", status: "running" });
    expect(await connection.nextMessage((m) => m.type === "compliance_scan_progress", "progress")).toMatchObject({ phase: "started" });
    expect(() => agent.send({ type: "compliance_scan_progress", phase: "started", progress: 150 } as never)).toThrow(TypeError);
    expect(() => agent.send({ type: "teleport" } as never)).toThrow(/invalid teleport/);
  });

  it("stop() closes with 1000 and does not reconnect", async () => {
    const agent = pool.create({ server: peer.serverUrl() });
    const connected = nextEvent(agent, "connected");
    agent.start();
    await connected;
    const connection = await peer.connection(0);
    const disconnected = nextEvent(agent, "disconnected");
    await agent.stop();
    expect(await connection.waitClosed()).toEqual({ code: 1000, reason: "agent stopping" });
    expect((await disconnected)[0]).toMatchObject({ code: 1000 });
    expect(agent.connected).toBe(false);
    // A marker agent connecting afterwards proves time passed without the stopped agent coming back.
    const marker = pool.create({ server: peer.serverUrl(), apiId: "marker" });
    marker.start();
    await waitFor(() => peer.connections.find((c) => c.headers["x-api-id"] === "marker"), "marker connection");
    expect(peer.upgradeRequests.filter((r) => r.headers["x-api-id"] === "host_test_1")).toHaveLength(1);
  });

  it("refuses invalid options with the option named", async () => {
    expect(() => pool.create({ server: "ftp://x" })).toThrow(/^server: unsupported scheme/);
    expect(() => pool.create({ server: peer.serverUrl(), apiId: "bad.id" })).toThrow(/^apiId:/);
    expect(() => pool.create({ server: peer.serverUrl(), apiKey: "has space" })).toThrow(/^apiKey:/);
    expect(() => pool.create({ server: peer.serverUrl(), pingIntervalMs: 1000, readDeadlineMs: 1000 })).toThrow(/^readDeadlineMs: must exceed/);
    expect(() => pool.create({ server: peer.serverUrl(), backoff: { initialMs: 0 } })).toThrow(/^backoff.initialMs/);
  });
});
