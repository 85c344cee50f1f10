import { randomUUID } from "node:crypto";
import { CodedError, effectivePermissions, isIdentifier, type Principal, type RevocationEvent, type TokenAudience } from "@patchmon-ws/protocol";
import { digestsEqual, randomSecret, sealSecret, sha256, unsealSecret } from "./secrets.js";
import type { StoredSession, StoredUser } from "./records.js";
import type { AuthStorage } from "./auth-storage.js";
import type { TokenSigner } from "./token-signer.js";
import type { RevocationSink } from "./revocations.js";

/** Refresh tokens already rotated away that are still recognised as reuse. */
const REMEMBERED_REFRESH_TOKENS = 32;

export interface SessionTokens {
  sessionId: string;
  accessToken: string;
  accessExpiresAt: number;
  /** `<session id>.<secret>`; only its hash is stored. */
  refreshToken: string;
  sessionExpiresAt: number;
}

export interface SessionLifetimes {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** How long a just-rotated refresh token still returns its successor (0: any reuse revokes at once). */
  refreshReuseGraceMs: number;
  /** Lifetime of tokens for other audiences (the bullboard cookie). */
  scopedTtlSeconds: Record<Exclude<TokenAudience, "api">, number>;
}

/**
 * Login sessions with rotating refresh tokens. Each session is one refresh-token family: every refresh replaces
 * the token, and presenting a token that was already rotated away revokes the whole family, except within a short
 * grace window after its rotation: two tabs refreshing at the same moment present the same token, and the loser
 * gets the pair the winner got instead of revoking its own session.
 *
 * The grace answer must be the same refresh token (the browser keeps one cookie; handing out a second valid one
 * would fork the family). We do not keep that secret in plain text: the rotation stores it sealed under a key
 * derived from the token it replaced, which only the presenter holds (the store has its hash). After the window
 * the sealed copy is ignored and the next rotation overwrites it, so a leaked store never yields a working token.
 */
export class SessionManager {
  constructor(
    private readonly store: AuthStorage,
    private readonly signer: TokenSigner,
    private readonly revocations: RevocationSink,
    private readonly lifetimes: SessionLifetimes,
  ) {}

  async start(user: StoredUser): Promise<SessionTokens> {
    const now = Date.now();
    const secret = randomSecret();
    const session: StoredSession = {
      id: randomUUID(),
      userId: user.id,
      createdAt: now,
      expiresAt: now + this.lifetimes.refreshTtlSeconds * 1000,
      refreshHash: sha256(secret),
      previousRefreshHashes: [],
      lastRotation: null,
      revokedAt: null,
      revokeReason: null,
    };
    await this.store.sessions.create(session.id, session);
    return this.tokensFor(session, secret);
  }

  /** Exchanges a refresh token for new tokens; detects reuse of rotated tokens. */
  async refresh(refreshToken: string): Promise<{ tokens: SessionTokens; user: StoredUser }> {
    const [sessionId, secret, extra] = refreshToken.split(".");
    if (!sessionId || !secret || extra !== undefined || !isIdentifier(sessionId)) throw new CodedError("INVALID_CREDENTIALS");
    const presented = sha256(secret);
    const nextSecret = randomSecret();
    const graceMs = this.lifetimes.refreshReuseGraceMs;
    let outcome = "unknown" as "rotated" | "grace" | "reused" | "unknown";
    // A concurrent refresh that loses the compare-and-set is retried by modify, and then finds itself in the grace path.
    const result = await this.store.sessions.modify(sessionId, (session) => {
      const now = Date.now();
      if (session.revokedAt !== null) {
        outcome = "unknown";
        return undefined;
      }
      if (digestsEqual(presented, session.refreshHash)) {
        outcome = "rotated";
        return {
          ...session,
          refreshHash: sha256(nextSecret),
          previousRefreshHashes: [session.refreshHash, ...session.previousRefreshHashes].slice(0, REMEMBERED_REFRESH_TOKENS),
          lastRotation: graceMs > 0 ? { fromHash: presented, until: now + graceMs, sealedSecret: sealSecret(nextSecret, secret, session.id) } : null,
        };
      }
      const rotation = session.lastRotation;
      if (rotation && rotation.until > now && digestsEqual(presented, rotation.fromHash)) {
        outcome = "grace";
        return undefined;
      }
      outcome = session.previousRefreshHashes.some((h) => digestsEqual(presented, h)) ? "reused" : "unknown";
      return undefined;
    });
    if (!result) throw new CodedError("INVALID_CREDENTIALS");
    const session = result.value;
    if (session.revokedAt !== null) throw new CodedError("SESSION_REVOKED");
    if (session.expiresAt <= Date.now()) throw new CodedError("TOKEN_EXPIRED", "The session has expired; sign in again.");
    if (outcome === "reused") {
      await this.revoke(session.id, "refresh_token_reused");
      throw new CodedError("REFRESH_TOKEN_REUSED");
    }
    let issuedSecret = nextSecret;
    if (outcome === "grace") {
      const recovered = session.lastRotation ? unsealSecret(session.lastRotation.sealedSecret, secret, session.id) : undefined;
      // Sealed and hashed in the same write, so a mismatch means a corrupt record: refuse rather than guess.
      if (recovered === undefined || !digestsEqual(sha256(recovered), session.refreshHash)) throw new CodedError("INVALID_CREDENTIALS");
      issuedSecret = recovered;
    } else if (outcome !== "rotated") {
      throw new CodedError("INVALID_CREDENTIALS");
    }
    const user = await this.activeUser(session.userId);
    return { tokens: this.tokensFor(session, issuedSecret), user };
  }

  /** Marks a session revoked (kept until expiry for reuse detection) and announces it. Idempotent. */
  async revoke(sessionId: string, reason: RevocationEvent["reason"]): Promise<void> {
    const now = Date.now();
    await this.store.sessions.modify(sessionId, (s) => (s.revokedAt !== null ? undefined : { ...s, revokedAt: now, revokeReason: reason }));
    this.revocations.publish({ kind: "session", id: sessionId, reason });
  }

  async revokeAllForUser(userId: string, reason: RevocationEvent["reason"]): Promise<void> {
    const live = this.store.sessions.values().filter((s) => s.userId === userId && s.revokedAt === null);
    await Promise.all(live.map((s) => this.revoke(s.id, reason)));
  }

  /** Verifies an access token of an audience against the live session and user; returns who it is. */
  async verifyAccess(token: string, audience: TokenAudience): Promise<Principal> {
    const claims = this.signer.verify(token, audience);
    const session = await this.liveSession(claims.sessionId);
    if (session.userId !== claims.userId) throw new CodedError("TOKEN_INVALID");
    const user = await this.activeUser(claims.userId);
    return this.principal(user, session.id, claims.expiresAt);
  }

  /** A principal for a session, e.g. when a ticket bound to it is consumed. */
  async principalForSession(sessionId: string, userId: string): Promise<Principal> {
    const session = await this.liveSession(sessionId);
    if (session.userId !== userId) throw new CodedError("TICKET_INVALID");
    return this.principal(await this.activeUser(userId), session.id, session.expiresAt);
  }

  /**
   * The principal of a live session, re-read now: what a service holding a long-lived socket opened with a ticket
   * asks after a user_changed event. A session of another user is SESSION_REVOKED (no such session for that user).
   */
  async principalOfSession(sessionId: string, userId: string): Promise<Principal> {
    const session = await this.liveSession(sessionId);
    if (session.userId !== userId) throw new CodedError("SESSION_REVOKED");
    return this.principal(await this.activeUser(userId), session.id, session.expiresAt);
  }

  /** A token for another audience bound to the same session (e.g. the bullboard cookie). */
  issueScoped(principal: Principal, audience: Exclude<TokenAudience, "api">): { token: string; expiresAt: number } {
    return this.signer.sign(principal.userId, principal.sessionId, audience, this.lifetimes.scopedTtlSeconds[audience]);
  }

  /**
   * Forgets expired sessions held in memory. The bucket's age limit removes them from the server without telling
   * watchers, so without this a long-running replica would keep every session it ever saw.
   */
  pruneExpired(now = Date.now()): number {
    return this.store.sessions.forgetWhere((s) => s.expiresAt <= now);
  }

  private async liveSession(sessionId: string): Promise<StoredSession> {
    const session = (await this.store.sessions.get(sessionId))?.value;
    if (!session || session.revokedAt !== null) throw new CodedError("SESSION_REVOKED");
    if (session.expiresAt <= Date.now()) throw new CodedError("TOKEN_EXPIRED", "The session has expired; sign in again.");
    return session;
  }

  private async activeUser(userId: string): Promise<StoredUser> {
    const user = (await this.store.users.get(userId))?.value;
    if (!user) throw new CodedError("TOKEN_INVALID", "The user no longer exists.");
    if (user.disabled) throw new CodedError("USER_DISABLED");
    return user;
  }

  private principal(user: StoredUser, sessionId: string, expiresAt: number): Principal {
    return {
      userId: user.id,
      username: user.username,
      role: user.role,
      permissions: effectivePermissions(user.role, user.permissions),
      sessionId,
      expiresAt,
    };
  }

  private tokensFor(session: StoredSession, secret: string): SessionTokens {
    const access = this.signer.sign(session.userId, session.id, "api", this.lifetimes.accessTtlSeconds);
    return {
      sessionId: session.id,
      accessToken: access.token,
      accessExpiresAt: Math.min(access.expiresAt, session.expiresAt),
      refreshToken: `${session.id}.${secret}`,
      sessionExpiresAt: session.expiresAt,
    };
  }
}
