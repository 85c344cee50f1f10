import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
