import type { IncomingMessage } from "node:http";
import type { ProxyTrust } from "./proxy-trust.js";

/**
 * Origin allow-list for browser endpoints (CSWSH defence). Exact matches only; an empty list means same origin,
 * judged against the Host (or trusted X-Forwarded-Host) and scheme the client used.
 */
export class OriginPolicy {
  private readonly allowed: Set<string>;

  constructor(
    allowedOrigins: readonly string[],
    private readonly trust: ProxyTrust,
  ) {
    this.allowed = new Set(allowedOrigins.map((o) => o.toLowerCase().replace(/\/+$/, "")));
  }

  isAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin?.toLowerCase();
    if (!origin || origin === "null") return false;
    if (this.allowed.size > 0) return this.allowed.has(origin);
    return origin === this.trust.publicOrigin(req)?.toLowerCase();
  }
}
