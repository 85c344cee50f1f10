import { describe, expect, it } from "vitest";
import { CodedError, type Principal } from "@patchmon-ws/protocol";
import { LimitedSources, PrincipalVerifier, type TicketGrant } from "@patchmon-ws/service-kit";
import { AccessGuard, type AuthOutcome } from "../src/access-guard.js";
import { CSRF_COOKIE, SESSION_COOKIE, csrfTokenFor } from "../src/cookies.js";
import { principal } from "./fixtures.js";

const users: Record<string, Principal> = {
  "admin-token": principal({ userId: "admin", role: "admin", permissions: [] }),
  "viewer-token": principal({ userId: "viewer", permissions: ["can_view_queues"] }),
  "nobody-token": principal({ userId: "nobody", permissions: ["can_manage_hosts"] }),
};

function guard(options: { limited?: LimitedSources; exchange?: (ticket: string) => Promise<TicketGrant> } = {}) {
  const outcomes: AuthOutcome[] = [];
  const verifier = new PrincipalVerifier(
    async (token, audience) => {
      expect(audience).toBe("bullboard");
      if (token === "auth-down") throw new CodedError("DEPENDENCY_UNAVAILABLE", undefined, { retryAfter: 2 });
      const user = users[token];
      if (!user) throw new CodedError("TOKEN_INVALID");
      return user;
    },
    { audience: "bullboard", ttlMs: 1000 },
  );
  const instance = new AccessGuard({
    verifier,
    exchangeTicket: options.exchange ?? (async () => ({ principal: users["admin-token"]!, token: "admin-token", tokenExpiresAt: Date.now() + 600_000 })),
    ...(options.limited ? { limited: options.limited } : {}),
    cookieTtlSeconds: 900,
    onOutcome: (o) => outcomes.push(o),
  });
  return { guard: instance, outcomes };
}

const cookie = (token: string) => `${SESSION_COOKIE}=${token}; ${CSRF_COOKIE}=${csrfTokenFor(token)}`;
const write = (token: string, extra: Partial<{ csrf: string | undefined; origin: "allowed" | "forbidden" | "absent" }> = {}) => ({
  method: "PUT",
  cookieHeader: cookie(token),
  csrfHeader: "csrf" in extra ? extra.csrf : csrfTokenFor(token),
  origin: extra.origin ?? "allowed",
  sourceAddress: "10.0.0.1",
});

describe("AccessGuard", () => {
  it("answers 401 without a session cookie and for a token auth refuses", async () => {
    const { guard: g, outcomes } = guard();
    await expect(g.authenticate(undefined, "a")).rejects.toMatchObject({ status: 401, code: "CREDENTIALS_MISSING" });
    await expect(g.authenticate(`${SESSION_COOKIE}=forged`, "a")).rejects.toMatchObject({ status: 401, code: "TOKEN_INVALID" });
    expect(outcomes).toEqual(["missing", "invalid"]);
  });

  it("maps principals to board modes and refuses users without queue access with 403", async () => {
    const { guard: g } = guard();
    expect((await g.authenticate(cookie("admin-token"), "a")).mode).toBe("full");
    expect((await g.authenticate(cookie("viewer-token"), "a")).mode).toBe("read-only");
    await expect(g.authenticate(cookie("nobody-token"), "a")).rejects.toMatchObject({ status: 403, code: "FORBIDDEN" });
  });

  it("passes an auth outage on as 503, never 401", async () => {
    const { guard: g, outcomes } = guard();
    await expect(g.authenticate(cookie("auth-down"), "a")).rejects.toMatchObject({ status: 503, retryAfter: 2 });
    expect(outcomes).toEqual(["unavailable"]);
  });

  it("lets reads through without CSRF checks", async () => {
    const { guard: g } = guard();
    const session = await g.authorizeHttp({ method: "GET", cookieHeader: cookie("viewer-token"), csrfHeader: undefined, origin: "forbidden", sourceAddress: "a" });
    expect(session.mode).toBe("read-only");
  });

  it("requires an allowed or absent Origin and the session's CSRF token on writes", async () => {
    const { guard: g } = guard();
    await expect(g.authorizeHttp(write("admin-token"))).resolves.toMatchObject({ mode: "full" });
    await expect(g.authorizeHttp(write("admin-token", { origin: "absent" }))).resolves.toMatchObject({ mode: "full" });
    await expect(g.authorizeHttp(write("admin-token", { origin: "forbidden" }))).rejects.toMatchObject({ status: 403, code: "ORIGIN_FORBIDDEN" });
    await expect(g.authorizeHttp(write("admin-token", { csrf: undefined }))).rejects.toMatchObject({ status: 403, code: "FORBIDDEN" });
    await expect(g.authorizeHttp(write("admin-token", { csrf: csrfTokenFor("viewer-token") }))).rejects.toMatchObject({ status: 403 });
  });

  it("refuses every write on the read-only board, even with a valid CSRF token", async () => {
    const { guard: g } = guard();
    await expect(g.authorizeHttp(write("viewer-token"))).rejects.toMatchObject({ status: 403, message: expect.stringContaining("Read-only") });
  });

  it("passes auth's RATE_LIMITED on, then refuses that address everywhere with 429 and Retry-After until it ends", async () => {
    let now = 1_000_000;
    const calls: string[] = [];
    const { guard: g, outcomes } = guard({
      limited: new LimitedSources(100, () => now),
      exchange: async (ticket) => {
        calls.push(ticket);
        throw new CodedError("RATE_LIMITED", undefined, { retryAfter: 30 });
      },
    });
    await expect(g.exchangeTicket("a-valid-looking-ticket", "6.6.6.6")).rejects.toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfter: 30 });
    now += 10_000;
    await expect(g.exchangeTicket("another-valid-looking-ticket", "6.6.6.6")).rejects.toMatchObject({ status: 429, retryAfter: 20 });
    await expect(g.exchangeTicket("short", "6.6.6.6")).rejects.toMatchObject({ status: 429, retryAfter: 20 });
    await expect(g.authenticate(cookie("admin-token"), "6.6.6.6")).rejects.toMatchObject({ status: 429, code: "RATE_LIMITED", retryAfter: 20 });
    expect(calls).toEqual(["a-valid-looking-ticket"]);
    await expect(g.authenticate(cookie("admin-token"), "7.7.7.7")).resolves.toMatchObject({ mode: "full" });
    now += 20_000;
    await expect(g.authenticate(cookie("admin-token"), "6.6.6.6")).resolves.toMatchObject({ mode: "full" });
    expect(outcomes).toEqual(["rate_limited", "rate_limited", "rate_limited", "rate_limited", "ok", "ok"]);
  });

  it("keeps no count of its own: bad cookies and bad tickets stay 401, an auth outage is not remembered", async () => {
    let answer: () => never = () => {
      throw new CodedError("TICKET_INVALID");
    };
    const { guard: g } = guard({ exchange: async () => answer() });
    for (let i = 0; i < 50; i++) {
      await expect(g.authenticate(`${SESSION_COOKIE}=bad${i}`, "6.6.6.6")).rejects.toMatchObject({ status: 401 });
      await expect(g.exchangeTicket(`unknown-ticket-${i}`, "6.6.6.6")).rejects.toMatchObject({ status: 401, code: "TICKET_INVALID" });
    }
    answer = () => {
      throw new CodedError("DEPENDENCY_UNAVAILABLE", undefined, { retryAfter: 2 });
    };
    await expect(g.exchangeTicket("a-valid-looking-ticket", "6.6.6.6")).rejects.toMatchObject({ status: 503, retryAfter: 2 });
    await expect(g.authenticate(cookie("admin-token"), "6.6.6.6")).resolves.toMatchObject({ mode: "full" });
  });

  it("exchanges a ticket for a session with the token's lifetime as cookie age", async () => {
    const { guard: g } = guard({
      exchange: async () => ({ principal: users["viewer-token"]!, token: "viewer-token", tokenExpiresAt: Date.now() + 120_500 }),
    });
    const grant = await g.exchangeTicket("abcdefghijklmnop", "a");
    expect(grant).toMatchObject({ mode: "read-only", token: "viewer-token" });
    expect(grant.maxAgeSeconds).toBeGreaterThanOrEqual(119);
    expect(grant.maxAgeSeconds).toBeLessThanOrEqual(120);
  });

  it("refuses malformed tickets without a round trip, and users without queue access after the exchange", async () => {
    let calls = 0;
    const { guard: g } = guard({
      exchange: async () => (calls++, { principal: users["nobody-token"]!, token: "nobody-token", tokenExpiresAt: undefined }),
    });
    await expect(g.exchangeTicket("short", "a")).rejects.toMatchObject({ status: 401, code: "TICKET_INVALID" });
    await expect(g.exchangeTicket("bad ticket with spaces!", "a")).rejects.toMatchObject({ status: 401 });
    expect(calls).toBe(0);
    await expect(g.exchangeTicket("abcdefghijklmnop", "a")).rejects.toMatchObject({ status: 403, code: "FORBIDDEN" });
  });
});
