import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@patchmon-ws/service-kit";
import { startAuth, startNatsServer, type RunningAuth, type TestNatsServer } from "@patchmon-ws/stack";
import { startEdge, type Edge } from "../../proxy/src/edge.js";
import { fetchEdge, TestUpstream } from "../../proxy/test/helpers.js";

/** The edge in front of the real auth service (real NATS): what `npm start` puts together. */
describe("the edge in front of the real auth service", () => {
  let nats: TestNatsServer;
  let auth: RunningAuth;
  let web: TestUpstream;
  let edge: Edge;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "edge-auth-"));
    nats = await startNatsServer();
    auth = await startAuth(nats.url);
    web = await new TestUpstream("web").start();
    edge = await startEdge({ port: 0, stateDir, logger: createLogger("edge", "silent"), upstreams: { auth: [auth.service.url], web: [web.url] } });
  });

  afterAll(async () => {
    await edge?.close();
    await web?.stop();
    await auth?.service.stop();
    await nats?.dispose();
    await rm(stateDir, { recursive: true, force: true });
  });

  it("logs in over https through the edge", async () => {
    const reply = await fetchEdge(edge, "/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: auth.adminUsername, password: auth.adminPassword }),
    });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ tokenType: "Bearer", accessToken: expect.any(String) });
  });

  it("answers a wrong password 401 JSON from auth, passed through", async () => {
    const reply = await fetchEdge(edge, "/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: auth.adminUsername, password: "wrong-password" }),
    });
    expect(reply.status).toBe(401);
    expect(reply.json).toMatchObject({ code: "INVALID_CREDENTIALS" });
  });

  it("answers an unknown API path 404 JSON from auth, never from the web UI", async () => {
    const reply = await fetchEdge(edge, "/api/v1/nothing");
    expect(reply.status).toBe(404);
    expect(reply.json).toEqual({ error: expect.any(String), code: "NOT_FOUND" });
    expect(web.hits).toHaveLength(0);
  });
});
