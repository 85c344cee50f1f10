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

/** Signs and verifies access tokens (HS256 JWTs). Only the auth service constructs one. */
export class TokenSigner {
  constructor(private readonly secret: string) {}

  sign(userId: string, sessionId: string, audience: TokenAudience, ttlSeconds: number): { token: string; expiresAt: number } {
    const token = jwt.sign({ sid: sessionId, typ: "access" }, this.secret, {
      algorithm: "HS256",
      subject: userId,
      audience,
      issuer: ISSUER,
      expiresIn: ttlSeconds,
    });
    const { exp } = jwt.decode(token) as { exp: number };
    return { token, expiresAt: exp * 1000 };
  }

  verify(token: string, audience: TokenAudience): AccessClaims {
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.secret, { algorithms: ["HS256"], audience, issuer: ISSUER }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new CodedError("TOKEN_EXPIRED");
      throw new CodedError("TOKEN_INVALID");
    }
    if (payload.typ !== "access" || typeof payload.sub !== "string" || typeof payload.sid !== "string" || typeof payload.exp !== "number") {
      throw new CodedError("TOKEN_INVALID");
    }
    return { userId: payload.sub, sessionId: payload.sid, audience, expiresAt: payload.exp * 1000 };
  }
}
