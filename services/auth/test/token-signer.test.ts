import { describe, expect, it } from "vitest";
import jwt from "jsonwebtoken";
import { CodedError } from "@patchmon-ws/protocol";
import { TokenSigner } from "../src/token-signer.js";

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
