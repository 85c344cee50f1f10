import { localEdge } from "@patchmon-ws/edge";
import { request } from "node:https";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsServer, startRedisServer, startStack, type Stack } from "@patchmon-ws/stack";

/** GET over TLS trusting the edge's certificate. */
function getJson(url: string, ca: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    })
      .on("error", reject)
      .end();
  });
}

describe("startStack", () => {
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const stack of stacks) await stack.stop();
  });

  it("runs replicas behind the edge and restarts one that dies, on its port", async () => {
    const stack = await startStack({ services: ["auth", { name: "agent-ws", replicas: 2 }], edge: localEdge({ healthCheckIntervalMs: 200 }), restartOnExit: true });
    stacks.push(stack);
    const replicas = stack.services["agent-ws"]!;
    expect(replicas).toHaveLength(2);
    expect(new Set(replicas.map((r) => r.port)).size).toBe(2);
    const me = await stack.auth.client.request<{ user: { username: string } }>("GET", "/api/v1/auth/me", { token: await stack.auth.adminToken() });
    expect(me.body.user.username).toBe(stack.admin.username);
    expect(stack.edgeUrl).toBe(`https://localhost:${stack.edge!.port}`);
    expect((await getJson(`${stack.edge!.url}/api/v1/agents/status?hostIds=all`, stack.edge!.certificate)).status).toBe(401);

    const victim = replicas[0]!;
    await victim.kill();
    const deadline = Date.now() + 20_000;
    while (stack.services["agent-ws"]![0] === victim && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const reborn = stack.services["agent-ws"]![0]!;
    expect(reborn).not.toBe(victim);
    expect(reborn.port).toBe(victim.port);
    expect((await fetch(`${reborn.url}/healthz`)).status).toBe(200);
  }, 60_000);

  it("rejects, naming the service, when one does not come up (and stops what it started)", async () => {
    const nats = await startNatsServer();
    try {
      const failing = startStack({ natsUrl: nats.url, redisUrl: "redis://127.0.0.1:1", services: ["auth", { name: "agent-ws", env: { PING_INTERVAL_MS: "soon" } }] });
      await expect(failing).rejects.toThrow(/agent-ws did not come up[^]*PING_INTERVAL_MS/);
    } finally {
      await nats.dispose();
    }
  });

  it("connects to given NATS and Redis instead of starting its own", async () => {
    const nats = await startNatsServer();
    const redis = await startRedisServer();
    try {
      const stack = await startStack({ natsUrl: nats.url, redisUrl: redis.url, services: ["auth"] });
      stacks.push(stack);
      expect([stack.nats, stack.redis, stack.natsUrl, stack.redisUrl]).toEqual([undefined, undefined, nats.url, redis.url]);
      expect(await stack.auth.adminToken()).toEqual(expect.any(String));
      await stack.stop();
      expect(nats.process.running && redis.process.running).toBe(true);
    } finally {
      await redis.dispose();
      await nats.dispose();
    }
  });
});
