import { createHash } from "node:crypto";
import type { Principal, TokenAudience } from "@patchmon-ws/protocol";

/** Asks the auth service who a token belongs to; throws a CodedError when it is not valid. */
export type VerifyToken = (token: string, audience: TokenAudience, sourceAddress: string) => Promise<Principal>;

export interface PrincipalVerifierOptions {
  /** Tokens of this audience are verified ("api" for Bearer tokens, "bullboard" for the dashboard cookie). */
  audience: TokenAudience;
  /** How long a positive verdict is reused. Revocation events empty it at once; this bounds a lost event. */
  ttlMs: number;
  /** Verdicts kept at most; the oldest go first. Default 10 000. */
  maxEntries?: number;
  now?: () => number;
}

interface Verdict {
  principal: Principal;
  expiresAt: number;
}

/** How long revocations are remembered to catch verifications that were in flight when they arrived. */
const REVOCATION_MEMORY_MS = 60_000;

/**
 * Verifies user tokens through the auth service with a short verdict cache (a page load or a burst of API calls
 * costs one round trip) and single flight for identical tokens. Failures are never cached, so an auth outage ends
 * the moment auth is back. `revoke` (fed by the RevocationHub) drops a user's or session's verdicts at once, and a
 * verification that was in flight when the revocation arrived is repeated, never trusted: the revocation wins.
 */
export class PrincipalVerifier {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly inFlight = new Map<string, Promise<Principal>>();
  /** `user:<id>` / `session:<id>` → revocation epoch, for the in-flight check. */
  private readonly revocations = new Map<string, { epoch: number; at: number }>();
  private epoch = 0;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly verifyToken: VerifyToken,
    private readonly options: PrincipalVerifierOptions,
  ) {
    this.ttlMs = Math.max(0, options.ttlMs);
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async verify(token: string, sourceAddress: string): Promise<Principal> {
    const key = PrincipalVerifier.keyOf(token);
    const cached = this.verdicts.get(key);
    if (cached) {
      if (cached.expiresAt > this.now()) return cached.principal;
      this.verdicts.delete(key);
    }
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const verification = this.verifyFresh(key, token, sourceAddress).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, verification);
    return verification;
  }

  /** Forgets every verdict of a user or session. */
  revoke(kind: "user" | "session", id: string): void {
    const now = this.now();
    this.revocations.set(`${kind}:${id}`, { epoch: ++this.epoch, at: now });
    for (const [key, verdict] of this.verdicts) {
      if ((kind === "user" ? verdict.principal.userId : verdict.principal.sessionId) === id) this.verdicts.delete(key);
    }
    for (const [name, revocation] of this.revocations) {
      if (now - revocation.at > REVOCATION_MEMORY_MS) this.revocations.delete(name);
    }
  }

  get size(): number {
    return this.verdicts.size;
  }

  private async verifyFresh(key: string, token: string, sourceAddress: string): Promise<Principal> {
    for (let attempt = 0; ; attempt++) {
      const startEpoch = this.epoch;
      const principal = await this.verifyToken(token, this.options.audience, sourceAddress);
      const revokedMeanwhile = this.revokedSince(principal, startEpoch);
      // One repeat is enough: auth answers from its own store, which already holds the revocation it announced.
      if (revokedMeanwhile && attempt === 0) continue;
      if (!revokedMeanwhile) this.remember(key, principal);
      return principal;
    }
  }

  private revokedSince(principal: Principal, epoch: number): boolean {
    const user = this.revocations.get(`user:${principal.userId}`);
    const session = this.revocations.get(`session:${principal.sessionId}`);
    return (user !== undefined && user.epoch > epoch) || (session !== undefined && session.epoch > epoch);
  }

  private remember(key: string, principal: Principal): void {
    if (this.ttlMs === 0) return;
    const expiresAt = Math.min(this.now() + this.ttlMs, principal.expiresAt);
    if (expiresAt <= this.now()) return;
    if (this.verdicts.size >= this.maxEntries) this.evict();
    this.verdicts.set(key, { principal, expiresAt });
  }

  private evict(): void {
    const now = this.now();
    for (const [key, verdict] of this.verdicts) if (verdict.expiresAt <= now) this.verdicts.delete(key);
    let drop = this.verdicts.size - this.maxEntries + 1;
    for (const key of this.verdicts.keys()) {
      if (drop-- <= 0) break;
      this.verdicts.delete(key);
    }
  }

  /** Tokens are not kept as map keys; a hash identifies them just as well. */
  private static keyOf(token: string): string {
    return createHash("sha256").update(token).digest("base64url");
  }
}
