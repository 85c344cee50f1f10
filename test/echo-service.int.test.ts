/**
 * The kit proven as an abstraction: the minimal echo service (test/fixtures/echo-service, docs/adding-a-service.md)
 * started behind the TLS edge beside real auth and NATS gets authentication at the upgrade, revocation, the
 * heartbeat's ping, the drain close, metrics and readiness from the kit alone.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode } from "@patchmon-ws/protocol";
import { localEdge, ROUTES } from "@patchmon-ws/edge";
import { startStack, type Stack } from "@patchmon-ws/stack";
import { TestWsClient } from "@patchmon-ws/testkit";

const ECHO_ROUTE = {
  name: "echo",
  rule: "PathPrefix(`/api/v1/echo/`)",
  priority: 95,
  service: "echo",
  description: "The minimal echo service of docs/adding-a-service.md (tests only)",
};

let stack: Stack;
let adminToken: string;

beforeAll(async () => {
  stack = await startStack({
    services: ["auth", { name: "echo", entry: "test/fixtures/echo-service/main.ts", replicas: 2, env: { PING_INTERVAL_MS: "200" } }],
    edge: localEdge({ healthCheckIntervalMs: 500, routes: [...ROUTES, ECHO_ROUTE] }),
    timeoutMs: 60_000,
  });
  adminToken = await stack.auth.adminToken();
});

afterAll(async () => {
  await stack?.stop();
});

const echoUrl = () => `${stack.edgeUrl!.replace("https:", "wss:")}/api/v1/echo/ws`;
const connect = (token: string) => TestWsClient.connect(echoUrl(), { ca: stack.edge!.certificate, headers: { authorization: `Bearer ${token}` } });

async function signIn(): Promise<string> {
  const username = `echo-user-${Math.random().toString(36).slice(2, 8)}`;
  const password = "correct horse battery staple";
  await stack.auth.client.createUser(adminToken, { username, password });
  return (await stack.auth.client.login(username, password)).accessToken;
}

describe("a minimal service on the kit, behind the edge", () => {
  it("takes well under 100 lines of service code (imports and comments aside)", () => {
    const source = readFileSync(new URL("./fixtures/echo-service/main.ts", import.meta.url), "utf8");
    const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const code = withoutComments.replace(/^import[\s\S]*?from "[^"]+";$/gm, "").split("\n").filter((line) => line.trim() !== "");
    expect(code.length).toBeLessThan(70);
  });

  it("greets a signed-in user and echoes what they send, under their name", async () => {
    const client = await connect(adminToken);
    await client.waitFor((m) => m.type === "hello" && m.username === stack.auth.adminUsername);
    client.send("over the edge");
    expect(await client.waitFor((m) => m.type === "echo")).toEqual({ type: "echo", from: stack.auth.adminUsername, text: "over the edge" });
    client.close();
  });

  it("refuses before the upgrade with JSON: no token 401, a bad token 401, an unknown path 404", async () => {
    const options = { ca: stack.edge!.certificate };
    const missing = await TestWsClient.refusal(echoUrl(), options);
    expect([missing.status, missing.json?.code]).toEqual([401, "CREDENTIALS_MISSING"]);
    const bad = await TestWsClient.refusal(echoUrl(), { ...options, headers: { authorization: "Bearer not-a-token" } });
    expect(bad.status).toBe(401);
    expect(bad.json).toHaveProperty("code");
    const unknown = await TestWsClient.refusal(`${stack.edgeUrl!.replace("https:", "wss:")}/api/v1/echo/other`, { ...options, headers: { authorization: `Bearer ${adminToken}` } });
    expect([unknown.status, unknown.json?.code]).toEqual([404, "NOT_FOUND"]);
  });

  it("closes the socket with 4001 within a second of the user signing out", async () => {
    const token = await signIn();
    const client = await connect(token);
    await client.waitFor((m) => m.type === "hello");
    const response = await fetch(`${stack.service("auth").url}/api/v1/auth/logout`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBeLessThan(300);
    const started = Date.now();
    expect((await client.waitForClose(5000)).code).toBe(CloseCode.CREDENTIALS_REVOKED);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("pings its clients on the configured heartbeat", async () => {
    const client = await connect(adminToken);
    await new Promise<void>((resolve) => client.ws.once("ping", () => resolve()));
    client.close();
  });

  it("answers /readyz (NATS) and exposes the live-connection gauge on /metrics", async () => {
    const replica = stack.services.echo![0]!;
    const ready = await fetch(`${replica.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", checks: { nats: true } });
    const client = await connect(adminToken);
    await client.waitFor((m) => m.type === "hello");
    const metrics = await Promise.all(stack.services.echo!.map(async (r) => (await fetch(`${r.url}/metrics`)).text()));
    expect(metrics.join("\n")).toMatch(/websocket_connections\{endpoint="echo sockets",service="echo"\} 1/);
    client.close();
  });

  it("drains on SIGTERM with 1012, and a reconnect through the edge lands on the other replica", async () => {
    const [first] = stack.services.echo!;
    const direct = await TestWsClient.connect(`${first!.url.replace("http:", "ws:")}/api/v1/echo/ws`, { headers: { authorization: `Bearer ${adminToken}` } });
    await direct.waitFor((m) => m.type === "hello");
    await first!.stop();
    expect((await direct.closed).code).toBe(CloseCode.SERVICE_RESTART);
    const again = await connect(adminToken);
    await again.waitFor((m) => m.type === "hello");
    again.close();
  });
});
