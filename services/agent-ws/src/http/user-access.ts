import type { Principal } from "@patchmon-ws/protocol";
import type { AuthClient, PrincipalVerifier } from "@patchmon-ws/service-kit";

/** Ticket target agent-status tickets are issued for (the stream covers any hosts the query names). */
export const STATUS_TICKET_TARGET = "*";

/**
 * Who is calling the HTTP API, as the auth service says: Bearer tokens through the kit's verifier (its verdict
 * cache is emptied by revocation events), status-stream tickets consumed once. An unreachable auth service is
 * DEPENDENCY_UNAVAILABLE (503), never a 401.
 */
export class UserAccess {
  constructor(
    private readonly verifier: PrincipalVerifier,
    private readonly auth: AuthClient,
  ) {}

  verifyToken(token: string, sourceAddress: string): Promise<Principal> {
    return this.verifier.verify(token, sourceAddress);
  }

  /** Consumes a one-time agent-status ticket (EventSource cannot send an Authorization header). */
  async consumeStatusTicket(ticket: string, sourceAddress: string): Promise<Principal> {
    return (await this.auth.consumeTicket({ ticket, purpose: "agent-status", target: STATUS_TICKET_TARGET, sourceAddress })).principal;
  }
}
