import type { IncomingHttpHeaders } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  AuthSubjects,
  CodedError,
  ConsumeTicketReply,
  VerifyAccessReply,
  type Permission,
  type Principal,
} from "@patchmon-ws/protocol";
import { requestJson, unwrapReply } from "@patchmon-ws/service-kit";
import type { TokenCache } from "./token-cache.js";

/** Ticket target agent-status tickets are issued for (the stream covers any hosts the query names). */
export const STATUS_TICKET_TARGET = "*";

/** Extracts the bearer token; throws CREDENTIALS_MISSING when there is none. */
export function bearerToken(headers: IncomingHttpHeaders): string {
  const header = headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new CodedError("CREDENTIALS_MISSING", "An Authorization: Bearer <access token> header is required.");
  return match[1]!;
}

export function hasPermission(principal: Principal, permission: Permission): boolean {
  return principal.role === "admin" || principal.permissions.includes(permission);
}

export function requirePermission(principal: Principal, permission: Permission): void {
  if (!hasPermission(principal, permission)) throw new CodedError("FORBIDDEN", `This needs the ${permission} permission.`);
}

/**
 * Who is calling the HTTP API, as the auth service says (over NATS). An unreachable auth service is
 * DEPENDENCY_UNAVAILABLE (503), never a 401.
 */
export class UserAccess {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cache: TokenCache,
    private readonly timeoutMs: number,
  ) {}

  async verifyToken(token: string, sourceAddress: string): Promise<Principal> {
    const cached = this.cache.get(token);
    if (cached) return cached;
    const reply = unwrapReply(
      await requestJson(this.nc, AuthSubjects.verifyAccess, { token, audience: "api", sourceAddress: sourceAddress.slice(0, 64) }, VerifyAccessReply, this.timeoutMs),
    );
    this.cache.set(token, reply.principal);
    return reply.principal;
  }

  /** Consumes a one-time agent-status ticket (EventSource cannot send an Authorization header). */
  async consumeStatusTicket(ticket: string, sourceAddress: string): Promise<Principal> {
    const reply = unwrapReply(
      await requestJson(
        this.nc,
        AuthSubjects.consumeTicket,
        { ticket, purpose: "agent-status", target: STATUS_TICKET_TARGET, sourceAddress: sourceAddress.slice(0, 64) },
        ConsumeTicketReply,
        this.timeoutMs,
      ),
    );
    return reply.principal;
  }

  evict(match: { userId?: string; sessionId?: string }): void {
    this.cache.evict(match);
  }
}
