/**
 * Real token expiry: auth issues dashboard tokens that live four seconds. The cookie is refused once it expires
 * (401 TOKEN_EXPIRED) and the live-event socket opened with it is closed with 1008 at that moment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventClient, boardSession, eventsUrl, getJson, sameOrigin, startBullboardStack, waitUntil, type BullboardStack } from "./bullboard-harness.js";

let stack: BullboardStack;

beforeAll(async () => {
  stack = await startBullboardStack({ authEnv: { BULLBOARD_TOKEN_TTL_SECONDS: "4" } });
});

afterAll(async () => {
  await stack?.close();
});

describe("dashboard token expiry", () => {
  it("gives the cookie the token's short lifetime, refuses it once expired and closes its socket with 1008", async () => {
    const session = await boardSession(stack.board, stack.auth, await stack.auth.adminToken());
    expect(Number(/Max-Age=(\d+)/.exec(session.setCookies[0]!)![1])).toBeLessThanOrEqual(4);
    const client = await EventClient.open(eventsUrl(stack.board), { cookie: session.cookie, origin: sameOrigin(stack.board) });
    await client.waitFor((m) => m.type === "hello", 10_000, "hello");
    expect((await getJson(`${stack.board.url}/bullboard/api/queues`, { headers: { cookie: session.cookie } })).status).toBe(200);

    const closed = await Promise.race([client.closed, new Promise<never>((_, r) => setTimeout(() => r(new Error("still open")), 10_000))]);
    expect(closed.code).toBe(1008);
    const refused = await waitUntil(
      async () => {
        const res = await getJson(`${stack.board.url}/bullboard/api/queues`, { headers: { cookie: session.cookie } });
        return res.status === 401 ? res : undefined;
      },
      5000,
      "401 for the expired cookie",
    );
    expect(refused.body).toEqual({ error: expect.any(String), code: "TOKEN_EXPIRED" });
  });
});
