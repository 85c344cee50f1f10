import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { HealthChecker, probe } from "../../proxy/src/health-checker.js";
import { connectToLiveUpstream } from "../../proxy/src/upstream-connector.js";
import { parseUpstreamUrl, UpstreamPool, type Upstream } from "../../proxy/src/upstream-pool.js";
import { freePort } from "@patchmon-ws/stack";

const A = "http://127.0.0.1:4101";
const B = "http://127.0.0.1:4102";
const C = "http://127.0.0.1:4103";
const origins = (list: (Upstream | undefined)[]) => list.map((u) => u?.url.origin);

describe("UpstreamPool", () => {
  it("spreads round-robin over healthy replicas", () => {
    const pool = new UpstreamPool("agent-ws", [A, B, C]);
    expect(origins([pool.next(), pool.next(), pool.next(), pool.next()])).toEqual([A, B, C, A]);
  });

  it("skips replicas marked down and brings them back when marked up", () => {
    const pool = new UpstreamPool("agent-ws", [A, B, C]);
    const b = pool.upstreams[1]!;
    expect(pool.markDown(b, "ECONNREFUSED")).toBe(true);
    expect(pool.markDown(b, "ECONNREFUSED")).toBe(false);
    expect(b.lastError).toBe("ECONNREFUSED");
    expect(pool.liveCount).toBe(2);
    expect(origins([pool.next(), pool.next(), pool.next()])).toEqual([A, C, A]);
    expect(pool.markUp(b)).toBe(true);
    expect(pool.markUp(b)).toBe(false);
    expect(origins([pool.next(), pool.next()])).toEqual([B, C]);
  });

  it("answers undefined when every replica is down or excluded", () => {
    const pool = new UpstreamPool("auth", [A, B]);
    expect(pool.next(new Set(pool.upstreams))).toBeUndefined();
    for (const u of pool.upstreams) pool.markDown(u, "down");
    expect(pool.next()).toBeUndefined();
    expect(new UpstreamPool("auth", []).next()).toBeUndefined();
  });

  it("keeps health state of replicas that stay when the list changes, and drops duplicates", () => {
    const pool = new UpstreamPool("auth", [A, B]);
    pool.markDown(pool.upstreams[1]!, "down");
    pool.setUrls([B, C, C]);
    expect(pool.upstreams.map((u) => [u.url.origin, u.healthy])).toEqual([
      [B, false],
      [C, true],
    ]);
  });

  it("accepts only plain http origins", () => {
    expect(parseUpstreamUrl("http://auth:3001").origin).toBe("http://auth:3001");
    expect(() => parseUpstreamUrl("https://auth:3001")).toThrow("http://");
    expect(() => parseUpstreamUrl("http://auth:3001/api")).toThrow("scheme, host and port only");
    expect(() => parseUpstreamUrl("auth:3001x")).toThrow();
    expect(() => parseUpstreamUrl("not a url")).toThrow("is not a URL");
  });
});

describe("health checks and connection failover (real sockets)", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });
  const serve = async (status: number): Promise<string> => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === "/healthz" ? status : 404;
      res.end();
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  };

  it("probe: 2xx and 3xx are healthy; other statuses and refusals are not", async () => {
    expect(await probe(new URL(await serve(200)), "/healthz", 2000)).toEqual({ healthy: true });
    expect(await probe(new URL(await serve(302)), "/healthz", 2000)).toEqual({ healthy: true });
    expect(await probe(new URL(await serve(503)), "/healthz", 2000)).toEqual({ healthy: false, reason: "health check answered 503" });
    const closed = `http://127.0.0.1:${await freePort()}`;
    expect(await probe(new URL(closed), "/healthz", 2000)).toEqual({ healthy: false, reason: "ECONNREFUSED" });
  });

  it("HealthChecker marks failing replicas down and recovered ones up, reporting each change once", async () => {
    const good = await serve(200);
    const bad = await serve(500);
    const pool = new UpstreamPool("auth", [good, bad]);
    const changes: string[] = [];
    const checker = new HealthChecker(() => [pool], {
      intervalMs: 60_000,
      timeoutMs: 2000,
      path: "/healthz",
      onChange: (_pool, upstream, healthy) => changes.push(`${upstream.url.origin} ${healthy ? "up" : "down"}`),
    });
    await checker.checkNow();
    await checker.checkNow();
    expect(pool.upstreams.map((u) => u.healthy)).toEqual([true, false]);
    expect(changes).toEqual([`${bad} down`]);
    pool.setUrls([good, await serve(200)]);
    pool.markDown(pool.upstreams[1]!, "test");
    await checker.checkNow();
    expect(pool.liveCount).toBe(2);
    checker.stop();
  });

  it("connectToLiveUpstream skips a refusing replica, marks it down, and connects to the next", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const alive = await serve(200);
    const pool = new UpstreamPool("auth", [dead, alive]);
    const failures: string[] = [];
    const connection = await connectToLiveUpstream(pool, 2000, (u, err, changed) => failures.push(`${u.url.origin} ${err.code} ${changed}`));
    expect(connection?.upstream.url.origin).toBe(alive);
    connection?.socket.destroy();
    expect(failures).toEqual([`${dead} ECONNREFUSED true`]);
    expect(pool.upstreams[0]!.healthy).toBe(false);
    pool.markDown(pool.upstreams[1]!, "test");
    expect(await connectToLiveUpstream(pool, 2000, () => undefined)).toBeUndefined();
  });
});
