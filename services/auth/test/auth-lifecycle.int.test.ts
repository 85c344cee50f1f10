import { afterEach, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { AuthSubjects, ConsumeTicketReply, VerifyAgentReply } from "@patchmon-ws/protocol";
import { requestJson } from "@patchmon-ws/service-kit";
import { keyId } from "../src/token-signer.js";
import { ManagedProcess, REPO_ROOT, startAuth, startNatsServer, type RunningAuth, type TestNatsServer } from "@patchmon-ws/stack";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function nats(): Promise<TestNatsServer> {
  const server = await startNatsServer();
  cleanups.push(() => server.dispose());
  return server;
}

async function auth(natsUrl: string, env: Record<string, string> = {}): Promise<RunningAuth> {
  const running = await startAuth(natsUrl, env);
  cleanups.push(() => running.service.stop());
  return running;
}

describe("auth service lifecycle", () => {
  it("keeps users, hosts and keys across a restart", async () => {
    const server = await nats();
    const jwtSecret = randomBytes(32).toString("hex");
    const first = await auth(server.url, { JWT_SECRET: jwtSecret });
    const token = await first.adminToken();
    await first.client.createUser(token, { username: "keeper", password: "keeper-pass" });
    const { host, apiKey } = await first.client.createHost(token, { name: "survivor" });
    await first.service.stop();

    const second = await auth(server.url, { JWT_SECRET: jwtSecret, ADMIN_PASSWORD: first.adminPassword });
    expect((await second.client.login("keeper", "keeper-pass")).user.username).toBe("keeper");
    // An access token issued before the restart still verifies: sessions are in JetStream, not in memory.
    expect((await second.client.request<{ user: { username: string } }>("GET", "/api/v1/auth/me", { token })).body.user.username).toBe("admin");
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    expect(await requestJson(nc, AuthSubjects.verifyAgent, { apiId: host.apiId, apiKey }, VerifyAgentReply)).toMatchObject({ ok: true, host: { id: host.id } });
  });

  it("rotates the signing key without signing anyone out: old tokens verify via JWT_PREVIOUS_SECRETS, new ones carry the new kid", async () => {
    const server = await nats();
    const oldSecret = randomBytes(32).toString("hex");
    const newSecret = randomBytes(32).toString("hex");
    const kidOf = (token: string) => (jwt.decode(token, { complete: true }) as jwt.Jwt).header.kid;
    const first = await auth(server.url, { JWT_SECRET: oldSecret });
    const oldToken = await first.adminToken();
    expect(kidOf(oldToken)).toBe(keyId(oldSecret));
    await first.service.stop();

    const rotated = await auth(server.url, { JWT_SECRET: newSecret, JWT_PREVIOUS_SECRETS: `${"z".repeat(40)},${oldSecret}`, ADMIN_PASSWORD: first.adminPassword });
    const me = (token: string) => fetch(rotated.service.url + "/api/v1/auth/me", { headers: { authorization: `Bearer ${token}` } });
    expect((await me(oldToken)).status).toBe(200);
    const newToken = (await rotated.client.login(first.adminUsername, first.adminPassword)).accessToken;
    expect(kidOf(newToken)).toBe(keyId(newSecret));
    expect((await me(newToken)).status).toBe(200);
    const { payload } = jwt.decode(newToken, { complete: true }) as jwt.Jwt;
    const unknownKid = jwt.sign(payload as object, newSecret, { algorithm: "HS256", keyid: "0123456789abcdef" });
    const refused = await me(unknownKid);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ code: "TOKEN_INVALID", error: expect.any(String) });
    await rotated.service.stop();

    // Once the old key is dropped from JWT_PREVIOUS_SECRETS, its tokens stop verifying.
    const dropped = await auth(server.url, { JWT_SECRET: newSecret, ADMIN_PASSWORD: first.adminPassword });
    const gone = await fetch(dropped.service.url + "/api/v1/auth/me", { headers: { authorization: `Bearer ${oldToken}` } });
    expect(gone.status).toBe(401);
    expect(await gone.json()).toMatchObject({ code: "TOKEN_INVALID" });
  });

  it("refuses a previous signing key shorter than 32 characters", async () => {
    const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", "services/auth/src/main.ts"], {
      cwd: REPO_ROOT,
      env: { ...process.env, JWT_SECRET: "x".repeat(32), JWT_PREVIOUS_SECRETS: "short" },
    });
    expect(await child.waitForExit()).toBe(78);
    expect(child.log).toContain("JWT_PREVIOUS_SECRETS: every key must be at least 32 characters");
  });

  it("shares state between replicas: a ticket issued by one is consumed exactly once across both", async () => {
    const server = await nats();
    const jwtSecret = randomBytes(32).toString("hex");
    const a = await auth(server.url, { JWT_SECRET: jwtSecret });
    const b = await auth(server.url, { JWT_SECRET: jwtSecret, ADMIN_PASSWORD: a.adminPassword });
    const token = await a.adminToken();
    const { host } = await a.client.createHost(token, { name: "shared" });
    // Replica B serves a host created through replica A, and accepts A's token.
    expect((await b.client.request<{ host: { name: string } }>("GET", `/api/v1/hosts/${host.id}`, { token })).body.host.name).toBe("shared");
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    for (let round = 0; round < 3; round++) {
      const ticket = await b.client.ticket(token, "ssh-terminal", host.id);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          requestJson(nc, AuthSubjects.consumeTicket, { ticket, purpose: "ssh-terminal", target: host.id, sourceAddress: `203.0.113.${i}` }, ConsumeTicketReply),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
    }
  });

  it("shares failure limits between replicas: failures alternated between two auth processes hit 429 after exactly the configured count", async () => {
    const server = await nats();
    const jwtSecret = randomBytes(32).toString("hex");
    const env = { JWT_SECRET: jwtSecret, LOGIN_MAX_FAILURES: "4" };
    const a = await auth(server.url, env);
    const b = await auth(server.url, { ...env, ADMIN_PASSWORD: a.adminPassword });
    const login = (replica: RunningAuth, password: string) =>
      fetch(replica.service.url + "/api/v1/auth/login", {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.77" },
        body: JSON.stringify({ username: a.adminUsername, password }),
      });
    for (let i = 0; i < 4; i++) {
      const res = await login(i % 2 ? b : a, "wrong-password");
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: "INVALID_CREDENTIALS", error: "Wrong username or password." });
    }
    for (const replica of [a, b]) {
      const limited = await login(replica, a.adminPassword);
      expect(limited.status).toBe(429);
      expect(await limited.json()).toEqual({ code: "RATE_LIMITED", error: expect.any(String) });
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("expires tickets after their TTL", async () => {
    const server = await nats();
    const running = await auth(server.url, { TICKET_TTL_SECONDS: "1" });
    const token = await running.adminToken();
    const ticket = await running.client.ticket(token, "bullboard");
    await new Promise((r) => setTimeout(r, 1300));
    const nc = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    expect(await requestJson(nc, AuthSubjects.consumeTicket, { ticket, purpose: "bullboard", target: "*" }, ConsumeTicketReply)).toMatchObject({
      ok: false,
      code: "TICKET_INVALID",
    });
  });

  it("answers 503 with Retry-After, not 401, while NATS is down, and recovers when it returns", async () => {
    const server = await nats();
    const running = await auth(server.url, { LOGIN_MAX_FAILURES: "1000" });
    const token = await running.adminToken();
    await server.stop();
    const res = await fetch(running.service.url + "/api/v1/hosts", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "during-outage" }),
    });
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const ready = await fetch(running.service.url + "/readyz");
    expect(ready.status).toBe(503);
    await server.restart();
    let created = 0;
    for (let i = 0; i < 60 && created !== 201; i++) {
      await new Promise((r) => setTimeout(r, 250));
      created = (
        await fetch(running.service.url + "/api/v1/hosts", {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ name: "after-outage" }),
        })
      ).status;
    }
    expect(created).toBe(201);
    expect((await fetch(running.service.url + "/readyz")).status).toBe(200);
  });

  it("refuses to start with a clear message naming the bad variable", async () => {
    const child = new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", "services/auth/src/main.ts"], {
      cwd: REPO_ROOT,
      env: { ...process.env, JWT_SECRET: "short", PASSWORD_HASH_COST: "99", NATS_URL: "http://nope" },
    });
    expect(await child.waitForExit()).toBe(78);
    expect(child.log).toContain("JWT_SECRET: must be at least 32 characters");
    expect(child.log).toContain("PASSWORD_HASH_COST");
    expect(child.log).toContain("NATS_URL");
  });

  it("prints a generated admin password once, on the first start only", async () => {
    const server = await nats();
    const run = () =>
      new ManagedProcess(process.execPath, ["--conditions=source", "--import", "tsx", "services/auth/src/main.ts"], {
        cwd: REPO_ROOT,
        env: { ...process.env, NATS_URL: server.url, JWT_SECRET: "x".repeat(32), PORT: "0", HOST: "127.0.0.1", PASSWORD_HASH_COST: "12", ADMIN_PASSWORD: "" },
      });
    const first = run();
    const match = await first.waitForOutput(/password "([^"]+)"/);
    await first.waitForOutput(/"msg":"listening"/);
    await first.stop();
    expect(match[1]).toMatch(/^[A-Za-z0-9_-]{24}$/); // 144 bits, base64url
    const second = run();
    await second.waitForOutput(/"msg":"listening"/);
    await second.stop();
    expect(second.log).not.toContain("First admin created");
  });
});
