import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger, ServiceRuntime } from "@patchmon-ws/service-kit";
import { startEdge, type Edge, type EdgeOptions } from "../src/edge.js";
import { closed, eventually, fetchEdge, nextMessage, openWebSocket, refusedUpgrade, TestUpstream, type Seen } from "./helpers.js";

const silent = createLogger("edge", "silent");
let stateDir: string;
const edges: Edge[] = [];
const upstreams: TestUpstream[] = [];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), "edge-test-"));
});
afterAll(async () => {
  await rm(stateDir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(edges.splice(0).map((e) => e.close()));
  await Promise.all(upstreams.splice(0).map((u) => u.stop()));
});

async function upstream(name: string): Promise<TestUpstream> {
  const u = await new TestUpstream(name).start();
  upstreams.push(u);
  return u;
}

async function edge(options: Partial<EdgeOptions> & Pick<EdgeOptions, "upstreams">): Promise<Edge> {
  const e = await startEdge({ port: 0, stateDir, logger: silent, ...options });
  edges.push(e);
  return e;
}

/** One upstream per service of the route table. */
async function fullStack(options: Partial<EdgeOptions> = {}) {
  const services = {
    "agent-ws": await upstream("agent-ws"),
    "terminal-ws": await upstream("terminal-ws"),
    bullboard: await upstream("bullboard"),
    auth: await upstream("auth"),
    web: await upstream("web"),
  };
  const e = await edge({ upstreams: Object.fromEntries(Object.entries(services).map(([name, u]) => [name, [u.url]])), ...options });
  return { edge: e, services };
}

describe("routing over TLS", () => {
  it.each([
    ["/api/v1/agents/commands?x=1", "agent-ws"],
    ["/api/v1/ssh-terminal/host-1", "terminal-ws"],
    ["/bullboard/api/queues", "bullboard"],
    ["/bullboardx", "bullboard"],
    ["/api/v1/auth/login", "auth"],
    ["/api/v1/users/7", "auth"],
    ["/api/v1/hosts", "auth"],
    ["/api/v1/nothing", "auth"],
    ["/", "web"],
    ["/assets/app.js", "web"],
  ])("%s reaches %s", async (path, service) => {
    const { edge: e } = await fullStack();
    const reply = await fetchEdge(e, path);
    expect(reply.status).toBe(200);
    expect((reply.json as Seen).upstream).toBe(service);
    expect((reply.json as Seen).url).toBe(path);
  });

  it("forwards the sanitised path, the query, the method and the body", async () => {
    const { edge: e } = await fullStack();
    const reply = await fetchEdge(e, "/api/v1/users/../auth//login?next=%2Fhome", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"username":"admin"}',
    });
    const seen = reply.json as Seen;
    expect(seen).toMatchObject({ upstream: "auth", method: "POST", url: "/api/v1/auth/login?next=%2Fhome", body: '{"username":"admin"}' });
  });

  it("forwards a chunked request body intact", async () => {
    const { edge: e } = await fullStack();
    const seen = (await fetchEdge(e, "/api/v1/hosts", { method: "PUT", chunks: ["part-1,", "part-2,", "part-3"] })).json as Seen;
    expect(seen.headers["transfer-encoding"]).toBe("chunked");
    expect(seen.body).toBe("part-1,part-2,part-3");
  });

  it("sets X-Forwarded-Proto https and the other Traefik headers on a plain request", async () => {
    const { edge: e } = await fullStack();
    const seen = (await fetchEdge(e, "/api/v1/auth/login")).json as Seen;
    expect(seen.headers["x-forwarded-proto"]).toBe("https");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(seen.headers["x-forwarded-host"]).toBe(`127.0.0.1:${e.port}`);
    expect(seen.headers["x-forwarded-port"]).toBe(String(e.port));
    expect(seen.headers["x-forwarded-server"]).toBeTruthy();
    expect(seen.headers.host).toBe(`127.0.0.1:${e.port}`);
  });

  it("answers a path with a rejected encoded character 400 JSON, without reaching an upstream", async () => {
    const { edge: e, services } = await fullStack();
    const reply = await fetchEdge(e, "/api/v1/auth%2Flogin");
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: expect.stringContaining("%2F"), code: "BAD_REQUEST" });
    expect(services.auth.hits).toHaveLength(0);
  });
});

describe("WebSocket upgrades", () => {
  it("pass through to the upstream, echo, and carry X-Forwarded-Proto: wss", async () => {
    const { edge: e } = await fullStack();
    const { ws, seen } = await openWebSocket(e, "/api/v1/agents/ws");
    expect(seen.upstream).toBe("agent-ws");
    expect(seen.url).toBe("/api/v1/agents/ws");
    expect(seen.headers["x-forwarded-proto"]).toBe("wss");
    expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(seen.headers.upgrade).toBe("websocket");
    expect(seen.headers.connection).toBe("Upgrade");
    ws.send("ping-1");
    expect(await nextMessage(ws)).toBe("ping-1");
    ws.send(Buffer.alloc(100_000, 7));
    expect((await nextMessage(ws)).length).toBe(100_000);
    ws.close(1000);
    expect(await closed(ws)).toBe(1000);
  });

  it("pass the upstream's 401 JSON rejection through unchanged", async () => {
    const { edge: e } = await fullStack();
    const reply = await refusedUpgrade(e, "/api/v1/agents/ws/reject");
    expect(reply.status).toBe(401);
    expect(reply.body).toBe('{"error":"The API key is wrong.","code":"INVALID_CREDENTIALS"}');
    expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
  });

  it("refuse an upgrade that is not a WebSocket with 400 JSON", async () => {
    const { edge: e } = await fullStack();
    const reply = await fetchEdge(e, "/api/v1/agents/ws", { headers: { Connection: "Upgrade", Upgrade: "h2c" } });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: expect.stringContaining("WebSocket"), code: "BAD_REQUEST" });
  });

  it("end the client's socket when the upstream dies mid-tunnel", async () => {
    const { edge: e, services } = await fullStack();
    const { ws } = await openWebSocket(e, "/api/v1/ssh-terminal/h1");
    const code = closed(ws);
    await services["terminal-ws"].stop();
    expect(await code).toBeGreaterThanOrEqual(1000);
  });
});

describe("client-sent forwarding headers", () => {
  const spoofed = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "http",
    "X-Forwarded-Host": "evil.example",
    "X-Real-Ip": "6.6.6.6",
    X_Forwarded_Proto: "http",
    "X-Forwarded-Custom": "not managed",
  };

  it("are removed and replaced when the peer is not trusted (plain requests and upgrades)", async () => {
    const { edge: e } = await fullStack();
    for (const seen of [(await fetchEdge(e, "/api/v1/auth/me", { headers: spoofed })).json as Seen, (await openWebSocket(e, "/api/v1/agents/ws", spoofed)).seen]) {
      expect(seen.headers["x-forwarded-for"]).toBe("127.0.0.1");
      expect(seen.headers["x-real-ip"]).toBe("127.0.0.1");
      expect(seen.headers["x-forwarded-host"]).toBe(`127.0.0.1:${e.port}`);
      expect(["https", "wss"]).toContain(seen.headers["x-forwarded-proto"]);
      expect(seen.headers).not.toHaveProperty("x_forwarded_proto");
      expect(seen.headers["x-forwarded-custom"]).toBe("not managed");
    }
  });

  it("are kept, and X-Forwarded-For appended, when the peer is in trustedIps", async () => {
    const { edge: e } = await fullStack({ trustedIps: ["127.0.0.1/32", "::1"] });
    const seen = (await fetchEdge(e, "/api/v1/auth/me", { headers: spoofed })).json as Seen;
    expect(seen.headers["x-forwarded-for"]).toBe("6.6.6.6, 127.0.0.1");
    expect(seen.headers["x-real-ip"]).toBe("6.6.6.6");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
    expect(seen.headers["x-forwarded-host"]).toBe("evil.example");
    expect(seen.headers.x_forwarded_proto).toBe("http");
  });
});

describe("replicas", () => {
  it("spreads requests and upgrades round-robin across two replicas", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const e = await edge({ upstreams: { auth: [a.url, b.url], "agent-ws": [a.url, b.url] } });
    const served: string[] = [];
    for (let i = 0; i < 4; i++) served.push(((await fetchEdge(e, "/api/v1/auth/me")).json as Seen).upstream);
    expect(served).toEqual(["a", "b", "a", "b"]);
    const sockets = [await openWebSocket(e, "/api/v1/agents/ws"), await openWebSocket(e, "/api/v1/agents/ws")];
    expect(sockets.map((s) => s.seen.upstream).sort()).toEqual(["a", "b"]);
    for (const { ws } of sockets) ws.close();
  });

  it("skips a dead replica for requests and upgrades, and takes it back once it recovers", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const e = await edge({ upstreams: { auth: [a.url, b.url], "agent-ws": [a.url, b.url] }, healthCheckIntervalMs: 100 });
    await a.stop();
    for (let i = 0; i < 4; i++) {
      const reply = await fetchEdge(e, "/api/v1/auth/me", { method: "POST", body: `body-${i}` });
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ upstream: "b", body: `body-${i}` });
    }
    for (let i = 0; i < 2; i++) {
      const { ws, seen } = await openWebSocket(e, "/api/v1/agents/ws");
      expect(seen.upstream).toBe("b");
      ws.close();
    }
    await a.start();
    await eventually(async () => {
      const served = new Set<string>();
      for (let i = 0; i < 4; i++) served.add(((await fetchEdge(e, "/api/v1/auth/me")).json as Seen).upstream);
      expect([...served].sort()).toEqual(["a", "b"]);
    });
  });

  it("answers 503 JSON with Retry-After when every replica is dead, for requests and upgrades", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const e = await edge({ upstreams: { auth: [a.url, b.url], "agent-ws": [a.url] } });
    await a.stop();
    await b.stop();
    const reply = await fetchEdge(e, "/api/v1/auth/login", { method: "POST", body: "{}" });
    expect(reply.status).toBe(503);
    expect(reply.headers["retry-after"]).toBe("2");
    expect(reply.json).toEqual({ error: "No live upstream for service auth; try again later.", code: "DEPENDENCY_UNAVAILABLE" });
    const refused = await refusedUpgrade(e, "/api/v1/agents/ws");
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("2");
    expect(refused.json).toEqual({ error: "No live upstream for service agent-ws; try again later.", code: "DEPENDENCY_UNAVAILABLE" });
  });

  it("setUpstreams replaces a service's replicas at run time", async () => {
    const a = await upstream("a");
    const b = await upstream("b");
    const e = await edge({ upstreams: { auth: [a.url] } });
    expect(((await fetchEdge(e, "/api/v1/auth/me")).json as Seen).upstream).toBe("a");
    e.setUpstreams("auth", [b.url]);
    expect(((await fetchEdge(e, "/api/v1/auth/me")).json as Seen).upstream).toBe("b");
    expect(() => e.setUpstreams("nope", [b.url])).toThrow('unknown service "nope"');
  });
});

describe("not found", () => {
  it("answers 404 JSON when no route matches", async () => {
    const a = await upstream("a");
    const e = await edge({
      upstreams: { auth: [a.url] },
      routes: [{ name: "auth", rule: "PathPrefix(`/api/v1/auth`)", priority: 10, service: "auth", description: "auth" }],
    });
    for (const reply of [await fetchEdge(e, "/nothing"), await refusedUpgrade(e, "/nothing")]) {
      expect(reply.status).toBe(404);
      expect(reply.json).toEqual({ error: "Nothing is served at this path.", code: "NOT_FOUND" });
    }
    expect(a.hits).toHaveLength(0);
  });

  it("answers 404 JSON on the routes of a service that has no upstreams", async () => {
    const e = await edge({ upstreams: {} });
    const reply = await fetchEdge(e, "/bullboard");
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual({ error: "No upstream is configured for service bullboard.", code: "NOT_FOUND" });
  });

  it("answers an unknown /api/ path with the service kit's 404 JSON, never the web UI", async () => {
    const runtime = new ServiceRuntime({ name: "auth", logger: silent, host: "127.0.0.1", port: 0, trustedProxies: ["127.0.0.1/32"], shutdownTimeoutMs: 1000 });
    const port = await runtime.listen();
    try {
      const web = await upstream("web");
      const e = await edge({ upstreams: { auth: [`http://127.0.0.1:${port}`], web: [web.url] } });
      const reply = await fetchEdge(e, "/api/v1/nothing");
      expect(reply.status).toBe(404);
      expect(reply.json).toEqual({ error: "Nothing is served at this path.", code: "NOT_FOUND" });
      expect(web.hits).toHaveLength(0);
    } finally {
      await runtime.shutdown();
    }
  });
});

describe("client keep-alive", () => {
  it("keeps client connections alive across responses, and idle ones past Node's 5 s default (Traefik: 180 s)", async () => {
    const { Agent, request } = await import("node:https");
    const auth = await upstream("auth");
    const e = await edge({ upstreams: { auth: [auth.url] } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: e.certificate });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: e.port, path: "/api/v1/auth/me", agent, servername: "localhost" }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
        });
        req.on("error", reject);
        req.end();
      });
    expect(await get()).toEqual({ status: 200, reused: false });
    // The upstream connection is one-shot; its Connection: close must not close the client's connection.
    expect(await get()).toEqual({ status: 200, reused: true });
    await new Promise((r) => setTimeout(r, 6000));
    expect(await get()).toEqual({ status: 200, reused: true });
    agent.destroy();
  }, 20_000);
});
