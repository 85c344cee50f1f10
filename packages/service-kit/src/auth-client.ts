import {
  AuthSubjects,
  CodedError,
  ConsumeTicketReply,
  GetHostReply,
  PinHostKeyReply,
  VerifyAccessReply,
  MAX_AGENT_VERIFICATIONS_PER_BATCH,
  VerifyAgentReply,
  VerifyAgentsReply,
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

/**
 * Agent verification messages in flight at most; verifications asked for meanwhile wait and leave together in the
 * next one. A lone agent is asked about at once, a storm of upgrades in a few messages per round trip.
 */
const MAX_AGENT_REQUESTS_IN_FLIGHT = 4;

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

interface AgentVerification {
  request: { apiId: string; apiKey: string; sourceAddress: string };
  resolve(host: HostRecord): void;
  reject(err: unknown): void;
}

/**
 * Every question a service asks the auth service, over NATS request/reply (auth is the only holder of secrets).
 * A missing or slow auth service is DEPENDENCY_UNAVAILABLE (503), never a 401: an outage must not look like bad
 * credentials. Refusals come back as the CodedError auth chose.
 */
export class AuthClient {
  /** Agent verifications not sent yet: they leave together (verifyAgent). */
  private agentQueue: AgentVerification[] = [];
  private agentSendScheduled = false;
  private agentRequestsInFlight = 0;

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

  /**
   * The host behind an agent's X-API-ID / X-API-KEY. Verifications asked for in the same turn of the event loop,
   * or while MAX_AGENT_REQUESTS_IN_FLIGHT messages are out (a fleet reconnecting after a restart), go to auth as
   * one `verifyAgents` message: a fraction of the NATS messages, timers and socket writes, on agent-ws, NATS and
   * auth alike.
   */
  verifyAgent(apiId: string, apiKey: string, sourceAddress: string): Promise<HostRecord> {
    return new Promise<HostRecord>((resolve, reject) => {
      this.agentQueue.push({ request: { apiId, apiKey, sourceAddress: source(sourceAddress) }, resolve, reject });
      if (!this.agentSendScheduled) {
        this.agentSendScheduled = true;
        setImmediate(() => {
          this.agentSendScheduled = false;
          this.sendAgentRequests();
        });
      }
    });
  }

  private sendAgentRequests(): void {
    while (this.agentQueue.length > 0 && this.agentRequestsInFlight < MAX_AGENT_REQUESTS_IN_FLIGHT) {
      const batch = this.agentQueue.splice(0, MAX_AGENT_VERIFICATIONS_PER_BATCH);
      this.agentRequestsInFlight++;
      const sent = batch.length === 1 ? this.verifyOneAgent(batch[0]!) : this.verifyAgents(batch);
      void sent.finally(() => {
        this.agentRequestsInFlight--;
        this.sendAgentRequests();
      });
    }
  }

  private verifyOneAgent({ request, resolve, reject }: AgentVerification): Promise<void> {
    return this.ask(AuthSubjects.verifyAgent, request, VerifyAgentReply).then((reply) => resolve(reply.host), reject);
  }

  private async verifyAgents(batch: AgentVerification[]): Promise<void> {
    let reply: z.infer<typeof VerifyAgentsReply>;
    try {
      reply = await requestJson(this.nc, AuthSubjects.verifyAgents, { agents: batch.map((v) => v.request) }, VerifyAgentsReply, this.timeoutMs);
    } catch (err) {
      // An auth release without the batch subject (a rolling upgrade): one request each, as before.
      if (((err as Error).cause as { isNoResponders?: () => boolean } | undefined)?.isNoResponders?.()) await Promise.all(batch.map((v) => this.verifyOneAgent(v)));
      else for (const { reject } of batch) reject(err);
      return;
    }
    if (!reply.ok || reply.results.length !== batch.length) {
      const error = reply.ok ? new CodedError("INTERNAL", `unexpected reply on ${AuthSubjects.verifyAgents}`) : CodedError.fromBody(reply);
      for (const { reject } of batch) reject(error);
      return;
    }
    reply.results.forEach((result, i) => {
      if (result.ok) batch[i]!.resolve(result.host);
      else batch[i]!.reject(CodedError.fromBody(result));
    });
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
