/**
 * One behaviour suite for the auth core, run against every storage backend (BullMQ style): the in-memory store
 * (auth-core.memory.test.ts, no NATS) and JetStream KV on a real nats-server (auth-core.jetstream.test.ts). Both
 * must pass the same assertions; a backend only says how to make a fresh, empty store and replicas over it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CodedError, type Principal } from "@patchmon-ws/protocol";
import { AuthCore, storageLifetimes, type AuthCoreConfig } from "../src/auth-core.js";
import type { AuthStorage, StorageLifetimes } from "../src/auth-storage.js";
import type { Revocation, RevocationSink } from "../src/revocations.js";

/** A fresh, empty store. Every `replica()` is another auth process's view of the same data. */
export interface BackendInstance {
  replica(lifetimes: StorageLifetimes): Promise<AuthStorage>;
  dispose(): Promise<void>;
}

export interface StorageBackend {
  name: string;
  fresh(): Promise<BackendInstance>;
}

/** Keeps what the core announces, so tests can assert on revocations. */
export class RecordingRevocationSink implements RevocationSink {
  readonly events: Revocation[] = [];
  publish(revocation: Revocation): void {
    this.events.push(revocation);
  }
}

export const testConfig = (overrides: Partial<AuthCoreConfig> = {}): AuthCoreConfig => ({
  JWT_SECRET: "j".repeat(32),
  JWT_PREVIOUS_SECRETS: [],
  ACCESS_TOKEN_TTL_SECONDS: 900,
  REFRESH_TOKEN_TTL_SECONDS: 3600,
  REFRESH_REUSE_GRACE_SECONDS: 1,
  BULLBOARD_TOKEN_TTL_SECONDS: 900,
  TICKET_TTL_SECONDS: 30,
  PASSWORD_HASH_COST: 10,
  LOGIN_MAX_FAILURES: 3,
  LOGIN_FAILURE_WINDOW_SECONDS: 300,
  AGENT_AUTH_MAX_FAILURES: 3,
  AGENT_AUTH_FAILURE_WINDOW_SECONDS: 60,
  TICKET_MAX_FAILURES: 30,
  TICKET_FAILURE_WINDOW_SECONDS: 60,
  ...overrides,
});

export async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    return err instanceof CodedError ? err.code : `not coded: ${String(err)}`;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function describeAuthCore(backend: StorageBackend): void {
  describe(`auth core on ${backend.name}`, () => {
    let instance: BackendInstance;
    const opened: AuthStorage[] = [];

    beforeEach(async () => {
      instance = await backend.fresh();
    });
    afterEach(async () => {
      for (const storage of opened.splice(0)) storage.close();
      await instance.dispose();
    });

    /** An auth replica (the core, without HTTP or NATS adapters) over the backend's current store. */
    async function replica(overrides: Partial<AuthCoreConfig> = {}) {
      const config = testConfig(overrides);
      const storage = await instance.replica(storageLifetimes(config));
      opened.push(storage);
      const revocations = new RecordingRevocationSink();
      return { core: new AuthCore(storage, revocations, config), storage, revocations, config };
    }

    async function withAdmin(overrides: Partial<AuthCoreConfig> = {}) {
      const r = await replica(overrides);
      await r.core.users.bootstrapAdmin("admin", "admin-password");
      const { tokens } = await r.core.login("admin", "admin-password", "192.0.2.1");
      const principal = await r.core.verifyAccess(tokens.accessToken, "api");
      return { ...r, tokens, principal };
    }

    describe("storage collections", () => {
      it("create once, update by compare-and-set on the revision, delete once", async () => {
        const { storage } = await replica();
        const pointers = storage.apiIds;
        const first = await pointers.create("k1", { id: "a" });
        expect(await codeOf(pointers.create("k1", { id: "b" }))).toBe("CONFLICT");
        const second = await pointers.update("k1", { id: "b" }, first);
        expect(second).toBeGreaterThan(first);
        expect(await codeOf(pointers.update("k1", { id: "c" }, first))).toBe("CONFLICT");
        expect(await pointers.fetch("k1")).toEqual({ value: { id: "b" }, revision: second });
        expect(await pointers.delete("k1", first)).toBe(false);
        expect(await pointers.delete("k1", second)).toBe(true);
        expect(await pointers.fetch("k1")).toBeUndefined();
        expect(await codeOf(pointers.update("k1", { id: "d" }, second))).toBe("CONFLICT");
        // A deleted key can be created again.
        expect(await pointers.create("k1", { id: "e" })).toBeGreaterThan(second);
      });

      it("modify retries on concurrent change so no update is lost", async () => {
        const a = await replica();
        const b = await replica();
        await a.storage.usernames.create("counter", { id: "0" });
        const bump = (s: AuthStorage) => s.usernames.modify("counter", (v) => ({ id: String(Number(v.id) + 1) }), 50);
        await Promise.all(Array.from({ length: 10 }, (_, i) => bump(i % 2 ? a.storage : b.storage)));
        expect((await a.storage.usernames.fetch("counter"))?.value.id).toBe("10");
        expect(await a.storage.usernames.modify("absent", (v) => v)).toBeUndefined();
      });

      it("forget records not written for the bucket's max age (sessions: the refresh lifetime)", async () => {
        const storage = await instance.replica({ sessionTtlMs: 1000, failureWindowTtlMs: 60_000 });
        opened.push(storage);
        const session = { id: "s1", userId: "u1", createdAt: 0, lastRotation: null, expiresAt: Date.now() + 60_000, refreshHash: "00", previousRefreshHashes: [], revokedAt: null, revokeReason: null };
        await storage.sessions.create("s1", session);
        expect((await storage.sessions.fetch("s1"))?.value.id).toBe("s1");
        const deadline = Date.now() + 5000;
        while ((await storage.sessions.fetch("s1")) && Date.now() < deadline) await sleep(100);
        expect(await storage.sessions.fetch("s1")).toBeUndefined();
        await storage.sessions.create("s1", session); // gone for good: the key can be created again
      });

      it("copies values, so a caller changing a record it read changes nothing stored", async () => {
        const { storage } = await replica();
        await storage.apiIds.create("copy", { id: "original" });
        const read = (await storage.apiIds.fetch("copy"))!;
        read.value.id = "changed";
        expect((await storage.apiIds.fetch("copy"))?.value.id).toBe("original");
      });
    });

    describe("users", () => {
      it("bootstraps one admin with a generated 144-bit password, once", async () => {
        const a = await replica();
        const first = await a.core.users.bootstrapAdmin("admin", undefined);
        expect(first.created).toBe(true);
        expect(first.generatedPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
        expect(Buffer.from(first.generatedPassword!, "base64url")).toHaveLength(18);
        expect(await a.core.users.bootstrapAdmin("admin", undefined)).toEqual({ created: false });
        const b = await replica();
        expect(await b.core.users.bootstrapAdmin("other", "whatever-pw")).toEqual({ created: false });
        expect((await a.core.login("admin", first.generatedPassword!, "192.0.2.2")).user.role).toBe("admin");
      });

      it("keeps usernames unique case-insensitively, across replicas", async () => {
        const a = await replica();
        const b = await replica();
        const results = await Promise.allSettled([
          a.core.users.create({ username: "Alice", password: "alice-pass", role: "user", permissions: [] }),
          b.core.users.create({ username: "alice", password: "alice-pass", role: "user", permissions: [] }),
        ]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        expect((rejected.reason as CodedError).code).toBe("USERNAME_TAKEN");
      });

      it("checks passwords, refuses disabled users, and revokes sessions on disable", async () => {
        const { core, revocations } = await withAdmin();
        const user = await core.users.create({ username: "bob", password: "bob-password", role: "user", permissions: [] });
        expect(await codeOf(core.login("bob", "wrong-password", "192.0.2.3"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.login("nobody", "wrong-password", "192.0.2.3"))).toBe("INVALID_CREDENTIALS");
        const { tokens } = await core.login("BOB", "bob-password", "192.0.2.4");
        await core.users.update(user.id, { disabled: true });
        expect(await codeOf(core.verifyAccess(tokens.accessToken, "api"))).toBe("SESSION_REVOKED");
        expect(await codeOf(core.login("bob", "bob-password", "192.0.2.4"))).toBe("USER_DISABLED");
        expect(revocations.events).toContainEqual({ kind: "user", id: user.id, reason: "user_disabled" });
        expect(revocations.events).toContainEqual({ kind: "session", id: tokens.sessionId, reason: "user_disabled" });
      });

      it("never removes, demotes or disables the last admin", async () => {
        const { core, principal } = await withAdmin();
        expect(await codeOf(core.users.update(principal.userId, { role: "user" }))).toBe("LAST_ADMIN");
        expect(await codeOf(core.users.update(principal.userId, { disabled: true }))).toBe("LAST_ADMIN");
        expect(await codeOf(core.users.delete(principal.userId))).toBe("LAST_ADMIN");
      });

      it("deletes a user, its username and its sessions", async () => {
        const { core } = await withAdmin();
        const user = await core.users.create({ username: "carol", password: "carol-pass", role: "user", permissions: [] });
        const { tokens } = await core.login("carol", "carol-pass", "192.0.2.5");
        await core.users.delete(user.id);
        expect(await codeOf(core.users.get(user.id))).toBe("USER_NOT_FOUND");
        expect(await codeOf(core.verifyAccess(tokens.accessToken, "api"))).toBe("SESSION_REVOKED");
        const again = await core.users.create({ username: "Carol", password: "carol-pass", role: "user", permissions: [] });
        expect(again.id).not.toBe(user.id);
      });
    });

    describe("sessions", () => {
      it("rotate refresh tokens; a token verified on one replica verifies on another", async () => {
        const a = await withAdmin();
        const b = await replica();
        const refreshed = await b.core.sessions.refresh(a.tokens.refreshToken);
        expect(refreshed.tokens.refreshToken).not.toBe(a.tokens.refreshToken);
        expect(refreshed.tokens.sessionId).toBe(a.tokens.sessionId);
        expect((await a.core.verifyAccess(refreshed.tokens.accessToken, "api")).sessionId).toBe(a.tokens.sessionId);
        expect((await b.core.verifyAccess(a.tokens.accessToken, "api")).username).toBe("admin");
      });

      it("give two concurrent refreshes of one token (two tabs, two replicas) the same new pair, and keep the session", async () => {
        const a = await withAdmin();
        const b = await replica();
        const [first, second] = await Promise.all([a.core.sessions.refresh(a.tokens.refreshToken), b.core.sessions.refresh(a.tokens.refreshToken)]);
        expect(first.tokens.refreshToken).toBe(second.tokens.refreshToken);
        expect(first.tokens.refreshToken).not.toBe(a.tokens.refreshToken);
        for (const { tokens } of [first, second]) {
          expect(tokens.sessionId).toBe(a.tokens.sessionId);
          expect((await a.core.verifyAccess(tokens.accessToken, "api")).sessionId).toBe(a.tokens.sessionId);
        }
        expect(a.revocations.events).toEqual([]);
        // The family goes on from the shared new token.
        const next = await b.core.sessions.refresh(first.tokens.refreshToken);
        expect((await a.core.verifyAccess(next.tokens.accessToken, "api")).sessionId).toBe(a.tokens.sessionId);
      });

      it("never store the refresh token handed out in the grace window in plain text", async () => {
        const { core, storage, tokens } = await withAdmin();
        const { tokens: rotated } = await core.sessions.refresh(tokens.refreshToken);
        const stored = JSON.stringify((await storage.sessions.fetch(tokens.sessionId))?.value);
        expect(stored).toContain("sealedSecret");
        expect(stored).not.toContain(rotated.refreshToken.split(".")[1]);
        expect(stored).not.toContain(tokens.refreshToken.split(".")[1]);
      });

      it("refuse a grace refresh whose sealed successor does not open, without revoking", async () => {
        const { core, storage, tokens } = await withAdmin();
        const { tokens: rotated } = await core.sessions.refresh(tokens.refreshToken);
        await storage.sessions.modify(tokens.sessionId, (s) => ({ ...s, lastRotation: { ...s.lastRotation!, sealedSecret: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } }));
        expect(await codeOf(core.sessions.refresh(tokens.refreshToken))).toBe("INVALID_CREDENTIALS");
        expect((await core.verifyAccess(rotated.accessToken, "api")).sessionId).toBe(tokens.sessionId);
      });

      it("revoke the family when a rotated token comes back after the grace window", async () => {
        const { core, tokens, revocations } = await withAdmin();
        const { tokens: rotated } = await core.sessions.refresh(tokens.refreshToken);
        expect((await core.sessions.refresh(tokens.refreshToken)).tokens.refreshToken).toBe(rotated.refreshToken);
        await sleep(1100);
        expect(await codeOf(core.sessions.refresh(tokens.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
        expect(await codeOf(core.sessions.refresh(rotated.refreshToken))).toBe("SESSION_REVOKED");
        expect(await codeOf(core.verifyAccess(rotated.accessToken, "api"))).toBe("SESSION_REVOKED");
        expect(revocations.events).toContainEqual({ kind: "session", id: tokens.sessionId, reason: "refresh_token_reused" });
      });

      it("revoke at once on reuse when the grace window is 0, and on reuse of an older token within the window", async () => {
        const strict = await withAdmin({ REFRESH_REUSE_GRACE_SECONDS: 0 });
        await strict.core.sessions.refresh(strict.tokens.refreshToken);
        expect(await codeOf(strict.core.sessions.refresh(strict.tokens.refreshToken))).toBe("REFRESH_TOKEN_REUSED");

        const graceful = await replica();
        const { tokens } = await graceful.core.login("admin", "admin-password", "192.0.2.9");
        const second = await graceful.core.sessions.refresh(tokens.refreshToken);
        await graceful.core.sessions.refresh(second.tokens.refreshToken);
        // Only the token rotated last has grace; the one before it is plain reuse.
        expect(await codeOf(graceful.core.sessions.refresh(tokens.refreshToken))).toBe("REFRESH_TOKEN_REUSED");
      });

      it("logout revokes the session and announces it", async () => {
        const { core, tokens, revocations } = await withAdmin();
        await core.sessions.revoke(tokens.sessionId, "logout");
        expect(await codeOf(core.verifyAccess(tokens.accessToken, "api"))).toBe("SESSION_REVOKED");
        expect(await codeOf(core.sessions.refresh(tokens.refreshToken))).toBe("SESSION_REVOKED");
        expect(revocations.events).toContainEqual({ kind: "session", id: tokens.sessionId, reason: "logout" });
      });

      it("refuses malformed and unknown refresh tokens", async () => {
        const { core, tokens } = await withAdmin();
        expect(await codeOf(core.sessions.refresh("no-dot"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.sessions.refresh("a.b.c"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.sessions.refresh(`${tokens.sessionId}.not-the-secret`))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.sessions.refresh("unknown-session.secret"))).toBe("INVALID_CREDENTIALS");
      });

      it("scopes tokens to an audience", async () => {
        const { core, principal } = await withAdmin();
        const scoped = core.sessions.issueScoped(principal, "bullboard");
        expect((await core.verifyAccess(scoped.token, "bullboard")).userId).toBe(principal.userId);
        expect(await codeOf(core.verifyAccess(scoped.token, "api"))).toBe("TOKEN_INVALID");
      });
    });

    describe("hosts", () => {
      it("verify agent keys, rotate them and forget deleted hosts", async () => {
        const { core, revocations } = await withAdmin();
        const { host, apiKey } = await core.hosts.create({ name: "web-01", ssh: null });
        expect((await core.verifyAgent(host.apiId, apiKey, "192.0.2.10")).id).toBe(host.id);
        expect(await codeOf(core.verifyAgent(host.apiId, "0".repeat(64), "192.0.2.11"))).toBe("INVALID_CREDENTIALS");
        const rotated = await core.hosts.rotateKey(host.id);
        expect(await codeOf(core.verifyAgent(host.apiId, apiKey, "192.0.2.11"))).toBe("INVALID_CREDENTIALS");
        expect((await core.verifyAgent(host.apiId, rotated.apiKey, "192.0.2.10")).id).toBe(host.id);
        await core.hosts.delete(host.id);
        expect(await codeOf(core.verifyAgent(host.apiId, rotated.apiKey, "192.0.2.12"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.hosts.get(host.id))).toBe("HOST_NOT_FOUND");
        expect(revocations.events.map((e) => e.reason)).toEqual(expect.arrayContaining(["key_rotated", "host_deleted"]));
      });

      it("pin an SSH host key on first use only, even when replicas race", async () => {
        const a = await withAdmin();
        const b = await replica();
        const { host } = await a.core.hosts.create({ name: "ssh-01", ssh: { address: "10.0.0.1", port: 22, username: "root" } });
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).core.hosts.pinHostKey(host.id, { algorithm: "ssh-ed25519", fingerprint: `SHA256:${i}` })),
        );
        expect(results.filter((r) => r.pinned)).toHaveLength(1);
        expect(new Set(results.map((r) => r.hostKey.fingerprint)).size).toBe(1);
      });
    });

    describe("tickets", () => {
      it("are consumed exactly once among 50 concurrent consumers on two replicas", async () => {
        const a = await withAdmin();
        const b = await replica();
        const { host } = await a.core.hosts.create({ name: "t-01", ssh: null });
        const { ticket } = await a.core.issueTicket(a.principal, "ssh-terminal", host.id);
        const results = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).core.consumeTicket(ticket, "ssh-terminal", host.id, `203.0.113.${i}`)),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const winner = results.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<{ principal: Principal }>;
        expect(winner.value.principal.username).toBe("admin");
      });

      it("are bound to purpose and target, burnt by a mismatch, and die with their session", async () => {
        const { core, principal, tokens } = await withAdmin();
        const { ticket } = await core.issueTicket(principal, "bullboard", "*");
        expect(await codeOf(core.consumeTicket(ticket, "agent-status", "*", "192.0.2.30"))).toBe("TICKET_MISMATCH");
        expect(await codeOf(core.consumeTicket(ticket, "bullboard", "*", "192.0.2.30"))).toBe("TICKET_INVALID");
        const second = await core.issueTicket(principal, "agent-status", "*");
        await core.sessions.revoke(tokens.sessionId, "logout");
        expect(await codeOf(core.consumeTicket(second.ticket, "agent-status", "*", "192.0.2.30"))).toBe("SESSION_REVOKED");
      });

      it("expire after their TTL", async () => {
        const { core, principal } = await withAdmin({ TICKET_TTL_SECONDS: 1 });
        const { ticket } = await core.issueTicket(principal, "bullboard", "*");
        await sleep(1100);
        expect(await codeOf(core.consumeTicket(ticket, "bullboard", "*", "192.0.2.31"))).toBe("TICKET_INVALID");
      });
    });

    describe("failure limits", () => {
      it("limit failed logins per source with a Retry-After, leaving other sources alone", async () => {
        const { core } = await withAdmin();
        for (let i = 0; i < 3; i++) expect(await codeOf(core.login("admin", "wrong-password", "198.51.100.1"))).toBe("INVALID_CREDENTIALS");
        const limited = await core.login("admin", "admin-password", "198.51.100.1").catch((e: unknown) => e as CodedError);
        expect(limited).toMatchObject({ code: "RATE_LIMITED", status: 429 });
        expect((limited as CodedError).retryAfter).toBeGreaterThan(0);
        expect((await core.login("admin", "admin-password", "198.51.100.2")).user.username).toBe("admin");
      });

      it("hold across replicas: failures alternated between two replicas are limited after exactly the configured count", async () => {
        const a = await withAdmin();
        const b = await replica();
        const replicas = [a, b];
        for (let i = 0; i < 3; i++) {
          expect(await codeOf(replicas[i % 2]!.core.login("admin", "wrong-password", "198.51.100.20"))).toBe("INVALID_CREDENTIALS");
        }
        // Both replicas refuse even the right password now: the limit is 3, not 3 per replica.
        expect(await codeOf(b.core.login("admin", "admin-password", "198.51.100.20"))).toBe("RATE_LIMITED");
        expect(await codeOf(a.core.login("admin", "admin-password", "198.51.100.20"))).toBe("RATE_LIMITED");

        const { host, apiKey } = await a.core.hosts.create({ name: "shared-limit", ssh: null });
        for (let i = 0; i < 3; i++) {
          expect(await codeOf(replicas[i % 2]!.core.verifyAgent(host.apiId, "bad", "198.51.100.21"))).toBe("INVALID_CREDENTIALS");
        }
        // The fourth failure is refused as rate-limited even if this replica's mirror had not yet seen the third.
        expect(await codeOf(b.core.verifyAgent(host.apiId, "bad", "198.51.100.21"))).toBe("RATE_LIMITED");
        expect(await codeOf(a.core.verifyAgent(host.apiId, apiKey, "198.51.100.21"))).toBe("RATE_LIMITED");
      });

      it("count concurrent failures exactly (compare-and-set increments)", async () => {
        const a = await withAdmin({ AGENT_AUTH_MAX_FAILURES: 100 });
        const b = await replica({ AGENT_AUTH_MAX_FAILURES: 100 });
        const { host, apiKey } = await a.core.hosts.create({ name: "concurrent", ssh: null });
        const codes = await Promise.all(
          Array.from({ length: 40 }, (_, i) => codeOf((i % 2 ? a : b).core.verifyAgent(host.apiId, "bad", "198.51.100.22"))),
        );
        expect(codes.every((c) => c === "INVALID_CREDENTIALS")).toBe(true);
        // Every one of the 40 was counted once: 60 more reach the limit of 100, and not one before.
        for (let i = 0; i < 59; i++) expect(await codeOf(a.core.verifyAgent(host.apiId, "bad", "198.51.100.22"))).toBe("INVALID_CREDENTIALS");
        expect((await a.core.verifyAgent(host.apiId, apiKey, "198.51.100.22")).id).toBe(host.id);
        expect(await codeOf(b.core.verifyAgent(host.apiId, "bad", "198.51.100.22"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(b.core.verifyAgent(host.apiId, "bad", "198.51.100.22"))).toBe("RATE_LIMITED");
      });

      it("count bad tickets apart from logins: a 50-way ticket race leaves sign-in open for its address", async () => {
        const a = await withAdmin();
        const b = await replica();
        const { ticket } = await a.core.issueTicket(a.principal, "bullboard", "*");
        const codes = await Promise.all(
          Array.from({ length: 50 }, (_, i) => codeOf((i % 2 ? a : b).core.consumeTicket(ticket, "bullboard", "*", "198.51.100.30"))),
        );
        expect(codes.filter((c) => c === undefined)).toHaveLength(1);
        expect(codes.filter((c) => c !== undefined).every((c) => c === "TICKET_INVALID" || c === "RATE_LIMITED")).toBe(true);
        expect((await b.core.login("admin", "admin-password", "198.51.100.30")).user.username).toBe("admin");
      });

      it("limit bad tickets at TICKET_MAX_FAILURES without touching logins", async () => {
        const { core, principal } = await withAdmin({ TICKET_MAX_FAILURES: 5 });
        for (let i = 0; i < 5; i++) expect(await codeOf(core.consumeTicket(`bogus-${i}`, "bullboard", "*", "198.51.100.31"))).toBe("TICKET_INVALID");
        const { ticket } = await core.issueTicket(principal, "bullboard", "*");
        const limited = await core.consumeTicket(ticket, "bullboard", "*", "198.51.100.31").catch((e: unknown) => e as CodedError);
        expect(limited).toMatchObject({ code: "RATE_LIMITED", status: 429 });
        expect((limited as CodedError).retryAfter).toBeGreaterThan(0);
        // A refused ticket is not burnt: the same ticket still works from elsewhere.
        expect((await core.consumeTicket(ticket, "bullboard", "*", "198.51.100.32")).principal.username).toBe("admin");
        expect((await core.login("admin", "admin-password", "198.51.100.31")).user.username).toBe("admin");
        // And failed logins do not count against tickets.
        for (let i = 0; i < 3; i++) await codeOf(core.login("admin", "wrong-password", "198.51.100.33"));
        expect(await codeOf(core.login("admin", "admin-password", "198.51.100.33"))).toBe("RATE_LIMITED");
        const fresh = await core.issueTicket(principal, "bullboard", "*");
        expect((await core.consumeTicket(fresh.ticket, "bullboard", "*", "198.51.100.33")).principal.username).toBe("admin");
      });

      it("limit failed agent-key checks per source", async () => {
        const { core } = await withAdmin();
        const { host, apiKey } = await core.hosts.create({ name: "limited", ssh: null });
        for (let i = 0; i < 3; i++) expect(await codeOf(core.verifyAgent(host.apiId, "bad", "198.51.100.9"))).toBe("INVALID_CREDENTIALS");
        expect(await codeOf(core.verifyAgent(host.apiId, apiKey, "198.51.100.9"))).toBe("RATE_LIMITED");
        expect((await core.verifyAgent(host.apiId, apiKey, "198.51.100.8")).id).toBe(host.id);
      });
    });
  });
}
