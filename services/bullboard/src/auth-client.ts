import {
  AuthSubjects,
  CodedError,
  ConsumeTicketReply,
  VerifyAccessReply,
  type Principal,
} from "@patchmon-ws/protocol";
import { requestJson, unwrapReply, type NatsConnection } from "@patchmon-ws/service-kit";

export interface TicketExchangeResult {
  principal: Principal;
  /** The dashboard token (a JWT signed by auth, audience "bullboard"). */
  token: string;
  /** Epoch ms; undefined when auth did not say. */
  tokenExpiresAt: number | undefined;
}

/**
 * The dashboard's two questions to the auth service, over NATS request/reply. A missing or slow auth service is
 * DEPENDENCY_UNAVAILABLE (503), never a 401: an outage must not look like bad credentials.
 */
export class AuthClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  /** Who a dashboard cookie belongs to (audience "bullboard": an API token is refused here). */
  async verifyDashboardToken(token: string, sourceAddress: string): Promise<Principal> {
    const reply = await requestJson(
      this.nc,
      AuthSubjects.verifyAccess,
      { token, audience: "bullboard", sourceAddress },
      VerifyAccessReply,
      this.timeoutMs,
    );
    return unwrapReply(reply).principal;
  }

  /** Consumes a one-time `bullboard` ticket (single use, atomic in auth) and gets a dashboard token for it. */
  async exchangeTicket(ticket: string, sourceAddress: string): Promise<TicketExchangeResult> {
    const reply = unwrapReply(
      await requestJson(
        this.nc,
        AuthSubjects.consumeTicket,
        { ticket, purpose: "bullboard", target: "*", sourceAddress, issueToken: { audience: "bullboard" } },
        ConsumeTicketReply,
        this.timeoutMs,
      ),
    );
    if (!reply.token) throw new CodedError("INTERNAL", "auth consumed the ticket but issued no dashboard token");
    return { principal: reply.principal, token: reply.token, tokenExpiresAt: reply.tokenExpiresAt };
  }
}
