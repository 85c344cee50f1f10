import { createHash } from "node:crypto";
import type { Principal } from "@patchmon-ws/protocol";

interface Entry {
  principal: Principal;
  expiresAt: number;
}

/**
 * Verified user tokens, briefly: the command API is called in bursts, and each call would otherwise cost a
 * round trip to the auth service. Keyed by a hash (the token itself is never kept). An entry lives at most
 * `ttlMs` and never past the token's own expiry; revocation events evict a user's or session's entries at once.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  static key(token: string): string {
    return createHash("sha256").update(token).digest("base64url");
  }

  get(token: string): Principal | undefined {
    if (this.ttlMs <= 0) return undefined;
    const key = TokenCache.key(token);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.principal;
  }

  set(token: string, principal: Principal): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(TokenCache.key(token), { principal, expiresAt: Math.min(this.now() + this.ttlMs, principal.expiresAt) });
  }

  /** Drops every entry of a user or a session (revocation). Returns how many. */
  evict(match: { userId?: string; sessionId?: string }): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      if ((match.userId && entry.principal.userId === match.userId) || (match.sessionId && entry.principal.sessionId === match.sessionId)) {
        this.entries.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }
}
