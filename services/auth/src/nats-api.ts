import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  AUTH_QUEUE_GROUP,
  AuthSubjects,
  ConsumeTicketRequest,
  GetHostRequest,
  PinHostKeyRequest,
  VerifyAccessRequest,
  VerifyAgentRequest,
  VerifyAgentsRequest,
  VerifySessionRequest,
} from "@patchmon-ws/protocol";
import { errorReplyFor, serveJson, type Logger } from "@patchmon-ws/service-kit";
import type { AuthCore } from "./auth-core.js";

/**
 * The verification service other services call over NATS. A queue group spreads requests over auth replicas.
 * Every reply is `{ok:true, ...}` or `{ok:false, code, error, retryAfter?}`.
 */
export function serveNatsApi(nc: NatsConnection, core: AuthCore, logger: Logger): Subscription[] {
  const queue = AUTH_QUEUE_GROUP;
  return [
    serveJson(nc, {
      subject: AuthSubjects.verifyAccess,
      queue,
      request: VerifyAccessRequest,
      logger,
      handler: async (req) => ({ ok: true, principal: await core.verifyAccess(req.token, req.audience) }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.consumeTicket,
      queue,
      request: ConsumeTicketRequest,
      logger,
      handler: async (req) => ({
        ok: true,
        ...(await core.consumeTicket(req.ticket, req.purpose, req.target, req.sourceAddress, req.issueToken)),
      }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.verifySession,
      queue,
      request: VerifySessionRequest,
      logger,
      handler: async (req) => ({ ok: true, principal: await core.sessions.principalOfSession(req.sessionId, req.userId) }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.verifyAgent,
      queue,
      request: VerifyAgentRequest,
      logger,
      handler: async (req) => ({ ok: true, host: await core.verifyAgent(req.apiId, req.apiKey, req.sourceAddress) }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.verifyAgents,
      queue,
      request: VerifyAgentsRequest,
      logger,
      handler: async (req) => ({
        ok: true,
        results: await Promise.all(
          req.agents.map((agent) =>
            core.verifyAgent(agent.apiId, agent.apiKey, agent.sourceAddress).then(
              (host) => ({ ok: true, host }),
              // Each failure answered as the single subject would answer it (serveJson's rules).
              (err: unknown) => errorReplyFor(err, AuthSubjects.verifyAgents, logger),
            ),
          ),
        ),
      }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.getHost,
      queue,
      request: GetHostRequest,
      logger,
      handler: async (req) => ({ ok: true, host: await core.hosts.get(req.hostId) }),
    }),
    serveJson(nc, {
      subject: AuthSubjects.pinHostKey,
      queue,
      request: PinHostKeyRequest,
      logger,
      handler: async (req) => ({
        ok: true,
        ...(await core.hosts.pinHostKey(req.hostId, { algorithm: req.algorithm, fingerprint: req.fingerprint })),
      }),
    }),
  ];
}
