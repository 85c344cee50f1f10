import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AuthSubjects, type Principal } from "@patchmon-ws/protocol";
import { startNatsServer, type TestNatsServer } from "@patchmon-ws/stack";
import { createLogger, launchService, type LaunchedService, type CommonConfig } from "../src/index.js";

async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("launchService: the one start-up shape", () => {
  let nats: TestNatsServer;
  let service: LaunchedService<CommonConfig>;
  const order: string[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    service = await launchService({
      name: "kit-test",
      config: { LOG_LEVEL: "silent", HOST: "127.0.0.1", PORT: 0, NATS_URL: nats.url, TRUSTED_PROXIES: [], SHUTDOWN_TIMEOUT_MS: 2000 },
      logger: createLogger("kit-test", "silent"),
      setup: ({ runtime, nc }) => {
        expect(nc.isClosed()).toBe(false);
        runtime.app.get("/hello", (_req, res) => res.json({ ok: true }));
        runtime.onDrain(() => void order.push(`service drained, nats open: ${!nc.isClosed()}`));
      },
    });
  });

  afterAll(async () => {
    await nats?.dispose();
  });

  const readyz = async () => {
    const res = await fetch(`http://127.0.0.1:${service.port}/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, boolean> } };
  };

  it("serves the routes its setup added, and is ready with NATS up", async () => {
    expect((await fetch(`http://127.0.0.1:${service.port}/hello`)).status).toBe(200);
    expect(await readyz()).toEqual({ status: 200, body: { status: "ready", checks: { nats: true } } });
  });

  it("/readyz tells the truth about NATS: 503 while it is down, ready again once it is back", async () => {
    await nats.stop();
    await eventually(async () => (await readyz()).status === 503, 10_000, "not ready while NATS is down");
    expect((await readyz()).body.checks.nats).toBe(false);
    await nats.restart();
    await eventually(async () => (await readyz()).status === 200, 20_000, "ready after NATS is back");
  });

  it("drains the service's hooks before NATS", async () => {
    await service.runtime.shutdown();
    expect(order).toEqual(["service drained, nats open: true"]);
    expect(service.context.nc.isClosed()).toBe(true);
  });
});

describe("launchService: the auth client and user verifiers every service gets", () => {
  let nats: TestNatsServer;
  let service: LaunchedService<CommonConfig>;
  let asker: NatsConnection;
  /** The fake auth service: what it was asked, and tokens it never answers. */
  const asked: Array<{ token: string; audience: string }> = [];
  const alice: Principal = { userId: "u-alice", username: "alice", role: "user", permissions: [], sessionId: "s-alice", expiresAt: Date.now() + 600_000 };

  beforeAll(async () => {
    nats = await startNatsServer();
    asker = await connect({ servers: nats.url });
    asker.subscribe(AuthSubjects.verifyAccess, {
      callback: (_err, msg) => {
        const request = msg.json<{ token: string; audience: string }>();
        asked.push({ token: request.token, audience: request.audience });
        if (request.token !== "never-answered") msg.respond(JSON.stringify({ ok: true, principal: alice }));
      },
    });
    await asker.flush();
    service = await launchService({
      name: "kit-auth-test",
      config: { LOG_LEVEL: "silent", HOST: "127.0.0.1", PORT: 0, NATS_URL: nats.url, TRUSTED_PROXIES: [], SHUTDOWN_TIMEOUT_MS: 2000, AUTH_TIMEOUT_MS: 300 },
      logger: createLogger("kit-auth-test", "silent"),
      usesJetStream: false,
      setup: () => undefined,
    });
  });

  afterAll(async () => {
    await service?.runtime.shutdown();
    await asker?.close();
    await nats?.dispose();
  });

  it("auth is one client, created on first use, asking auth over NATS", async () => {
    const { context } = service;
    expect(context.auth).toBe(context.auth);
    expect(await context.auth.verifyToken("t-1", "api", "10.0.0.1")).toEqual(alice);
    expect(asked.at(-1)).toEqual({ token: "t-1", audience: "api" });
  });

  it("auth's calls time out after the config's AUTH_TIMEOUT_MS, as DEPENDENCY_UNAVAILABLE", async () => {
    const started = Date.now();
    await expect(service.context.auth.verifyToken("never-answered", "api", "10.0.0.1")).rejects.toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("a user verifier asks for its audience, reuses its verdict, and forgets it when auth revokes the user", async () => {
    const verifier = service.context.userVerifier({ audience: "bullboard", ttlMs: 60_000 });
    const asks = () => asked.filter((a) => a.token === "t-cookie").length;
    expect(await verifier.verify("t-cookie", "10.0.0.1")).toEqual(alice);
    await verifier.verify("t-cookie", "10.0.0.1");
    expect([asks(), asked.at(-1)?.audience]).toEqual([1, "bullboard"]);

    asker.publish(AuthSubjects.revokedUser(alice.userId), JSON.stringify({ kind: "user", id: alice.userId, reason: "logout", at: Date.now() }));
    await eventually(async () => (await verifier.verify("t-cookie", "10.0.0.1"), asks() === 2), 5000, "asked again after the revocation");
  });
});

describe("launchService without NATS (nats: false)", () => {
  it("launches with no NATS_URL, its readiness only the service's own checks, and drains its hooks", async () => {
    const drained: string[] = [];
    const service = await launchService({
      name: "kit-local-test",
      nats: false,
      config: { LOG_LEVEL: "silent", HOST: "127.0.0.1", PORT: 0, TRUSTED_PROXIES: [], SHUTDOWN_TIMEOUT_MS: 2000 },
      logger: createLogger("kit-local-test", "silent"),
      setup: (context) => {
        expect(Object.keys(context).sort()).toEqual(["config", "logger", "runtime"]);
        context.runtime.addReadinessCheck("files", () => true);
        context.runtime.onDrain(() => void drained.push("service"));
      },
    });
    const res = await fetch(`http://127.0.0.1:${service.port}/readyz`);
    expect([res.status, await res.json()]).toEqual([200, { status: "ready", checks: { files: true } }]);
    await service.runtime.shutdown();
    expect(drained).toEqual(["service"]);
  });
});
