import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AuthSubjects,
  ConsumeTicketReply,
  CreatedHostResponse,
  GetHostReply,
  PinHostKeyReply,
  RevocationEvent,
  SessionResponse,
  VerifyAccessReply,
  MAX_AGENT_VERIFICATIONS_PER_BATCH,
  VerifyAgentReply,
  VerifyAgentsReply,
  VerifySessionReply,
} from "@patchmon-ws/protocol";
import { AuthClient, requestJson } from "@patchmon-ws/service-kit";
import { AuthHttpClient, HttpError, startAuth, startNatsServer, type RunningAuth, type TestNatsServer } from "@patchmon-ws/stack";

let nats: TestNatsServer;
let auth: RunningAuth;
let nc: NatsConnection;
let api: AuthHttpClient;
let adminToken: string;

/** Requests appear to come from this client address (the test runner is a trusted proxy on loopback). */
async function raw(method: string, path: string, init: { token?: string; body?: unknown; cookie?: string; from?: string; rawBody?: string } = {}) {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.cookie) headers.cookie = init.cookie;
  if (init.from) headers["x-forwarded-for"] = init.from;
  if (init.body !== undefined || init.rawBody !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(api.baseUrl + path, {
    method,
    headers,
    ...(init.rawBody !== undefined ? { body: init.rawBody } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function expectHttpError(promise: Promise<unknown>, status: number, code: string): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  expect((err as HttpError).status).toBe(status);
  expect((err as HttpError).body).toMatchObject({ code, error: expect.any(String) });
}

/** Revocation events as they arrive; `waitFor` resolves on the first (past or future) one that matches. */
function collectRevocations(): { events: RevocationEvent[]; waitFor(match: Partial<RevocationEvent>, timeoutMs?: number): Promise<RevocationEvent> } {
  const events: RevocationEvent[] = [];
  const waiters = new Set<(event: RevocationEvent) => void>();
  nc.subscribe(AuthSubjects.revokedAll, {
    callback: (_e, msg) => {
      const event = RevocationEvent.parse(msg.json());
      events.push(event);
      for (const waiter of waiters) waiter(event);
    },
  });
  const matches = (match: Partial<RevocationEvent>) => (e: RevocationEvent) => Object.entries(match).every(([k, v]) => e[k as keyof RevocationEvent] === v);
  return {
    events,
    waitFor(match, timeoutMs = 5000) {
      const found = events.find(matches(match));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no revocation event ${JSON.stringify(match)} among ${JSON.stringify(events)}`));
        }, timeoutMs);
        const waiter = (event: RevocationEvent) => {
          if (!matches(match)(event)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(event);
        };
        waiters.add(waiter);
      });
    },
  };
}

const verifyAccess = (token: string, audience: "api" | "bullboard" = "api") =>
  requestJson(nc, AuthSubjects.verifyAccess, { token, audience }, VerifyAccessReply);
const verifyAgent = (apiId: string, apiKey: string, sourceAddress = "192.0.2.10") =>
  requestJson(nc, AuthSubjects.verifyAgent, { apiId, apiKey, sourceAddress }, VerifyAgentReply);
const consumeTicket = (ticket: string, purpose: string, target: string, extra: object = {}) =>
  requestJson(nc, AuthSubjects.consumeTicket, { ticket, purpose, target, sourceAddress: "192.0.2.20", ...extra }, ConsumeTicketReply);

beforeAll(async () => {
  nats = await startNatsServer();
  auth = await startAuth(nats.url, { LOGIN_MAX_FAILURES: "3", AGENT_AUTH_MAX_FAILURES: "3", TICKET_MAX_FAILURES: "5", REFRESH_REUSE_GRACE_SECONDS: "1" });
  api = auth.client;
  adminToken = await auth.adminToken();
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc?.close();
  await auth?.service.stop();
  await nats?.dispose();
});

describe("login", () => {
  it("returns an access token, the user, and an HttpOnly SameSite=Strict refresh cookie", async () => {
    const res = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: auth.adminPassword } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ tokenType: "Bearer", user: { username: auth.adminUsername, role: "admin", disabled: false } });
    expect(res.body.user.passwordHash).toBeUndefined();
    expect(SessionResponse.strict().safeParse(res.body).success).toBe(true);
    expect(res.body.expiresIn).toBeGreaterThan(0);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("refresh_token="))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect(cookie).toMatch(/Path=\/api\/v1\/auth/);
    expect(cookie).not.toMatch(/Secure/); // plain http from a client that did not come over https
    expect(res.headers.get("cache-control")).toBe("no-store");
    const verified = await verifyAccess(res.body.accessToken);
    expect(verified).toMatchObject({ ok: true, principal: { username: auth.adminUsername, role: "admin" } });
  });

  it("marks the refresh cookie Secure when a trusted proxy says the client used https", async () => {
    const res = await fetch(api.baseUrl + "/api/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-proto": "HTTPS" },
      body: JSON.stringify({ username: auth.adminUsername, password: auth.adminPassword }),
    });
    expect(res.headers.getSetCookie().find((c) => c.startsWith("refresh_token="))).toMatch(/Secure/);
  });

  it("answers a wrong password with 401 and the same error as an unknown user", async () => {
    const wrong = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: "nope-nope" }, from: "198.51.100.1" });
    const unknown = await raw("POST", "/api/v1/auth/login", { body: { username: "ghost", password: "nope-nope" }, from: "198.51.100.1" });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ code: "INVALID_CREDENTIALS", error: "Wrong username or password." });
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
  });

  it("rate-limits failed logins per source address with 429 and Retry-After, without touching other sources", async () => {
    const from = "198.51.100.2";
    for (let i = 0; i < 3; i++) {
      expect((await raw("POST", "/api/v1/auth/login", { body: { username: "admin", password: "wrong-password" }, from })).status).toBe(401);
    }
    const limited = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: auth.adminPassword }, from });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("RATE_LIMITED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    const elsewhere = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: auth.adminPassword }, from: "198.51.100.3" });
    expect(elsewhere.status).toBe(200);
  });

  it("rejects malformed bodies with 400", async () => {
    expect(await raw("POST", "/api/v1/auth/login", { body: { username: "admin" } })).toMatchObject({ status: 400, body: { code: "VALIDATION_FAILED" } });
    expect(await raw("POST", "/api/v1/auth/login", { rawBody: "{not json" })).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
  });

  it("answers unknown paths with 404 JSON and missing or bad tokens with 401", async () => {
    expect(await raw("GET", "/api/v1/auth/nothing")).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    expect(await raw("GET", "/api/v1/auth/me")).toMatchObject({ status: 401, body: { code: "CREDENTIALS_MISSING" } });
    expect(await raw("GET", "/api/v1/auth/me", { token: "garbage" })).toMatchObject({ status: 401, body: { code: "TOKEN_INVALID" } });
    const forged = adminToken.slice(0, -4) + (adminToken.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(await raw("GET", "/api/v1/auth/me", { token: forged })).toMatchObject({ status: 401, body: { code: "TOKEN_INVALID" } });
  });
});

describe("refresh tokens", () => {
  const refreshCookieOf = (res: { headers: Headers }) => res.headers.getSetCookie().find((c) => c.startsWith("refresh_token="))!.split(";")[0]!;

  it("rotate on every refresh, and reuse of an old one outside the grace window revokes the whole family", async () => {
    const revocations = collectRevocations();
    const first = await api.login(auth.adminUsername, auth.adminPassword);
    const refreshed = await raw("POST", "/api/v1/auth/refresh", { cookie: first.refreshCookie });
    expect(refreshed.status).toBe(200);
    const middle = refreshCookieOf(refreshed);
    expect(middle).not.toBe(first.refreshCookie);
    expect((await verifyAccess(refreshed.body.accessToken)).ok).toBe(true);
    // A second rotation: the grace window covers only the token rotated away last (the middle one), so the first
    // is plain reuse at once, however little time passed (the window running out is tested in auth-core.behaviour.ts).
    const rotatedAgain = await raw("POST", "/api/v1/auth/refresh", { cookie: middle });
    expect(rotatedAgain.status).toBe(200);
    const second = refreshCookieOf(rotatedAgain);

    const reused = await raw("POST", "/api/v1/auth/refresh", { cookie: first.refreshCookie });
    expect(reused.status).toBe(401);
    expect(reused.body).toEqual({ code: "REFRESH_TOKEN_REUSED", error: expect.any(String) });
    // The family is gone: the newest refresh token and every access token of the session stop working.
    expect((await raw("POST", "/api/v1/auth/refresh", { cookie: second })).body.code).toBe("SESSION_REVOKED");
    expect(await verifyAccess(refreshed.body.accessToken)).toMatchObject({ ok: false, code: "SESSION_REVOKED" });
    expect(await verifyAccess(first.accessToken)).toMatchObject({ ok: false, code: "SESSION_REVOKED" });
    await revocations.waitFor({ kind: "session", reason: "refresh_token_reused" });
  });

  it("give two tabs refreshing at the same moment the same new pair, and keep the session", async () => {
    const login = await api.login(auth.adminUsername, auth.adminPassword);
    const [tabA, tabB] = await Promise.all([
      raw("POST", "/api/v1/auth/refresh", { cookie: login.refreshCookie }),
      raw("POST", "/api/v1/auth/refresh", { cookie: login.refreshCookie }),
    ]);
    expect([tabA.status, tabB.status]).toEqual([200, 200]);
    expect(refreshCookieOf(tabA)).toBe(refreshCookieOf(tabB));
    expect(refreshCookieOf(tabA)).not.toBe(login.refreshCookie);
    const a = await verifyAccess(tabA.body.accessToken);
    const b = await verifyAccess(tabB.body.accessToken);
    if (!a.ok || !b.ok) throw new Error(`both access tokens should verify: ${JSON.stringify([a, b])}`);
    expect(a.principal.sessionId).toBe(b.principal.sessionId);
    expect((await raw("GET", "/api/v1/auth/me", { token: tabB.body.accessToken })).status).toBe(200);
    // Either tab's next refresh continues the family.
    expect((await raw("POST", "/api/v1/auth/refresh", { cookie: refreshCookieOf(tabB) })).status).toBe(200);
  });

  it("rejects a missing or unknown refresh token", async () => {
    expect(await raw("POST", "/api/v1/auth/refresh")).toMatchObject({ status: 401, body: { code: "CREDENTIALS_MISSING" } });
    expect(await raw("POST", "/api/v1/auth/refresh", { cookie: "refresh_token=abc.def" })).toMatchObject({ status: 401, body: { code: "INVALID_CREDENTIALS" } });
    expect(await raw("POST", "/api/v1/auth/refresh", { cookie: "refresh_token=no-dot" })).toMatchObject({ status: 401, body: { code: "INVALID_CREDENTIALS" } });
    expect(await raw("POST", "/api/v1/auth/refresh", { body: { refreshToken: 5 } })).toMatchObject({ status: 400, body: { code: "VALIDATION_FAILED", error: expect.any(String) } });
  });

  it("accept the refresh token in the body when there is no cookie (RefreshBody)", async () => {
    const login = await api.login(auth.adminUsername, auth.adminPassword);
    const res = await raw("POST", "/api/v1/auth/refresh", { body: { refreshToken: login.refreshCookie.slice("refresh_token=".length) } });
    expect(res.status).toBe(200);
    expect(SessionResponse.safeParse(res.body).success).toBe(true);
  });
});

describe("logout", () => {
  it("revokes the session: its tokens stop working and an event goes out", async () => {
    const revocations = collectRevocations();
    const login = await api.login(auth.adminUsername, auth.adminPassword);
    const me = await raw("GET", "/api/v1/auth/me", { token: login.accessToken });
    expect(me.body.user.username).toBe(auth.adminUsername);
    const principal = await verifyAccess(login.accessToken);
    if (!principal.ok) throw new Error("token should verify");
    expect((await raw("POST", "/api/v1/auth/logout", { token: login.accessToken })).status).toBe(204);
    expect(await raw("GET", "/api/v1/auth/me", { token: login.accessToken })).toMatchObject({ status: 401, body: { code: "SESSION_REVOKED" } });
    expect((await raw("POST", "/api/v1/auth/refresh", { cookie: login.refreshCookie })).status).toBe(401);
    await revocations.waitFor({ kind: "session", id: principal.principal.sessionId, reason: "logout" });
  });
});

describe("users and permissions", () => {
  it("lets admins create users with unique (case-insensitive) usernames and enforces permissions", async () => {
    const user = await api.createUser(adminToken, { username: "Operator1", password: "operator-pass", role: "user", permissions: ["can_view_queues"] });
    expect(user).toMatchObject({ username: "Operator1", role: "user", permissions: ["can_view_queues"], disabled: false });
    await expectHttpError(api.createUser(adminToken, { username: "operator1", password: "operator-pass" }), 409, "USERNAME_TAKEN");

    const operator = await api.login("Operator1", "operator-pass");
    const principal = await verifyAccess(operator.accessToken);
    expect(principal).toMatchObject({ ok: true, principal: { role: "user", permissions: ["can_view_queues"] } });
    await expectHttpError(api.createHost(operator.accessToken, { name: "nope" }), 403, "FORBIDDEN");
    await expectHttpError(api.request("GET", "/api/v1/users", { token: operator.accessToken }), 403, "FORBIDDEN");
    await expectHttpError(api.ticket(operator.accessToken, "ssh-terminal", "whatever"), 403, "FORBIDDEN");
    expect(await api.ticket(operator.accessToken, "bullboard")).toEqual(expect.any(String));
  });

  it("disabling a user revokes its sessions at once and announces it", async () => {
    const revocations = collectRevocations();
    const user = await api.createUser(adminToken, { username: "leaver", password: "leaver-pass" });
    const login = await api.login("leaver", "leaver-pass");
    await api.updateUser(adminToken, user.id, { disabled: true });
    expect(await verifyAccess(login.accessToken)).toMatchObject({ ok: false });
    await expectHttpError(api.login("leaver", "leaver-pass"), 403, "USER_DISABLED");
    await revocations.waitFor({ kind: "user", id: user.id, reason: "user_disabled" });
    await revocations.waitFor({ kind: "session", reason: "user_disabled" });
  });

  it("refuses to demote, disable or delete the last admin", async () => {
    const me = await raw("GET", "/api/v1/auth/me", { token: adminToken });
    await expectHttpError(api.updateUser(adminToken, me.body.user.id, { role: "user" }), 409, "LAST_ADMIN");
    await expectHttpError(api.request("DELETE", `/api/v1/users/${me.body.user.id}`, { token: adminToken }), 409, "LAST_ADMIN");
  });

  it("lets can_manage_users manage plain users but not admins, nor grant what it lacks", async () => {
    await api.createUser(adminToken, { username: "usermgr", password: "usermgr-pass", permissions: ["can_manage_users"] });
    const mgr = (await api.login("usermgr", "usermgr-pass")).accessToken;
    const created = await api.createUser(mgr, { username: "newbie", password: "newbie-pass" });
    expect(created.role).toBe("user");
    await expectHttpError(api.createUser(mgr, { username: "boss", password: "boss-pass-1", role: "admin" }), 403, "FORBIDDEN");
    await expectHttpError(api.updateUser(mgr, created.id, { permissions: ["can_manage_hosts"] }), 403, "FORBIDDEN");
  });
});

describe("hosts and agent keys", () => {
  it("creates a host with a high-entropy key shown once, and a ready-to-paste agent config", async () => {
    const created = await api.createHost(adminToken, { name: "web-01", ssh: { address: "10.0.0.5" } });
    expect(created.apiKey).toMatch(/^[0-9a-f]{64}$/);
    expect(created.host).toMatchObject({ name: "web-01", ssh: { address: "10.0.0.5", port: 22, username: "root" }, hostKey: null });
    expect(created.host.apiId).toMatch(/^patchmon_[0-9a-f]{32}$/);
    expect(JSON.stringify(created.host)).not.toContain(created.apiKey);
    expect(created.agentConfig.credentialsYaml).toContain(`api_key: "${created.apiKey}"`);
    expect(CreatedHostResponse.parse(created)).toEqual(created);
    expect(created.agentConfig.configYaml).toMatch(/patchmon_server: "http:\/\/127\.0\.0\.1:\d+"/);

    const listed = await api.request<{ hosts: { id: string }[] }>("GET", "/api/v1/hosts", { token: adminToken });
    expect(listed.body.hosts.map((h) => h.id)).toContain(created.host.id);
    expect(JSON.stringify(listed.body)).not.toMatch(/apiKeyHash|[0-9a-f]{64}/);

    const renamed = await api.request<{ host: { name: string } }>("PATCH", `/api/v1/hosts/${created.host.id}`, { token: adminToken, body: { name: "web-01a" } });
    expect(renamed.body.host.name).toBe("web-01a");
    await expectHttpError(api.request("PATCH", `/api/v1/hosts/${created.host.id}`, { token: adminToken, body: { ssh: { port: 99999 } } }), 400, "VALIDATION_FAILED");
    await expectHttpError(api.request("GET", "/api/v1/hosts/no.such.host", { token: adminToken }), 404, "HOST_NOT_FOUND");
  });

  it("verifies agent keys over NATS: good key, wrong key, unknown id", async () => {
    const { host, apiKey } = await api.createHost(adminToken, { name: "db-01" });
    expect(await verifyAgent(host.apiId, apiKey)).toMatchObject({ ok: true, host: { id: host.id, apiId: host.apiId, name: "db-01" } });
    expect(await verifyAgent(host.apiId, "0".repeat(64), "192.0.2.11")).toMatchObject({ ok: false, code: "INVALID_CREDENTIALS" });
    expect(await verifyAgent("patchmon_unknown", apiKey, "192.0.2.11")).toMatchObject({ ok: false, code: "INVALID_CREDENTIALS" });
    expect(await verifyAgent("bad id with spaces", apiKey, "192.0.2.12")).toMatchObject({ ok: false, code: "INVALID_CREDENTIALS" });
    expect(await verifyAgent(host.apiId, apiKey)).toMatchObject({ ok: true });
  });

  it("verifies several agents in one message, answering each as the single subject would, in order", async () => {
    const { host, apiKey } = await api.createHost(adminToken, { name: "batch-01" });
    const agents = [
      { apiId: host.apiId, apiKey, sourceAddress: "192.0.2.40" },
      { apiId: host.apiId, apiKey: "0".repeat(64), sourceAddress: "192.0.2.41" },
      { apiId: "patchmon_unknown", apiKey, sourceAddress: "192.0.2.41" },
      { apiId: host.apiId, apiKey, sourceAddress: "192.0.2.42" },
    ];
    const reply = await requestJson(nc, AuthSubjects.verifyAgents, { agents }, VerifyAgentsReply);
    expect(reply).toMatchObject({
      ok: true,
      results: [
        { ok: true, host: { id: host.id, name: "batch-01" } },
        { ok: false, code: "INVALID_CREDENTIALS", error: expect.any(String) },
        { ok: false, code: "INVALID_CREDENTIALS", error: expect.any(String) },
        { ok: true, host: { id: host.id } },
      ],
    });
    expect((reply as { results: unknown[] }).results).toHaveLength(4);
  });

  it("refuses an empty or oversized batch of agent verifications with VALIDATION_FAILED", async () => {
    const agent = { apiId: "patchmon_x", apiKey: "k", sourceAddress: "192.0.2.43" };
    for (const agents of [[], Array.from({ length: MAX_AGENT_VERIFICATIONS_PER_BATCH + 1 }, () => agent)]) {
      expect(await requestJson(nc, AuthSubjects.verifyAgents, { agents }, VerifyAgentsReply)).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
    }
  });

  it("AuthClient sends the agent verifications of one turn as one batch, and each caller gets its own answer", async () => {
    const { host, apiKey } = await api.createHost(adminToken, { name: "batch-02" });
    const subjects: string[] = [];
    const spy = nc.subscribe("auth.v1.verify.>", {
      callback: (_err, msg) => {
        subjects.push(msg.subject);
      },
    });
    await nc.flush();
    const client = new AuthClient(nc, 2000);
    const outcomes = await Promise.allSettled([
      client.verifyAgent(host.apiId, apiKey, "192.0.2.44"),
      client.verifyAgent(host.apiId, "1".repeat(64), "192.0.2.45"),
      client.verifyAgent(host.apiId, apiKey, "192.0.2.44"),
    ]);
    expect(outcomes[0]).toMatchObject({ status: "fulfilled", value: { id: host.id } });
    expect(outcomes[1]).toMatchObject({ status: "rejected", reason: { code: "INVALID_CREDENTIALS" } });
    expect(outcomes[2]).toMatchObject({ status: "fulfilled", value: { id: host.id } });
    // Alone in its turn, a verification takes the single subject.
    expect(await client.verifyAgent(host.apiId, apiKey, "192.0.2.44")).toMatchObject({ id: host.id });
    await nc.flush();
    spy.unsubscribe();
    expect(subjects).toEqual([AuthSubjects.verifyAgents, AuthSubjects.verifyAgent]);
  });

  it("rate-limits failed agent verifications per source address", async () => {
    const { host, apiKey } = await api.createHost(adminToken, { name: "limited" });
    for (let i = 0; i < 3; i++) await verifyAgent(host.apiId, "wrong", "192.0.2.99");
    const limited = await verifyAgent(host.apiId, apiKey, "192.0.2.99");
    expect(limited).toMatchObject({ ok: false, code: "RATE_LIMITED" });
    expect(limited.ok ? 0 : limited.retryAfter).toBeGreaterThan(0);
    expect(await verifyAgent(host.apiId, apiKey, "192.0.2.98")).toMatchObject({ ok: true });
  });

  it("rotating the key invalidates the old one at once and announces it", async () => {
    const revocations = collectRevocations();
    const { host, apiKey } = await api.createHost(adminToken, { name: "rotating" });
    const rotated = await api.rotateHostKey(adminToken, host.id);
    expect(rotated.apiKey).not.toBe(apiKey);
    expect(await verifyAgent(host.apiId, apiKey, "192.0.2.30")).toMatchObject({ ok: false, code: "INVALID_CREDENTIALS" });
    expect(await verifyAgent(host.apiId, rotated.apiKey)).toMatchObject({ ok: true });
    await revocations.waitFor({ kind: "host", id: host.id, reason: "key_rotated" });
  });

  it("deleting a host makes its key fail and announces it", async () => {
    const revocations = collectRevocations();
    const { host, apiKey } = await api.createHost(adminToken, { name: "doomed" });
    await api.deleteHost(adminToken, host.id);
    expect(await verifyAgent(host.apiId, apiKey, "192.0.2.31")).toMatchObject({ ok: false, code: "INVALID_CREDENTIALS" });
    await expectHttpError(api.request("GET", `/api/v1/hosts/${host.id}`, { token: adminToken }), 404, "HOST_NOT_FOUND");
    await revocations.waitFor({ kind: "host", id: host.id, reason: "host_deleted" });
  });

  it("keeps a per-host terminal recording switch (null follows the global one)", async () => {
    const { host } = await api.createHost(adminToken, { name: "recorded" });
    expect(host.recordSessions).toBeNull();
    const on = await api.request<{ host: { recordSessions: boolean | null } }>("PATCH", `/api/v1/hosts/${host.id}`, { token: adminToken, body: { recordSessions: true } });
    expect(on.body.host.recordSessions).toBe(true);
    expect(await requestJson(nc, AuthSubjects.getHost, { hostId: host.id }, GetHostReply)).toMatchObject({ ok: true, host: { recordSessions: true } });
    const bad = await raw("PATCH", `/api/v1/hosts/${host.id}`, { token: adminToken, body: { recordSessions: "yes" } });
    expect(bad).toMatchObject({ status: 400, body: { code: "VALIDATION_FAILED" } });
  });

  it("serves host records and pins an SSH host key on first use only", async () => {
    const { host } = await api.createHost(adminToken, { name: "pinned", ssh: { address: "127.0.0.1", port: 2222, username: "ops" } });
    expect(await requestJson(nc, AuthSubjects.getHost, { hostId: host.id }, GetHostReply)).toMatchObject({ ok: true, host: { ssh: { port: 2222 } } });
    const first = await requestJson(nc, AuthSubjects.pinHostKey, { hostId: host.id, algorithm: "ssh-ed25519", fingerprint: "SHA256:first" }, PinHostKeyReply);
    expect(first).toMatchObject({ ok: true, pinned: true, hostKey: { fingerprint: "SHA256:first" } });
    const second = await requestJson(nc, AuthSubjects.pinHostKey, { hostId: host.id, algorithm: "ssh-ed25519", fingerprint: "SHA256:other" }, PinHostKeyReply);
    expect(second).toMatchObject({ ok: true, pinned: false, hostKey: { fingerprint: "SHA256:first" } });
    await api.request("PATCH", `/api/v1/hosts/${host.id}`, { token: adminToken, body: { hostKey: null } });
    const again = await requestJson(nc, AuthSubjects.pinHostKey, { hostId: host.id, algorithm: "ssh-ed25519", fingerprint: "SHA256:other" }, PinHostKeyReply);
    expect(again).toMatchObject({ ok: true, pinned: true, hostKey: { fingerprint: "SHA256:other" } });
    expect(await requestJson(nc, AuthSubjects.getHost, { hostId: "a.b" }, GetHostReply)).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
  });
});

describe("session re-checks (auth.v1.verify.session)", () => {
  const verifySession = (sessionId: string, userId: string) => requestJson(nc, AuthSubjects.verifySession, { sessionId, userId }, VerifySessionReply);

  it("answer a live session's current principal, and refuse revoked sessions, other users and disabled users", async () => {
    const user = await api.createUser(adminToken, { username: "rechecked", password: "password-123", permissions: ["can_use_ssh_terminal"] });
    const login = await api.login(user.username, "password-123");
    const principal = await verifyAccess(login.accessToken);
    if (!principal.ok) throw new Error("login token did not verify");
    const { sessionId, userId } = principal.principal;
    expect(await verifySession(sessionId, userId)).toMatchObject({ ok: true, principal: { userId, permissions: ["can_use_ssh_terminal"] } });
    await api.updateUser(adminToken, userId, { permissions: [] });
    expect(await verifySession(sessionId, userId)).toMatchObject({ ok: true, principal: { permissions: [] } });
    expect(await verifySession(sessionId, "someone-else")).toMatchObject({ ok: false, code: "SESSION_REVOKED" });
    await api.updateUser(adminToken, userId, { disabled: true });
    expect(await verifySession(sessionId, userId)).toMatchObject({ ok: false });
    expect(await verifySession("no-such-session", userId)).toMatchObject({ ok: false, code: "SESSION_REVOKED" });
    expect(await verifySession("a.b", userId)).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
  });
});

describe("one-time tickets", () => {
  it("are single use: of 50 concurrent consumers exactly one wins", async () => {
    const { host } = await api.createHost(adminToken, { name: "ticketed" });
    const ticket = await api.ticket(adminToken, "ssh-terminal", host.id);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => consumeTicket(ticket, "ssh-terminal", host.id, { sourceAddress: `203.0.113.${i}` })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.code === "TICKET_INVALID")).toHaveLength(49);
    expect(results.find((r) => r.ok)).toMatchObject({ principal: { username: auth.adminUsername, role: "admin" } });
  });

  it("count lost races apart from logins: a 50-way race from one address has one winner and that address still signs in", async () => {
    const from = "203.0.113.200";
    const ticket = await api.ticket(adminToken, "agent-status");
    const results = await Promise.all(Array.from({ length: 50 }, () => consumeTicket(ticket, "agent-status", "*", { sourceAddress: from })));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && (r.code === "TICKET_INVALID" || r.code === "RATE_LIMITED"))).toHaveLength(49);
    const login = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: auth.adminPassword }, from });
    expect(login.status).toBe(200);
  });

  it("are limited per address at TICKET_MAX_FAILURES (RATE_LIMITED with retryAfter), while login from it still works", async () => {
    const from = "203.0.113.201";
    for (let i = 0; i < 5; i++) {
      expect(await consumeTicket(`bogus-ticket-${i}`, "bullboard", "*", { sourceAddress: from })).toMatchObject({ ok: false, code: "TICKET_INVALID" });
    }
    const ticket = await api.ticket(adminToken, "bullboard");
    const limited = await consumeTicket(ticket, "bullboard", "*", { sourceAddress: from });
    expect(limited).toMatchObject({ ok: false, code: "RATE_LIMITED", error: expect.any(String) });
    expect(limited.ok ? 0 : limited.retryAfter).toBeGreaterThan(0);
    const login = await raw("POST", "/api/v1/auth/login", { body: { username: auth.adminUsername, password: auth.adminPassword }, from });
    expect(login.status).toBe(200);
    // The refused ticket was not burnt.
    expect(await consumeTicket(ticket, "bullboard", "*", { sourceAddress: "203.0.113.202" })).toMatchObject({ ok: true });
  });

  it("are bound to purpose and target, and burnt by a mismatched attempt", async () => {
    const { host } = await api.createHost(adminToken, { name: "bound" });
    const ticket = await api.ticket(adminToken, "ssh-terminal", host.id);
    expect(await consumeTicket(ticket, "ssh-terminal", "another-host")).toMatchObject({ ok: false, code: "TICKET_MISMATCH" });
    expect(await consumeTicket(ticket, "ssh-terminal", host.id)).toMatchObject({ ok: false, code: "TICKET_INVALID" });
    const board = await api.ticket(adminToken, "bullboard");
    expect(await consumeTicket(board, "ssh-terminal", "*")).toMatchObject({ ok: false, code: "TICKET_MISMATCH" });
  });

  it("refuse unknown hosts and bad targets at issue time", async () => {
    await expectHttpError(api.ticket(adminToken, "ssh-terminal", "no-such-host"), 404, "HOST_NOT_FOUND");
    await expectHttpError(api.ticket(adminToken, "bullboard", "queue-x"), 400, "VALIDATION_FAILED");
    await expectHttpError(api.request("POST", "/api/v1/auth/ticket", { token: adminToken, body: { purpose: "root-shell" } }), 400, "VALIDATION_FAILED");
  });

  it("die with their session", async () => {
    const login = await api.login(auth.adminUsername, auth.adminPassword);
    const ticket = await api.ticket(login.accessToken, "agent-status");
    await raw("POST", "/api/v1/auth/logout", { token: login.accessToken });
    expect(await consumeTicket(ticket, "agent-status", "*")).toMatchObject({ ok: false, code: "SESSION_REVOKED" });
  });

  it("can be exchanged for a bullboard-scoped token that is useless against the API", async () => {
    const ticket = await api.ticket(adminToken, "bullboard");
    const reply = await consumeTicket(ticket, "bullboard", "*", { issueToken: { audience: "bullboard" } });
    if (!reply.ok || !reply.token) throw new Error(`expected a token: ${JSON.stringify(reply)}`);
    expect(reply.tokenExpiresAt).toBeGreaterThan(Date.now());
    expect(await verifyAccess(reply.token, "bullboard")).toMatchObject({ ok: true, principal: { username: auth.adminUsername } });
    expect(await verifyAccess(reply.token, "api")).toMatchObject({ ok: false, code: "TOKEN_INVALID" });
    expect(await verifyAccess(adminToken, "bullboard")).toMatchObject({ ok: false, code: "TOKEN_INVALID" });
  });

  it("come from PatchMon's own call too: POST /api/v1/auth/ssh-ticket {hostId}", async () => {
    const { host } = await api.createHost(adminToken, { name: "patchmon-ticket" });
    const res = await raw("POST", "/api/v1/auth/ssh-ticket", { token: adminToken, body: { hostId: host.id } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ticket: expect.any(String), expiresIn: 30 });
    expect(await consumeTicket(res.body.ticket, "ssh-terminal", host.id)).toMatchObject({ ok: true, principal: { username: auth.adminUsername } });
    expect((await raw("POST", "/api/v1/auth/ssh-ticket", { token: adminToken, body: { hostId: "no-such-host" } })).body).toMatchObject({ code: "HOST_NOT_FOUND" });
    expect((await raw("POST", "/api/v1/auth/ssh-ticket", { token: adminToken, body: {} })).status).toBe(400);
    expect((await raw("POST", "/api/v1/auth/ssh-ticket", { body: { hostId: host.id } })).status).toBe(401);
    const plain = await api.createUser(adminToken, { username: "no-terminal", password: "password-123" });
    const plainToken = (await api.login(plain.username, "password-123")).accessToken;
    const refused = await raw("POST", "/api/v1/auth/ssh-ticket", { token: plainToken, body: { hostId: host.id } });
    expect(refused).toMatchObject({ status: 403, body: { code: "FORBIDDEN" } });
  });

  it("answer malformed NATS requests with VALIDATION_FAILED", async () => {
    expect(await requestJson(nc, AuthSubjects.consumeTicket, { ticket: "x" }, ConsumeTicketReply)).toMatchObject({ ok: false, code: "VALIDATION_FAILED" });
  });
});
