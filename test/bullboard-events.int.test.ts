/**
 * The live-event socket against real servers: handshake rejections, a job's lifecycle in order, queues discovered
 * in Redis, revocation closing sockets, and a Redis restart in the middle of a stream.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EventClient,
  QueueFixture,
  UpgradeRejected,
  boardSession,
  createUserSession,
  eventsUrl,
  getJson,
  sameOrigin,
  startBullboardStack,
  waitUntil,
  type BoardSession,
  type BullboardStack,
} from "./bullboard-harness.js";

let stack: BullboardStack;
let admin: BoardSession;
let agentCommands: QueueFixture;
const clients: EventClient[] = [];
const fixtures: QueueFixture[] = [];

/** Auth's ticket limit, low so a test reaches it; the dashboard keeps no limit of its own. */
const TICKET_MAX_FAILURES = 3;

beforeAll(async () => {
  stack = await startBullboardStack({ authEnv: { TICKET_MAX_FAILURES: String(TICKET_MAX_FAILURES) } });
  admin = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
  agentCommands = new QueueFixture("agent-commands", stack.redis.url);
  fixtures.push(agentCommands);
  agentCommands.startWorker();
});

afterAll(async () => {
  for (const client of clients) client.close();
  await Promise.allSettled(fixtures.map((f) => f.close()));
  await stack?.close();
});

async function open(session: Pick<BoardSession, "cookie">, origin = sameOrigin(stack.board)): Promise<EventClient> {
  const client = await EventClient.open(eventsUrl(stack.board), { cookie: session.cookie, origin });
  clients.push(client);
  await client.waitFor((m) => m.type === "hello", 10_000, "hello");
  return client;
}

async function rejection(headers: Record<string, string>, url = eventsUrl(stack.board)): Promise<UpgradeRejected> {
  try {
    const client = await EventClient.open(url, headers);
    client.close();
  } catch (err) {
    if (err instanceof UpgradeRejected) return err;
    throw err;
  }
  throw new Error("the upgrade was accepted");
}

describe("live-event socket handshake", () => {
  it("refuses a cross-origin socket with 403 before the upgrade", async () => {
    const refused = await rejection({ cookie: admin.cookie, origin: "https://evil.example" });
    expect(refused.status).toBe(403);
    expect(refused.json).toEqual({ error: expect.any(String), code: "ORIGIN_FORBIDDEN" });
  });

  it("refuses a socket without Origin (browser endpoint) with 403", async () => {
    expect((await rejection({ cookie: admin.cookie })).status).toBe(403);
  });

  it("refuses missing, random and forged cookies with 401", async () => {
    const origin = sameOrigin(stack.board);
    expect((await rejection({ origin })).json).toMatchObject({ code: "CREDENTIALS_MISSING" });
    const random = await rejection({ origin, cookie: `pmws_bullboard=${randomBytes(20).toString("hex")}` });
    expect(random.status).toBe(401);
    const [header, payload] = admin.token.split(".");
    const forged = await rejection({ origin, cookie: `pmws_bullboard=${header}.${payload}.${randomBytes(32).toString("base64url")}` });
    expect(forged).toMatchObject({ status: 401 });
  });

  it("refuses with 429 and auth's Retry-After an address auth answered RATE_LIMITED, even with a valid cookie", async () => {
    // An address of its own (loopback is a trusted proxy), so the limit bites no other test.
    const from = { "x-forwarded-for": "198.51.100.31" };
    const unknownTicket = () => getJson(`${stack.board.url}/bullboard?ticket=${randomBytes(32).toString("base64url")}`, { headers: from });
    for (let i = 0; i < TICKET_MAX_FAILURES; i++) expect((await unknownTicket()).status).toBe(401);
    expect((await unknownTicket()).status).toBe(429);
    const refused = await rejection({ ...from, cookie: admin.cookie, origin: sameOrigin(stack.board) });
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual({ error: expect.any(String), code: "RATE_LIMITED" });
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    (await open(admin)).close();
  });

  it("answers 404 JSON for other upgrade paths", async () => {
    const refused = await rejection({ cookie: admin.cookie, origin: sameOrigin(stack.board) }, `ws://127.0.0.1:${stack.board.port}/bullboard/echo`);
    expect(refused.status).toBe(404);
    expect(refused.json).toMatchObject({ code: "NOT_FOUND" });
  });

  it("greets with the user, mode, queues and current counts", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const client = await open(await boardSession(stack.board, stack.auth, viewer.accessToken));
    const hello = client.messages[0]!;
    expect(hello).toMatchObject({ type: "hello", v: 1, user: { username: viewer.username, mode: "read-only" } });
    expect(hello.queues).toContain("agent-commands");
    await client.waitFor((m) => m.type === "status" && m.redis === "up", 10_000, "redis status");
    await client.waitFor((m) => m.type === "counts" && m.queue === "agent-commands", 10_000, "counts");
    client.close();
  });
});

describe("live job events", () => {
  it("streams a job's lifecycle in order: added → active → completed, and a failure", async () => {
    const client = await open(admin);
    const done = await agentCommands.queue.add("report_now", { ok: true });
    const failed = await agentCommands.queue.add("update_agent", { fail: true }, { attempts: 1 });

    await client.waitFor((m) => m.type === "job" && m.jobId === done.id && m.event === "completed", 15_000, "completed");
    const doneEvents = client.jobEvents("agent-commands", done.id!);
    expect(doneEvents.filter((e) => ["added", "active", "completed"].includes(e))).toEqual(["added", "active", "completed"]);
    expect(doneEvents).toContain("progress");
    expect(doneEvents.indexOf("progress")).toBeGreaterThan(doneEvents.indexOf("active"));
    const added = client.messages.find((m) => m.type === "job" && m.jobId === done.id && m.event === "added")!;
    expect(added).toMatchObject({ queue: "agent-commands", name: "report_now", eventId: expect.stringMatching(/^\d+-\d+$/) });

    const failure = await client.waitFor((m) => m.type === "job" && m.jobId === failed.id && m.event === "failed", 15_000, "failed");
    expect(failure).toMatchObject({ failedReason: "deliberate failure", prev: "active" });
    const failedEvents = client.jobEvents("agent-commands", failed.id!);
    expect(failedEvents.filter((e) => ["added", "active", "failed"].includes(e))).toEqual(["added", "active", "failed"]);

    await client.waitFor((m) => m.type === "counts" && m.queue === "agent-commands" && m.counts.failed >= 1 && m.counts.completed >= 1, 10_000, "updated counts");
    client.close();
  });

  it("narrows a socket to the queues it subscribes to", async () => {
    const client = await open(admin);
    client.ws.send(JSON.stringify({ type: "subscribe", queues: ["some-other-queue"] }));
    await client.waitFor((m) => m.type === "subscribed", 10_000, "subscribed");
    const job = await agentCommands.queue.add("report_now", { ok: true });
    const watcher = await open(admin);
    await agentCommands.queue.add("report_now", { ok: true });
    await watcher.waitFor((m) => m.type === "job" && m.event === "completed" && m.jobId !== job.id, 15_000, "a later completion");
    expect(client.messages.filter((m) => m.type === "job")).toEqual([]);
    client.ws.send("not json");
    expect(await client.waitFor((m) => m.type === "error", 10_000, "error")).toMatchObject({ code: "VALIDATION_FAILED" });
    client.close();
    watcher.close();
  });

  it("picks up a queue that appears in Redis without a restart, and streams its events", async () => {
    const name = `discovered-${randomBytes(4).toString("hex")}`;
    const client = await open(admin);
    const fixture = new QueueFixture(name, stack.redis.url);
    fixtures.push(fixture);
    await fixture.queue.add("first", {});
    await client.waitFor((m) => m.type === "queues" && m.queues.includes(name), 10_000, "the discovered queue");
    const listed = await getJson(`${stack.board.url}/bullboard/api/queues`, { headers: { cookie: admin.cookie } });
    expect((listed.body.queues as { name: string }[]).map((q) => q.name)).toContain(name);

    const second = await fixture.queue.add("second", {});
    await client.waitFor((m) => m.type === "job" && m.queue === name && m.jobId === second.id && m.event === "added", 10_000, "added on the new queue");
    await client.waitFor((m) => m.type === "counts" && m.queue === name && m.counts.waiting === 2, 10_000, "its counts");

    await fixture.queue.obliterate({ force: true });
    await client.waitFor((m) => m.type === "queues" && !m.queues.includes(name), 10_000, "the queue gone");
    client.close();
  });
});

describe("live socket revocation", () => {
  /**
   * Closed within the contract's second, with the code and the event's reason in the close: the event closed it.
   * Nothing else could have: the dashboard token lives 15 minutes, and sockets are never re-verified on a timer.
   */
  const closedWithin = (client: { closed: Promise<{ code: number; reason: string }> }, startedAt: number) =>
    Promise.race([
      client.closed.then((closed) => ({ ...closed, ms: Date.now() - startedAt })),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still open a second after the revocation")), 1000 - (Date.now() - startedAt))),
    ]);

  it("closes the socket with 4001 when the session logs out, within a second", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const client = await open(await boardSession(stack.board, stack.auth, viewer.accessToken));
    const revokedAt = Date.now();
    await stack.auth.client.request("POST", "/api/v1/auth/logout", { token: viewer.accessToken });
    const closed = await closedWithin(client, revokedAt);
    expect(closed).toMatchObject({ code: 4001, reason: "credentials revoked (logout)" });
    expect(closed.ms).toBeLessThan(1000);
  });

  it("closes the socket with 4001 when queue access is withdrawn, and keeps it for unrelated changes", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const client = await open(await boardSession(stack.board, stack.auth, viewer.accessToken));
    const adminToken = await stack.auth.adminToken();
    await stack.auth.client.updateUser(adminToken, viewer.id, { permissions: ["can_view_queues", "can_manage_hosts"] });
    // Unrelated change: the socket stays; prove it by seeing a later event on it.
    const later = await agentCommands.queue.add("report_now", { ok: true });
    await client.waitFor((m) => m.type === "job" && m.jobId === later.id && m.event === "completed", 15_000, "event after an unrelated change");
    const withdrawnAt = Date.now();
    await stack.auth.client.updateUser(adminToken, viewer.id, { permissions: [] });
    const closed = await closedWithin(client, withdrawnAt);
    expect(closed).toMatchObject({ code: 4001, reason: "queue access withdrawn" });
  });

  it("closes the socket with 4001 when the user is disabled, within a second", async () => {
    const viewer = await createUserSession(stack.auth, ["can_view_queues"]);
    const client = await open(await boardSession(stack.board, stack.auth, viewer.accessToken));
    const disabledAt = Date.now();
    await stack.auth.client.updateUser(await stack.auth.adminToken(), viewer.id, { disabled: true });
    const closed = await closedWithin(client, disabledAt);
    expect(closed).toMatchObject({ code: 4001, reason: "credentials revoked (user_disabled)" });
  });
});

describe("Redis outage", () => {
  it("answers 503 while Redis is down, keeps the socket, and streams again once Redis is back", async () => {
    const client = await open(admin);
    await client.waitFor((m) => m.type === "status" && m.redis === "up", 10_000, "redis up");
    await stack.redis.stop();

    await client.waitFor((m) => m.type === "status" && m.redis === "down", 10_000, "redis down on the socket");
    const down = await getJson(`${stack.board.url}/bullboard/api/queues`, { headers: { cookie: admin.cookie } });
    expect(down).toMatchObject({ status: 503, body: { code: "DEPENDENCY_UNAVAILABLE" } });
    expect(Number(down.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await getJson(`${stack.board.url}/readyz`)).status).toBe(503);
    expect((await getJson(`${stack.board.url}/healthz`)).status).toBe(200);

    const upBefore = client.messages.filter((m) => m.type === "status" && m.redis === "up").length;
    await stack.redis.restart();
    await client.waitFor(
      (m) => m.type === "status" && m.redis === "up" && client.messages.filter((x) => x.type === "status" && x.redis === "up").length > upBefore,
      20_000,
      "redis up again",
    );
    await waitUntil(async () => (await getJson(`${stack.board.url}/bullboard/api/queues`, { headers: { cookie: admin.cookie } })).status === 200, 20_000, "the API back");

    // Redis came back empty, so job ids start over: only look at messages from now on.
    const since = client.messages.length;
    const after = await waitUntil(() => agentCommands.queue.add("report_now", { ok: true }).catch(() => undefined), 20_000, "a job added after the restart");
    await client.waitFor((m) => m.type === "job" && m.jobId === after.id && m.event === "completed", 30_000, "events after the restart", since);
    expect(client.jobEvents("agent-commands", after.id!, since).filter((e) => ["added", "active", "completed"].includes(e))).toEqual(["added", "active", "completed"]);
    client.close();
  });
});

describe("drain", () => {
  it("closes live sockets with 1012 on SIGTERM and exits cleanly", async () => {
    const board = await stack.startBoard();
    const session = await boardSession(board, stack.auth, await stack.auth.adminToken());
    const client = await EventClient.open(eventsUrl(board), { cookie: session.cookie, origin: sameOrigin(board) });
    clients.push(client);
    await client.waitFor((m) => m.type === "hello", 10_000, "hello");
    const exitCode = await board.stop();
    expect(await client.closed).toMatchObject({ code: 1012 });
    expect(exitCode).toBe(0);
  });
});
