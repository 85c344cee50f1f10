import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import jwt from "jsonwebtoken";
import { CodedError } from "@patchmon-ws/protocol";
import { keyId, TokenSigner } from "../src/token-signer.js";

const secret = "s".repeat(32);
const signer = new TokenSigner(secret);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CodedError ? err.code : "not coded";
  }
  return undefined;
}

describe("TokenSigner", () => {
  it("round-trips user, session, audience and expiry", () => {
    const { token, expiresAt } = signer.sign("user-1", "session-1", "api", 60);
    expect(signer.verify(token, "api")).toEqual({ userId: "user-1", sessionId: "session-1", audience: "api", expiresAt });
    expect(expiresAt).toBeGreaterThan(Date.now());
  });

  it("rejects another audience, another secret, tampering and alg=none", () => {
    const { token } = signer.sign("user-1", "session-1", "bullboard", 60);
    expect(codeOf(() => signer.verify(token, "api"))).toBe("TOKEN_INVALID");
    expect(codeOf(() => new TokenSigner("t".repeat(32)).verify(token, "bullboard"))).toBe("TOKEN_INVALID");
    const [header, payload, signature] = token.split(".");
    const tampered = [header, Buffer.from(JSON.stringify({ ...jwt.decode(token) as object, sub: "admin" })).toString("base64url"), signature].join(".");
    expect(codeOf(() => signer.verify(tampered, "bullboard"))).toBe("TOKEN_INVALID");
    const none = jwt.sign({ sid: "s", typ: "access" }, "", { algorithm: "none", subject: "u", audience: "api", issuer: "patchmon-ws-auth" });
    expect(codeOf(() => signer.verify(none, "api"))).toBe("TOKEN_INVALID");
    expect(payload).toBeDefined();
  });

  it("tells expiry apart from invalidity", () => {
    const expired = jwt.sign({ sid: "s", typ: "access", exp: Math.floor(Date.now() / 1000) - 10 }, secret, {
      algorithm: "HS256",
      subject: "u",
      audience: "api",
      issuer: "patchmon-ws-auth",
    });
    expect(codeOf(() => signer.verify(expired, "api"))).toBe("TOKEN_EXPIRED");
  });

  it("rejects tokens of another type signed with the same secret", () => {
    const refreshLike = jwt.sign({ sid: "s", typ: "refresh" }, secret, { algorithm: "HS256", subject: "u", audience: "api", issuer: "patchmon-ws-auth" });
    expect(codeOf(() => signer.verify(refreshLike, "api"))).toBe("TOKEN_INVALID");
  });
});

describe("TokenSigner key rotation", () => {
  const oldKey = "o".repeat(32);
  const newKey = "n".repeat(32);
  const before = new TokenSigner(oldKey);
  const after = new TokenSigner(newKey, [oldKey]);
  const headerOf = (token: string) => (jwt.decode(token, { complete: true }) as jwt.Jwt).header;

  it("names keys by a short non-secret id: 16 hex characters of sha256('kid:' + key)", () => {
    expect(keyId(oldKey)).toBe(createHash("sha256").update(`kid:${oldKey}`).digest("hex").slice(0, 16));
    expect(keyId(oldKey)).not.toBe(keyId(newKey));
    expect(before.keyId).toBe(keyId(oldKey));
  });

  it("puts the current key's kid in the header", () => {
    const { token } = after.sign("u", "s", "api", 60);
    expect(headerOf(token)).toMatchObject({ alg: "HS256", kid: keyId(newKey) });
  });

  it("verifies tokens of a previous key after rotation, and new tokens with the new key", () => {
    const old = before.sign("u", "s", "api", 60);
    expect(after.verify(old.token, "api")).toMatchObject({ userId: "u", sessionId: "s" });
    const fresh = after.sign("u", "s", "api", 60);
    expect(after.verify(fresh.token, "api").userId).toBe("u");
    // A replica still on the old key alone does not know the new kid.
    expect(codeOf(() => before.verify(fresh.token, "api"))).toBe("TOKEN_INVALID");
  });

  it("rejects a kid it does not know, and a known kid whose key did not sign the token", () => {
    const stranger = new TokenSigner("x".repeat(32)).sign("u", "s", "api", 60).token;
    expect(codeOf(() => after.verify(stranger, "api"))).toBe("TOKEN_INVALID");
    const spoofed = jwt.sign({ sid: "s", typ: "access" }, "x".repeat(32), {
      algorithm: "HS256",
      keyid: keyId(oldKey),
      subject: "u",
      audience: "api",
      issuer: "patchmon-ws-auth",
    });
    expect(codeOf(() => after.verify(spoofed, "api"))).toBe("TOKEN_INVALID");
    const numericKid = jwt.sign({ sid: "s", typ: "access" }, newKey, { algorithm: "HS256", header: { alg: "HS256", kid: 7 as unknown as string }, subject: "u", audience: "api", issuer: "patchmon-ws-auth" });
    expect(codeOf(() => after.verify(numericKid, "api"))).toBe("TOKEN_INVALID");
  });

  it("verifies tokens without kid (the previous release's) against the current key only", () => {
    const legacy = (key: string) =>
      jwt.sign({ sid: "s", typ: "access" }, key, { algorithm: "HS256", subject: "u", audience: "api", issuer: "patchmon-ws-auth", expiresIn: 60 });
    expect(headerOf(legacy(newKey)).kid).toBeUndefined();
    expect(after.verify(legacy(newKey), "api").userId).toBe("u");
    expect(codeOf(() => after.verify(legacy(oldKey), "api"))).toBe("TOKEN_INVALID");
  });
});
