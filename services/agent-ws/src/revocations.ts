import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { AuthSubjects, CloseCode, RevocationEvent } from "@patchmon-ws/protocol";
import type { Logger } from "@patchmon-ws/service-kit";

export interface RevocationTargets {
  /** Close the host's live agent connection with this code; returns whether one was open here. */
  closeHost(hostId: string, code: number, reason: "credentials_revoked" | "host_deleted", text: string): boolean;
  /** The host is gone: forget its presence and its undelivered commands. */
  hostDeleted(hostId: string, at: number): void;
  /** A user or session lost its credentials: drop cached tokens and end its status streams. */
  principalRevoked(match: { userId?: string; sessionId?: string }): void;
}

/**
 * Applies the auth service's revocation events (auth.v1.revoked.>) within a second: a rotated API key closes the
 * host's agent with CREDENTIALS_REVOKED, a deleted host with HOST_DELETED; revoked users and sessions lose their
 * cached tokens and status streams.
 */
export function subscribeRevocations(nc: NatsConnection, targets: RevocationTargets, logger: Logger): Subscription {
  return nc.subscribe(AuthSubjects.revokedAll, {
    callback: (err, msg) => {
      if (err) {
        logger.error({ err: err.message }, "revocation subscription failed");
        return;
      }
      let event: RevocationEvent;
      try {
        const parsed = RevocationEvent.safeParse(msg.json());
        if (!parsed.success) {
          logger.warn({ subject: msg.subject }, "ignoring malformed revocation event");
          return;
        }
        event = parsed.data;
      } catch {
        logger.warn({ subject: msg.subject }, "ignoring revocation event that is not JSON");
        return;
      }
      switch (event.kind) {
        case "host": {
          const deleted = event.reason === "host_deleted";
          const closed = deleted
            ? targets.closeHost(event.id, CloseCode.HOST_DELETED, "host_deleted", "host deleted")
            : targets.closeHost(event.id, CloseCode.CREDENTIALS_REVOKED, "credentials_revoked", "API key rotated or revoked");
          logger.info({ hostId: event.id, reason: event.reason, closed }, "host credentials revoked");
          if (deleted) targets.hostDeleted(event.id, event.at);
          return;
        }
        case "user":
          targets.principalRevoked({ userId: event.id });
          return;
        case "session":
          targets.principalRevoked({ sessionId: event.id });
          return;
      }
    },
  });
}
