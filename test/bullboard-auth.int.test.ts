/**
 * The dashboard's HTTP side against real servers: the ticket exchange, cookie verification through the auth
 * service, the read-only board, CSRF, revocation, rate limiting and an auth outage.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  QueueFixture,
  boardSession,
  createUserSession,
  getJson,
  jwtClaims,
  signJwt,
  startBullboardStack,
  waitUntil,
  type BoardSession,
  type BullboardStack,
} from "./bullboard-harness.js";

let stack: BullboardStack;
let base: string;
let agentCommands: QueueFixture;
let failedJobId: string;

/** Auth's ticket limit, low so a test reaches it; the dashboard keeps no limit of its own. */
const TICKET_MAX_FAILURES = 5;

beforeAll(async () => {
  stack = await startBullboardStack({ authEnv: { TICKET_MAX_FAILURES: String(TICKET_MAX_FAILURES) } });
  base = `${stack.board.url}/bullboard`;
  agentCommands = new QueueFixture("agent-commands", stack.redis.url);
  agentCommands.startWorker();
  const job = await agentCommands.queue.add("update_agent", { fail: true }, { attempts: 1 });
  failedJobId = job.id!;
  await waitUntil(async () => (await agentCommands.queue.getJobState(failedJobId)) === "failed", 15_000, "a failed job");
});

afterAll(async () => {
  await agentCommands?.close();
  await stack?.close();
});

const withCookie = (session: Pick<BoardSession, "cookie">, init: RequestInit = {}): RequestInit => ({
  ...init,
  headers: { cookie: session.cookie, ...(init.headers as Record<string, string> | undefined) },
});

const write = (session: BoardSession, headers: Record<string, string> = {}): RequestInit =>
  withCookie(session, { method: "PUT", headers: { "x-xsrf-token": session.csrf, ...headers } });

function expectSecurityHeaders(headers: Headers): void {
  expect(headers.get("content-security-policy")).toContain("frame-ancestors 'self'");
  expect(headers.get("x-frame-options")).toBe("SAMEORIGIN");
  expect(headers.get("cache-control")).toBe("no-store");
}

describe("bullboard sign-in", () => {
  it("exchanges a ticket for HttpOnly SameSite=Strict cookies on /bullboard and redirects without the ticket", async () => {
    const ticket = await stack.auth.client.ticket(await stack.auth.adminToken(), "bullboard");
    const res = await fetch(`${base}/queue/agent-commands?status=failed&ticket=${ticket}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/bullboard/queue/agent-commands?status=failed");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const [session, csrf] = res.headers.getSetCookie();
    expect(session).toMatch(/^pmws_bullboard=[\w-]+\.[\w-]+\.[\w-]+; Max-Age=\d+; Path=\/bullboard; HttpOnly; SameSite=Strict$/);
    expect(csrf).toMatch(/^XSRF-TOKEN=[\w-]{43}; Max-Age=\d+; Path=\/bullboard; SameSite=Strict$/);
    expect(Number(/Max-Age=(\d+)/.exec(session!)![1])).toBeGreaterThan(60);
  });

  it("marks the cookies Secure when a trusted proxy says the client used https", async () => {
    const ticket = await stack.auth.client.ticket(await stack.auth.adminToken(), "bullboard");
    const res = await fetch(`${base}?ticket=${ticket}`, { redirect: "manual", headers: { "x-forwarded-proto": "https" } });
    expect(res.status).toBe(303);
    for (const cookie of res.headers.getSetCookie()) expect(cookie).toContain("; Secure");
  });

  it("refuses a reused ticket with 401", async () => {
    const ticket = await stack.auth.client.ticket(await stack.auth.adminToken(), "bullboard");
    expect((await fetch(`${base}?ticket=${ticket}`, { redirect: "manual" })).status).toBe(303);
    const again = await getJson(`${base}?ticket=${ticket}`, { redirect: "manual" });
    expect(again.status).toBe(401);
    expect(again.body).toEqual({ error: expect.any(String), code: "TICKET_INVALID" });
    expectSecurityHeaders(again.headers);
  });

  it("refuses unknown, malformed and repeated ticket parameters", async () => {
    const unknown = await getJson(`${base}?ticket=${randomBytes(32).toString("base64url")}`);
    expect(unknown).toMatchObject({ status: 401, body: { code: "TICKET_INVALID" } });
    const malformed = await getJson(`${base}?ticket=${encodeURIComponent("<script>")}`);
    expect(malformed).toMatchObject({ status: 401, body: { code: "TICKET_INVALID" } });
    const twice = await getJson(`${base}?ticket=a&ticket=b`);
    expect(twice).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
  });

  it("refuses a ticket issued for another purpose with 403", async () => {
    const ticket = await stack.auth.client.ticket(await stack.auth.adminToken(), "agent-status");
    const res = await getJson(`${base}?ticket=${ticket}`);
    expect(res).toMatchObject({ status: 403, body: { code: "TICKET_MISMATCH" } });
  });
});

describe("bullboard cookie verification", () => {
  it("answers 401 JSON without a cookie, for the page and the API", async () => {
    for (const path of ["", "/", "/api/queues", "/static/js/does-not-matter.js"]) {
      const res = await getJson(`${base}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), code: "CREDENTIALS_MISSING" });
      expectSecurityHeaders(res.headers);
    }
  });

  it("answers 401 for random and forged cookies", async () => {
    const random = await getJson(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${randomBytes(24).toString("hex")}` } });
    expect(random).toMatchObject({ status: 401, body: { code: "TOKEN_INVALID" } });

    const real = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const claims = jwtClaims(real.token);
    const forged = signJwt(claims, randomBytes(32).toString("hex"));
    const forgedRes = await getJson(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${forged}` } });
    expect(forgedRes).toMatchObject({ status: 401, body: { code: "TOKEN_INVALID" } });

    const unsigned = `${real.token.split(".").slice(0, 2).join(".")}.`;
    expect((await getJson(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${unsigned}` } })).status).toBe(401);
  });

  it("answers 401 for an expired cookie (right key, past expiry)", async () => {
    const real = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ ...jwtClaims(real.token), iat: now - 120, exp: now - 60 }, stack.auth.jwtSecret);
    const res = await getJson(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${expired}` } });
    expect(res).toMatchObject({ status: 401, body: { code: "TOKEN_EXPIRED" } });
  });

  it("refuses an API access token as a dashboard cookie (wrong audience)", async () => {
    const res = await getJson(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${await stack.auth.adminToken()}` } });
    expect(res.status).toBe(401);
  });

  it("serves the board, its assets and the queue list to an admin", async () => {
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const page = await fetch(`${base}/`, withCookie(admin));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<base href="/bullboard/"');
    expectSecurityHeaders(page.headers);
    const script = /src="(static\/js\/main[^"]+)"/.exec(html)![1]!;
    const asset = await fetch(`${base}/${script}`, withCookie(admin));
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("private, no-cache");
    await asset.arrayBuffer();

    const queues = await getJson(`${base}/api/queues`, withCookie(admin));
    expect(queues.status).toBe(200);
    expect(queues.headers.get("cache-control")).toBe("no-store");
    const names = (queues.body.queues as { name: string }[]).map((q) => q.name);
    expect(names).toContain("agent-commands");
    expect(queues.body.queues.find((q: any) => q.name === "agent-commands")).toMatchObject({ readOnlyMode: false, counts: { failed: 1 } });
  });

  it("re-issues a missing CSRF cookie on the next authenticated request", async () => {
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const res = await fetch(`${base}/api/queues`, { headers: { cookie: `pmws_bullboard=${admin.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual([expect.stringMatching(new RegExp(`^XSRF-TOKEN=${admin.csrf};`))]);
    await res.arrayBuffer();
  });
});

describe("bullboard authorization", () => {
  it("refuses a user without can_view_queues a ticket, and the board once the permission is withdrawn (403)", async () => {
    const nobody = await createUserSession(stack.auth, ["can_manage_hosts"]);
    await expect(stack.auth.client.ticket(nobody.accessToken, "bullboard")).rejects.toMatchObject({ status: 403 });

    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const session = await boardSession(stack.board, stack.auth, viewer.accessToken);
    expect((await getJson(`${base}/api/queues`, withCookie(session))).status).toBe(200);
    await stack.auth.client.updateUser(await stack.auth.adminToken(), viewer.id, { permissions: [] });
    const refused = await waitUntil(
      async () => {
        const res = await getJson(`${base}/api/queues`, withCookie(session));
        return res.status === 403 ? res : undefined;
      },
      5000,
      "403 after the permission was withdrawn",
    );
    expect(refused.body).toEqual({ error: expect.stringContaining("can_view_queues"), code: "FORBIDDEN" });
  });

  it("gives can_view_queues a read-only board that cannot retry or delete a job", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const session = await boardSession(stack.board, stack.auth, viewer.accessToken);
    const page = await fetch(`${base}/`, withCookie(session));
    expect(await page.text()).toContain("(read-only)");
    const queues = await getJson(`${base}/api/queues`, withCookie(session));
    expect(queues.body.queues.find((q: any) => q.name === "agent-commands")).toMatchObject({ readOnlyMode: true, allowRetries: false });

    for (const action of ["retry", "clean"]) {
      const res = await getJson(`${base}/api/queues/agent-commands/${failedJobId}/${action}`, write(session));
      expect(res.status, action).toBe(403);
      expect(res.body).toEqual({ error: expect.stringContaining("Read-only"), code: "FORBIDDEN" });
    }
    const add = await getJson(`${base}/api/queues/agent-commands/add`, {
      ...write(session),
      method: "POST",
      headers: { ...(write(session).headers as Record<string, string>), "content-type": "application/json" },
      body: JSON.stringify({ name: "x", data: {} }),
    });
    expect(add.status).toBe(403);
    expect(await agentCommands.queue.getJobState(failedJobId)).toBe("failed");
  });

  it("makes admin writes pass only with the session's CSRF token and an allowed Origin", async () => {
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const retry = `${base}/api/queues/agent-commands/${failedJobId}/retry`;

    const noToken = await getJson(retry, withCookie(admin, { method: "PUT" }));
    expect(noToken).toMatchObject({ status: 403, body: { code: "FORBIDDEN", error: expect.stringContaining("CSRF") } });
    const secondLogin = await stack.auth.client.login(stack.auth.adminUsername, stack.auth.adminPassword);
    const otherSession = await boardSession(stack.board, stack.auth, secondLogin.accessToken);
    expect(otherSession.csrf).not.toBe(admin.csrf);
    const wrongToken = await getJson(retry, withCookie(admin, { method: "PUT", headers: { "x-xsrf-token": otherSession.csrf } }));
    expect(wrongToken.status).toBe(403);
    const crossOrigin = await getJson(retry, write(admin, { origin: "https://evil.example" }));
    expect(crossOrigin).toMatchObject({ status: 403, body: { code: "ORIGIN_FORBIDDEN" } });
    expect(await agentCommands.queue.getJobState(failedJobId)).toBe("failed");

    const attemptsBefore = (await agentCommands.queue.getJob(failedJobId))!.attemptsMade;
    const ok = await fetch(retry, write(admin, { origin: stack.board.url }));
    expect(ok.status).toBe(204);
    // The worker runs the retried job again; it fails again by design, one attempt later.
    await waitUntil(
      async () => {
        const job = await agentCommands.queue.getJob(failedJobId);
        return job && job.attemptsMade > attemptsBefore && (await job.getState()) === "failed";
      },
      10_000,
      "the retried job to run again",
    );
  });
});

describe("bullboard revocation and limits", () => {
  it("loses access within about a second of logout", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const session = await boardSession(stack.board, stack.auth, viewer.accessToken);
    expect((await getJson(`${base}/api/queues`, withCookie(session))).status).toBe(200);
    await stack.auth.client.request("POST", "/api/v1/auth/logout", { token: viewer.accessToken });
    const started = Date.now();
    await waitUntil(async () => (await getJson(`${base}/api/queues`, withCookie(session))).status === 401, 5000, "401 after logout");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("answers 429 with auth's Retry-After once auth's ticket limit is reached, then refuses that address on every path", async () => {
    // An address of its own (loopback is a trusted proxy), so the limit bites no other test.
    const from = { "x-forwarded-for": "198.51.100.29" };
    const unknownTicket = () => getJson(`${base}?ticket=${randomBytes(32).toString("base64url")}`, { headers: from });
    for (let i = 0; i < TICKET_MAX_FAILURES; i++) expect((await unknownTicket()).status).toBe(401);
    const limited = await unknownTicket();
    expect(limited).toMatchObject({ status: 429, body: { error: expect.any(String), code: "RATE_LIMITED" } });
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expectSecurityHeaders(limited.headers);

    // Remembered by the board: a real ticket and a real cookie from that address are refused without asking auth,
    // so the ticket stays unspent and signs in from another address.
    const ticket = await stack.auth.client.ticket(await stack.auth.adminToken(), "bullboard");
    const refused = await getJson(`${base}?ticket=${ticket}`, { headers: from, redirect: "manual" });
    expect(refused).toMatchObject({ status: 429, body: { error: expect.any(String), code: "RATE_LIMITED" } });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    const page = await getJson(`${base}/api/queues`, withCookie(admin, { headers: from }));
    expect(page).toMatchObject({ status: 429, body: { code: "RATE_LIMITED" } });
    expect((await fetch(`${base}?ticket=${ticket}`, { redirect: "manual" })).status).toBe(303);
  });

  it("counts no failed cookie verifications: tokens are signed by auth and cannot be guessed", async () => {
    const from = { "x-forwarded-for": "198.51.100.30" };
    for (let i = 0; i <= TICKET_MAX_FAILURES * 2; i++) {
      const res = await getJson(`${base}/api/queues`, { headers: { ...from, cookie: `pmws_bullboard=bad${i}` } });
      expect(res).toMatchObject({ status: 401, body: { code: "TOKEN_INVALID" } });
    }
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    expect((await getJson(`${base}/api/queues`, withCookie(admin, { headers: from }))).status).toBe(200);
  });

  it("answers 404 JSON next to the board and for unknown paths", async () => {
    expect(await getJson(`${stack.board.url}/bullboardx`)).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    expect((await getJson(`${base}/no/such/page`, withCookie(admin))).status).toBe(404);
    expect(await getJson(`${base}/events`, withCookie(admin))).toMatchObject({ status: 400, body: { code: "BAD_REQUEST" } });
  });

  it("counts authentication outcomes and ticket exchanges in /metrics", async () => {
    const metrics = await (await fetch(`${stack.board.url}/metrics`)).text();
    expect(metrics).toMatch(/bullboard_auth_results_total\{outcome="ok",service="bullboard"\} [1-9]/);
    expect(metrics).toMatch(/bullboard_auth_results_total\{outcome="invalid",service="bullboard"\} [1-9]/);
    expect(metrics).toMatch(/bullboard_ticket_exchanges_total\{result="rejected",service="bullboard"\} [1-9]/);
    expect(metrics).toMatch(/bullboard_redis_up\{service="bullboard"\} 1/);
    expect(metrics).toMatch(/bullboard_queues\{service="bullboard"\} [1-9]/);
  });

  it("answers 503 with Retry-After when auth is down, never 401", async () => {
    const admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    await stack.auth.service.stop();
    await new Promise((r) => setTimeout(r, 1100)); // let the ≤1 s verdict cache lapse
    const res = await getJson(`${base}/api/queues`, withCookie(admin));
    expect(res).toMatchObject({ status: 503, body: { code: "DEPENDENCY_UNAVAILABLE" } });
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    const ticket = await getJson(`${base}?ticket=${randomBytes(32).toString("base64url")}`);
    expect(ticket).toMatchObject({ status: 503, body: { code: "DEPENDENCY_UNAVAILABLE" } });
  });
});
