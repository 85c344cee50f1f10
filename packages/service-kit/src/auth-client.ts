import {
  AuthSubjects,
  CodedError,
  ConsumeTicketReply,
  GetHostReply,
  PinHostKeyReply,
  VerifyAccessReply,
  VerifyAgentReply,
  VerifySessionReply,
  type HostRecord,
  type PinnedHostKey,
  type Principal,
  type TicketPurpose,
  type TokenAudience,
} from "@patchmon-ws/protocol";
import type { z } from "zod";
import { requestJson, unwrapReply, type NatsConnection } from "./nats.js";

/** Source addresses travel to auth for its per-address limits; longer strings are not addresses. */
const MAX_SOURCE_LENGTH = 64;

export interface TicketRequest {
  ticket: string;
  purpose: TicketPurpose;
  /** The target the ticket must have been issued for (a host id, or "*"). */
  target: string;
  sourceAddress: string;
  /** Also issue a token for this audience bound to the same session (the bullboard cookie). */
  issueToken?: { audience: TokenAudience };
}

export interface TicketGrant {
  principal: Principal;
  token?: string;
  tokenExpiresAt?: number;
}

/**
 * Every question a service asks the auth service, over NATS request/reply (auth is the only holder of secrets).
 * A missing or slow auth service is DEPENDENCY_UNAVAILABLE (503), never a 401: an outage must not look like bad
 * credentials. Refusals come back as the CodedError auth chose.
 */
export class AuthClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  /** Who an access token of `audience` belongs to. */
  async verifyToken(token: string, audience: TokenAudience, sourceAddress: string): Promise<Principal> {
    return (await this.ask(AuthSubjects.verifyAccess, { token, audience, sourceAddress: source(sourceAddress) }, VerifyAccessReply)).principal;
  }

  /** Consumes a one-time ticket (single use, atomic in auth). */
  async consumeTicket(request: TicketRequest): Promise<TicketGrant> {
    const reply = await this.ask(AuthSubjects.consumeTicket, { ...request, sourceAddress: source(request.sourceAddress) }, ConsumeTicketReply);
    if (request.issueToken && !reply.token) throw new CodedError("INTERNAL", "auth consumed the ticket but issued no token");
    return {
      principal: reply.principal,
      ...(reply.token === undefined ? {} : { token: reply.token }),
      ...(reply.tokenExpiresAt === undefined ? {} : { tokenExpiresAt: reply.tokenExpiresAt }),
    };
  }

  /**
   * The principal of a login session as it stands now (its user's current role and permissions), for a socket
   * opened with a one-time ticket that must be re-checked after a user_changed event.
   */
  async verifySession(sessionId: string, userId: string): Promise<Principal> {
    return (await this.ask(AuthSubjects.verifySession, { sessionId, userId }, VerifySessionReply)).principal;
  }

  /** The host behind an agent's X-API-ID / X-API-KEY. */
  async verifyAgent(apiId: string, apiKey: string, sourceAddress: string): Promise<HostRecord> {
    return (await this.ask(AuthSubjects.verifyAgent, { apiId, apiKey, sourceAddress: source(sourceAddress) }, VerifyAgentReply)).host;
  }

  /** A host's public record; HOST_NOT_FOUND when there is none. */
  async getHost(hostId: string): Promise<HostRecord> {
    return (await this.ask(AuthSubjects.getHost, { hostId }, GetHostReply)).host;
  }

  /** Pins a host's SSH key if none is pinned yet; returns the key pinned now (ours or an earlier one). */
  async pinHostKey(hostId: string, key: { algorithm: string; fingerprint: string }): Promise<{ pinned: boolean; hostKey: PinnedHostKey }> {
    const reply = await this.ask(AuthSubjects.pinHostKey, { hostId, ...key }, PinHostKeyReply);
    return { pinned: reply.pinned, hostKey: reply.hostKey };
  }

  /** One request/reply; a refusal comes back as auth's CodedError. */
  private async ask<S extends z.ZodType<{ ok: boolean }>>(subject: string, body: object, reply: S) {
    return unwrapReply(await requestJson(this.nc, subject, body, reply, this.timeoutMs));
  }
}

/** Source addresses travel to auth for its per-address limits; longer strings are not addresses. */
function source(address: string): string {
  return address.slice(0, MAX_SOURCE_LENGTH);
}
