import { createHash } from "node:crypto";
import jwt from "jsonwebtoken";
import { CodedError, type TokenAudience } from "@patchmon-ws/protocol";

const ISSUER = "patchmon-ws-auth";

export interface AccessClaims {
  userId: string;
  sessionId: string;
  audience: TokenAudience;
  /** Epoch ms. */
  expiresAt: number;
}

/**
 * A short, non-secret name for a signing key, sent as the JWT `kid` header so a verifier can pick the key without
 * trying them all. Domain-separated ("kid:") so it is never the same digest as any other use of the secret.
 */
export function keyId(secret: string): string {
  return createHash("sha256").update(`kid:${secret}`).digest("hex").slice(0, 16);
}

/**
 * Signs and verifies access tokens (HS256 JWTs). Only the auth service constructs one. Tokens are signed with the
 * current key; tokens signed with a previous key (JWT_PREVIOUS_SECRETS) still verify until they expire, so a key
 * can be rotated without signing everyone out. A token without `kid` was issued by a release before kids existed:
 * it verifies against the current key only.
 */
export class TokenSigner {
  private readonly currentKid: string;
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly secret: string,
    previousSecrets: readonly string[] = [],
  ) {
    this.currentKid = keyId(secret);
    for (const previous of previousSecrets) this.keys.set(keyId(previous), previous);
    this.keys.set(this.currentKid, secret);
  }

  get keyId(): string {
    return this.currentKid;
  }

  sign(userId: string, sessionId: string, audience: TokenAudience, ttlSeconds: number): { token: string; expiresAt: number } {
    const token = jwt.sign({ sid: sessionId, typ: "access" }, this.secret, {
      algorithm: "HS256",
      keyid: this.currentKid,
      subject: userId,
      audience,
      issuer: ISSUER,
      expiresIn: ttlSeconds,
    });
    const { exp } = jwt.decode(token) as { exp: number };
    return { token, expiresAt: exp * 1000 };
  }

  verify(token: string, audience: TokenAudience): AccessClaims {
    const key = this.keyFor(token);
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key, { algorithms: ["HS256"], audience, issuer: ISSUER }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new CodedError("TOKEN_EXPIRED");
      throw new CodedError("TOKEN_INVALID");
    }
    if (payload.typ !== "access" || typeof payload.sub !== "string" || typeof payload.sid !== "string" || typeof payload.exp !== "number") {
      throw new CodedError("TOKEN_INVALID");
    }
    return { userId: payload.sub, sessionId: payload.sid, audience, expiresAt: payload.exp * 1000 };
  }

  /** The key named by the token's `kid`; an unknown kid is invalid (never a fallback to another key). */
  private keyFor(token: string): string {
    const decoded = jwt.decode(token, { complete: true });
    if (!decoded || typeof decoded.header !== "object") throw new CodedError("TOKEN_INVALID");
    const kid = decoded.header.kid;
    if (kid === undefined) return this.secret;
    const key = typeof kid === "string" ? this.keys.get(kid) : undefined;
    if (key === undefined) throw new CodedError("TOKEN_INVALID");
    return key;
  }
}
