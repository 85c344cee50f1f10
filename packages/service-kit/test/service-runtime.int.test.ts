import { afterEach, describe, expect, it } from "vitest";
import { connect as netConnect } from "node:net";
import { CodedError } from "@patchmon-ws/protocol";
import { createLogger, HTTP_KEEP_ALIVE_TIMEOUT_MS, ServiceRuntime } from "@patchmon-ws/service-kit";

const runtimes: ServiceRuntime[] = [];
afterEach(async () => {
  for (const r of runtimes.splice(0)) await r.shutdown();
});

async function start(configure: (runtime: ServiceRuntime) => void = () => undefined) {
  const runtime = new ServiceRuntime({
    name: "test",
    logger: createLogger("test", "silent"),
    host: "127.0.0.1",
    port: 0,
    trustedProxies: ["127.0.0.1/32"],
    shutdownTimeoutMs: 2000,
  });
  configure(runtime);
  runtimes.push(runtime);
  const port = await runtime.listen();
  return { runtime, base: `http://127.0.0.1:${port}`, port };
}

/** Sends a raw upgrade request and returns the raw HTTP answer. */
function upgrade(port: number, path = "/ws"): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, "127.0.0.1", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    let data = "";
    socket.on("data", (c) => (data += c.toString()));
    socket.on("end", () => resolve(data));
    socket.on("error", reject);
  });
}

describe("ServiceRuntime", () => {
  it("serves /healthz, /readyz with named checks, and Prometheus /metrics", async () => {
    let natsUp = true;
    const { base } = await start((r) => r.addReadinessCheck("nats", () => natsUp));
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: "ok", service: "test" });
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ status: "ready", checks: { nats: true } });
    natsUp = false;
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ status: "not ready", checks: { nats: false } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain("http_requests_total");
    expect(metrics).toContain('service="test"');
  });

  it("keeps idle connections open longer than the proxy keeps its own (Traefik: 90 s), so the proxy closes first", async () => {
    const { base } = await start();
    const res = await fetch(`${base}/healthz`);
    expect(res.headers.get("keep-alive")).toBe(`timeout=${HTTP_KEEP_ALIVE_TIMEOUT_MS / 1000}`);
    expect(HTTP_KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(90_000);
  });

  it("answers unknown paths and thrown errors with coded JSON, never leaking internal messages", async () => {
    const { base } = await start((r) => {
      r.app.get("/coded", () => {
        throw new CodedError("FORBIDDEN", "no");
      });
      r.app.get("/boom", () => {
        throw new Error("secret internals");
      });
      r.app.post("/echo", (req, res) => {
        res.json(req.body);
      });
    });
    expect(await (await fetch(`${base}/nothing`)).json()).toEqual({ error: "Nothing is served at this path.", code: "NOT_FOUND" });
    const coded = await fetch(`${base}/coded`);
    expect([coded.status, await coded.json()]).toEqual([403, { error: "no", code: "FORBIDDEN" }]);
    const boom = await fetch(`${base}/boom`);
    expect([boom.status, await boom.json()]).toEqual([500, { error: "Internal error.", code: "INTERNAL" }]);
    const big = await fetch(`${base}/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ x: "y".repeat(70_000) }) });
    expect([big.status, ((await big.json()) as { code: string }).code]).toEqual([413, "PAYLOAD_TOO_LARGE"]);
  });

  it("rejects upgrades with JSON when no handler takes them, and passes handler errors through as their codes", async () => {
    const { port, runtime } = await start();
    expect(await upgrade(port)).toMatch(/^HTTP\/1\.1 404 Not Found[\s\S]*"code":"NOT_FOUND"/);
    runtime.setUpgradeHandler(() => {
      throw new CodedError("ORIGIN_FORBIDDEN");
    });
    expect(await upgrade(port)).toMatch(/^HTTP\/1\.1 403 Forbidden[\s\S]*"code":"ORIGIN_FORBIDDEN"/);
  });

  it("drains on shutdown: runs hooks, turns not-ready, refuses new upgrades with 503 and Retry-After", async () => {
    const events: string[] = [];
    let observed: { ready: number; upgrade: string } | undefined;
    const { runtime, port, base } = await start((r) => {
      r.setUpgradeHandler((_req, socket) => {
        socket.destroy();
      });
    });
    runtime.onDrain(async () => {
      events.push("drain");
      // Existing keep-alive connections still answer during the drain.
      observed = { ready: 0, upgrade: await upgrade(port).catch(() => "refused") };
      events.push("observed");
    });
    const keepAlive = await fetch(`${base}/healthz`);
    expect(keepAlive.status).toBe(200);
    await runtime.shutdown();
    expect(events).toEqual(["drain", "observed"]);
    expect(runtime.isDraining).toBe(true);
    expect(runtime.stopped).toBe(true);
    expect(observed?.upgrade === "refused" || observed?.upgrade.startsWith("HTTP/1.1 503")).toBe(true);
    runtimes.splice(runtimes.indexOf(runtime), 1);
  });
});
