import { describe, expect, it } from "vitest";
import { CodedError, type Principal } from "@patchmon-ws/protocol";
import { PrincipalVerifier, type VerifyToken } from "../src/principal-verifier.js";

function principal(overrides: Partial<Principal> = {}): Principal {
  return { userId: "u1", username: "alice", role: "user", permissions: [], sessionId: "s1", expiresAt: Date.now() + 600_000, ...overrides };
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => (resolve = res));
  return { promise, resolve };
}

/** A verifier for the "api" audience around a fake auth call. */
function verifierOf(verify: (token: string) => Promise<Principal>, options: { ttlMs: number; maxEntries?: number; now?: () => number }) {
  const call: VerifyToken = (token, audience) => {
    expect(audience).toBe("api");
    return verify(token);
  };
  return new PrincipalVerifier(call, { audience: "api", ...options });
}

function counting(result: (token: string) => Promise<Principal>) {
  const calls: string[] = [];
  return { calls, verify: (token: string) => (calls.push(token), result(token)) };
}

describe("PrincipalVerifier", () => {
  it("reuses a positive verdict within the TTL and asks again after it", async () => {
    let now = 1_000_000;
    const remote = counting(async () => principal({ expiresAt: now + 600_000 }));
    const verifier = verifierOf(remote.verify, { ttlMs: 1000, now: () => now });
    await verifier.verify("t", "1.2.3.4");
    await verifier.verify("t", "1.2.3.4");
    expect(remote.calls).toHaveLength(1);
    now += 1001;
    await verifier.verify("t", "1.2.3.4");
    expect(remote.calls).toHaveLength(2);
  });

  it("never trusts a verdict past the token's expiry", async () => {
    let now = 1_000_000;
    const remote = counting(async () => principal({ expiresAt: now + 200 }));
    const verifier = verifierOf(remote.verify, { ttlMs: 60_000, now: () => now });
    await verifier.verify("t", "a");
    now += 201;
    await verifier.verify("t", "a");
    expect(remote.calls).toHaveLength(2);
  });

  it("does not cache failures, so an auth outage ends when auth is back", async () => {
    let fail = true;
    const remote = counting(async () => {
      if (fail) throw new CodedError("DEPENDENCY_UNAVAILABLE");
      return principal();
    });
    const verifier = verifierOf(remote.verify, { ttlMs: 1000 });
    await expect(verifier.verify("t", "a")).rejects.toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    await expect(verifier.verify("t", "a")).rejects.toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    fail = false;
    await expect(verifier.verify("t", "a")).resolves.toMatchObject({ userId: "u1" });
    expect(remote.calls).toHaveLength(3);
  });

  it("shares one round trip between concurrent verifications of the same token", async () => {
    const gate = deferred<Principal>();
    const remote = counting(() => gate.promise);
    const verifier = verifierOf(remote.verify, { ttlMs: 1000 });
    const all = Promise.all([verifier.verify("t", "a"), verifier.verify("t", "a"), verifier.verify("t", "a")]);
    gate.resolve(principal());
    expect(await all).toHaveLength(3);
    expect(remote.calls).toHaveLength(1);
  });

  it("drops verdicts of a revoked user or session at once", async () => {
    const remote = counting(async (token) => principal({ userId: token === "t1" ? "u1" : "u2", sessionId: token === "t1" ? "s1" : "s2" }));
    const verifier = verifierOf(remote.verify, { ttlMs: 1000 });
    await verifier.verify("t1", "a");
    await verifier.verify("t2", "a");
    verifier.revoke("user", "u1");
    await verifier.verify("t1", "a");
    await verifier.verify("t2", "a");
    expect(remote.calls).toEqual(["t1", "t2", "t1"]);
    verifier.revoke("session", "s2");
    await verifier.verify("t2", "a");
    expect(remote.calls).toEqual(["t1", "t2", "t1", "t2"]);
  });

  it("asks again when a revocation arrived while the verification was in flight", async () => {
    const first = deferred<Principal>();
    let call = 0;
    const verifier = verifierOf(
      () => (++call === 1 ? first.promise : Promise.reject(new CodedError("SESSION_REVOKED"))),
      { ttlMs: 1000 },
    );
    const pending = verifier.verify("t", "a");
    verifier.revoke("session", "s1");
    first.resolve(principal());
    await expect(pending).rejects.toMatchObject({ code: "SESSION_REVOKED" });
    expect(call).toBe(2);
    expect(verifier.size).toBe(0);
  });

  it("keeps at most maxEntries verdicts", async () => {
    const verifier = verifierOf(async (token) => principal({ sessionId: token }), { ttlMs: 1000, maxEntries: 10 });
    for (let i = 0; i < 50; i++) await verifier.verify(`t${i}`, "a");
    expect(verifier.size).toBeLessThanOrEqual(10);
  });

  it("with a TTL of 0 asks every time", async () => {
    const remote = counting(async () => principal());
    const verifier = verifierOf(remote.verify, { ttlMs: 0 });
    await verifier.verify("t", "a");
    await verifier.verify("t", "a");
    expect(remote.calls).toHaveLength(2);
  });
});
