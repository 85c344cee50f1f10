import { CodedError, type Principal, type TicketPurpose } from "@patchmon-ws/protocol";
import { randomSecret, sha256 } from "./secrets.js";
import type { AuthStorage } from "./auth-storage.js";
import type { SessionManager } from "./sessions.js";

/**
 * One-time tickets for WebSocket URLs (`?ticket=`): short-lived, single use, bound to user + session + purpose +
 * target. Only a hash is stored. Consumption is a compare-and-delete on the ticket's revision, so of any number of
 * concurrent consumers across replicas exactly one wins.
 */
export class TicketOffice {
  constructor(
    private readonly store: AuthStorage,
    private readonly sessions: SessionManager,
    private readonly ttlSeconds: number,
  ) {}

  async issue(principal: Principal, purpose: TicketPurpose, target: string): Promise<{ ticket: string; expiresIn: number }> {
    const ticket = randomSecret(32);
    await this.store.tickets.create(sha256(ticket), {
      userId: principal.userId,
      sessionId: principal.sessionId,
      purpose,
      target,
      expiresAt: Date.now() + this.ttlSeconds * 1000,
    });
    return { ticket, expiresIn: this.ttlSeconds };
  }

  /**
   * Consumes a ticket. It is burnt even when purpose or target do not match, so a stolen ticket cannot be probed
   * against several targets.
   */
  async consume(ticket: string, purpose: TicketPurpose, target: string): Promise<Principal> {
    const key = sha256(ticket);
    const entry = await this.store.tickets.fetch(key);
    if (!entry) throw new CodedError("TICKET_INVALID");
    const won = await this.store.tickets.delete(key, entry.revision);
    if (!won) throw new CodedError("TICKET_INVALID");
    const stored = entry.value;
    if (stored.expiresAt <= Date.now()) throw new CodedError("TICKET_INVALID");
    if (stored.purpose !== purpose || stored.target !== target) throw new CodedError("TICKET_MISMATCH");
    return this.sessions.principalForSession(stored.sessionId, stored.userId);
  }
}
