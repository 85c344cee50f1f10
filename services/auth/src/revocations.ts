import type { NatsConnection } from "@nats-io/transport-node";
import { AuthSubjects, type RevocationEvent } from "@patchmon-ws/protocol";
import { encodeJson } from "@patchmon-ws/service-kit";

export type Revocation = Omit<RevocationEvent, "at">;

/** Where revocations go. Services holding sockets subscribe to auth.v1.revoked.> and close what is affected. */
export interface RevocationSink {
  publish(revocation: Revocation): void;
}

export class NatsRevocationSink implements RevocationSink {
  constructor(private readonly nc: NatsConnection) {}

  publish(revocation: Revocation): void {
    const event: RevocationEvent = { ...revocation, at: Date.now() };
    const subject =
      revocation.kind === "user"
        ? AuthSubjects.revokedUser(revocation.id)
        : revocation.kind === "session"
          ? AuthSubjects.revokedSession(revocation.id)
          : AuthSubjects.revokedHost(revocation.id);
    this.nc.publish(subject, encodeJson(event));
  }
}
