/**
 * The agent endpoint against real servers (nats-server, redis-server, the auth service, agent-ws as a process):
 * every refusal path of the upgrade, a stock-agent client end to end, frame limits, heartbeats.
 */
import { request } from "node:http";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode } from "@patchmon-ws/protocol";
import type { RunningService } from "@patchmon-ws/stack";
import { AgentWsStack, api, eventually, wsUrl, type TestHost } from "./support/stack.js";
import { expectRefusal, StockAgent } from "./support/stock-agent.js";

/** Sends a WebSocket upgrade request with exactly these headers and returns the raw HTTP answer. */
function rawUpgrade(port: number, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/api/v1/agents/ws", headers: { Connection: "Upgrade", Upgrade: "websocket", ...headers } });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body }));
    });
    req.on("upgrade", () => reject(new Error("the server upgraded a malformed handshake")));
    req.on("error", reject);
    req.end();
  });
}

function linesOf(log: string, needle: string): string[] {
  return log.split("\n").filter((line) => line.includes(needle));
}

function countLines(log: string, needle: string): number {
  return linesOf(log, needle).filter((l) => l.includes('"level":"warn"')).length;
}

describe("agent-ws upgrade endpoint", () => {
  let stack: AgentWsStack;
  let replica: RunningService;
  let host: TestHost;
  let token: string;

  beforeAll(async () => {
    // The failure limit is auth's, shared by every replica; agent-ws answers with auth's verdict.
    stack = await AgentWsStack.start({ AGENT_AUTH_MAX_FAILURES: "3" });
    replica = await stack.startReplica({
      AGENT_MAX_PAYLOAD: "65536",
      GARBAGE_LIMIT: "3",
      PING_INTERVAL_MS: "300",
    });
    host = await stack.createHost("stock-host");
    token = await stack.token();
  });

  afterAll(async () => {
    await stack?.dispose();
  });

  const status = async (hostId: string) =>
    (await api<{ host: Record<string, unknown> }>(replica.url, "GET", `/api/v1/agents/${hostId}/status`, { token })).body.host;

  it("a stock agent (no hello, no acks) connects, is greeted, and receives commands marked delivered once written", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    try {
      await agent.waitFor((m) => m.type === "connected");
      await eventually(async () => (await status(host.id)).connected === true, 15_000, "online in presence");
      const res = await api(replica.url, "POST", `/api/v1/agents/${host.id}/commands`, {
        token,
        body: { command: { type: "settings_update", update_interval: 30 } },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ hostId: host.id, status: "delivered" });
      expect(res.body.ackTimedOut).toBeUndefined();
      const frame = await agent.waitFor((m) => m.type === "settings_update");
      expect(frame).toEqual({ type: "settings_update", update_interval: 30, id: res.body.commandId });
      const record = await status(host.id);
      expect(record).toMatchObject({ connected: true, secure: false, remoteAddress: "127.0.0.1", agentVersion: null, known: true });
    } finally {
      await agent.close();
    }
    await eventually(async () => (await status(host.id)).connected === false, 15_000, "offline in presence");
    expect((await status(host.id)).lastDisconnect).toMatchObject({ code: 1000, reason: "agent_closed" });
  });

  it("records wss when a trusted proxy says X-Forwarded-Proto: wss, and the forwarded client address", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), {
      apiId: host.apiId,
      apiKey: host.apiKey,
      headers: { "X-Forwarded-Proto": "WSS, http", "X-Forwarded-For": "203.0.113.7" },
    });
    try {
      await eventually(async () => (await status(host.id)).connected === true);
      expect(await status(host.id)).toMatchObject({ secure: true, remoteAddress: "203.0.113.7" });
    } finally {
      await agent.close();
    }
  });

  it("wrong API version → 404 UNSUPPORTED_API_VERSION", async () => {
    const refusal = await expectRefusal(wsUrl(replica, "v2"), { apiId: host.apiId, apiKey: host.apiKey });
    expect(refusal.status).toBe(404);
    expect(refusal.body.code).toBe("UNSUPPORTED_API_VERSION");
    expect(refusal.body.error).toEqual(expect.any(String));
    expect(refusal.headers["content-type"]).toMatch(/application\/json/);
  });

  it("another path → 404 NOT_FOUND", async () => {
    const refusal = await expectRefusal(`ws://127.0.0.1:${replica.port}/api/v1/ssh-terminal/x`, { apiId: host.apiId, apiKey: host.apiKey });
    expect(refusal.status).toBe(404);
    expect(refusal.body.code).toBe("NOT_FOUND");
  });

  it("missing X-API-ID / X-API-KEY → 401 CREDENTIALS_MISSING", async () => {
    for (const options of [{}, { apiId: host.apiId }, { apiKey: host.apiKey }]) {
      const refusal = await expectRefusal(wsUrl(replica), options);
      expect(refusal.status).toBe(401);
      expect(refusal.body.code).toBe("CREDENTIALS_MISSING");
    }
  });

  it("bad key → 401 INVALID_CREDENTIALS; a source that keeps failing → 429 with Retry-After; other sources unaffected", async () => {
    const source = { "X-Forwarded-For": "198.51.100.23" };
    for (let i = 0; i < 3; i++) {
      const refusal = await expectRefusal(wsUrl(replica), { apiId: host.apiId, apiKey: "wrong-key", headers: source });
      expect(refusal.status).toBe(401);
      expect(refusal.body.code).toBe("INVALID_CREDENTIALS");
    }
    const limited = await expectRefusal(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey, headers: source });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    const unknownId = await expectRefusal(wsUrl(replica), { apiId: "patchmon_nope", apiKey: "x", headers: { "X-Forwarded-For": "198.51.100.99" } });
    expect(unknownId.status).toBe(401);
    expect(unknownId.body.code).toBe("INVALID_CREDENTIALS");
    const other = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey, headers: { "X-Forwarded-For": "198.51.100.24" } });
    await other.close();
  });

  it("a frame over AGENT_MAX_PAYLOAD closes the connection with 1009", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    agent.send({ type: "docker_status", name: "x".repeat(70_000) });
    const closed = await agent.closed;
    expect(closed.code).toBe(CloseCode.MESSAGE_TOO_BIG);
    await eventually(async () => ((await status(host.id)).lastDisconnect as { reason?: string } | null)?.reason === "message_too_big", 15_000, "recorded as message_too_big");
  });

  it("a peer that keeps sending garbage is closed with 1008; the garbage is counted in /metrics", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    agent.ws.send("this is not json");
    agent.send({ type: "no_such_type" });
    agent.send({ type: "compliance_scan_progress", progress: "lots" });
    agent.ws.send(Buffer.from([0, 1, 2]));
    const closed = await agent.closed;
    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    const metrics = await eventually(async () => {
      const text = await (await fetch(`${replica.url}/metrics`)).text();
      return /agent_ws_disconnects_total\{[^}]*reason="policy_violation"[^}]*\} [1-9]/.test(text) && text;
    }, 15_000, "policy_violation disconnect counted");
    expect(metrics).toMatch(/agent_ws_invalid_frames_total\{[^}]*reason="invalid_json"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/agent_ws_invalid_frames_total\{[^}]*reason="unknown_type"[^}]*\} [1-9]/);
  });

  it("an occasional bad frame is tolerated: the connection stays and works", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    try {
      agent.ws.send("oops");
      await eventually(async () => (await status(host.id)).connected === true);
      const res = await api(replica.url, "POST", `/api/v1/agents/${host.id}/commands`, { token, body: { command: { type: "report_now" } } });
      expect(res.status).toBe(200);
      await agent.waitFor((m) => m.type === "report_now");
    } finally {
      await agent.close();
    }
  });

  it("a peer that stops answering pings is terminated after two missed heartbeats", async () => {
    const ws = new WebSocket(wsUrl(replica), { headers: { "X-API-ID": host.apiId, "X-API-KEY": host.apiKey }, autoPong: false });
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    expect(await closed).toBe(1006);
    await eventually(async () => ((await status(host.id)).lastDisconnect as { reason?: string } | null)?.reason === "heartbeat_timeout", 15_000, "recorded as heartbeat_timeout");
  });

  it("answers pings: a client that pongs stays connected across many heartbeat intervals", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    let pings = 0;
    agent.ws.on("ping", () => pings++);
    await eventually(() => pings >= 5, 15_000, "five server pings");
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
    await agent.close();
  });

  it("a handshake that passes auth but is malformed gets a JSON refusal, not ws's plain text", async () => {
    const raw = async (headers: Record<string, string>) => {
      const res = await rawUpgrade(replica.port, { "X-API-ID": host.apiId, "X-API-KEY": host.apiKey, ...headers });
      return { ...res, json: JSON.parse(res.body) as { code: string; error: string } };
    };
    const badKey = await raw({ "Sec-WebSocket-Key": "not-a-key", "Sec-WebSocket-Version": "13" });
    expect(badKey.status).toBe(400);
    expect(badKey.headers["content-type"]).toMatch(/application\/json/);
    expect(badKey.json).toMatchObject({ code: "BAD_REQUEST", error: expect.stringContaining("Sec-WebSocket-Key") });
    const badVersion = await raw({ "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "99" });
    expect(badVersion.status).toBe(426);
    expect(badVersion.headers["sec-websocket-version"]).toBe("13, 8");
    expect(badVersion.json.code).toBe("UNSUPPORTED_WEBSOCKET_VERSION");
    const noVersion = await raw({ "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==" });
    expect(noVersion.status).toBe(426);
  });

  it("a ping flood is closed with 1008 'ping flood' and recorded as ping_flood, not cut silently", async () => {
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey });
    await agent.waitFor((m) => m.type === "connected");
    await eventually(async () => (await status(host.id)).connected === true, 15_000, "online");
    for (let i = 0; i < 200; i++) agent.ws.ping();
    const closed = await agent.closed;
    expect(closed).toEqual({ code: CloseCode.POLICY_VIOLATION, reason: "ping flood" });
    await eventually(async () => ((await status(host.id)).lastDisconnect as { reason?: string } | null)?.reason === "ping_flood", 15_000, "recorded as ping_flood");
    expect((await status(host.id)).lastDisconnect).toMatchObject({ code: CloseCode.POLICY_VIOLATION, reason: "ping_flood" });
  });

  it("garbage after the 1008 is neither parsed nor logged: a burst of 5000 bad frames costs a bounded number of log lines", async () => {
    const burstHost = await stack.createHost("garbage-burst");
    const before = countLines(replica.process.log, burstHost.id);
    const agent = await StockAgent.connect(wsUrl(replica), { apiId: burstHost.apiId, apiKey: burstHost.apiKey });
    await agent.waitFor((m) => m.type === "connected");
    // Everything is written before the server's close frame can arrive, as an attacker would.
    for (let i = 0; i < 5000; i++) agent.ws.send(`garbage ${i}`);
    const closed = await agent.closed;
    expect(closed.code).toBe(CloseCode.POLICY_VIOLATION);
    await eventually(() => /agent disconnected/.test(linesOf(replica.process.log, burstHost.id).join("\n")), 15_000, "disconnect logged");
    const warnings = linesOf(replica.process.log, burstHost.id).filter((l) => l.includes('"level":"warn"')).length - before;
    // GARBAGE_LIMIT 3 → at most 4 invalid-frame warnings and the disconnect line.
    expect(warnings).toBeLessThanOrEqual(5);
  });

  it("when the auth service is down, upgrades get 503 with Retry-After, never 401", async () => {
    await stack.auth.service.stop();
    const refusal = await expectRefusal(wsUrl(replica), { apiId: host.apiId, apiKey: host.apiKey, headers: { "X-Forwarded-For": "192.0.2.50" } });
    expect(refusal.status).toBe(503);
    expect(refusal.body.code).toBe("DEPENDENCY_UNAVAILABLE");
    expect(Number(refusal.headers["retry-after"])).toBeGreaterThan(0);
  });
});
