import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { CodedError, TerminalSubjects, type TerminalAuditEvent } from "@patchmon-ws/protocol";
import { encodeJson, type Logger } from "@patchmon-ws/service-kit";

/** An event as the caller describes it; id, time and replica are filled in. */
export type AuditEntry = Omit<TerminalAuditEvent, "id" | "at" | "replica"> & { at?: number };

/** Attempts at writing an event that must not be lost (session starts and ends). */
const ATTEMPTS = 3;

/**
 * Writes the terminal's audit trail to the TERMINAL_AUDIT stream. A granted access is written before the socket is
 * upgraded (`record`: no terminal opens without its audit entry; JetStream down → 503); refusals, starts and ends are
 * written without holding anyone up (`recordSoon`, retried, logged when they cannot be stored). Never a credential.
 */
export class AuditTrail {
  constructor(
    private readonly js: JetStreamClient,
    private readonly replicaId: string,
    private readonly logger: Logger,
  ) {}

  /** Stores the event; DEPENDENCY_UNAVAILABLE when JetStream does not acknowledge it. */
  async record(entry: AuditEntry): Promise<TerminalAuditEvent> {
    const event = this.complete(entry);
    try {
      await this.js.publish(TerminalSubjects.audit(event.kind), encodeJson(event), { msgID: event.id });
    } catch (err) {
      throw new CodedError("DEPENDENCY_UNAVAILABLE", "The audit trail is unavailable; try again shortly.", { retryAfter: 2, cause: err });
    }
    return event;
  }

  /** Stores the event in the background (retried); the caller does not wait. */
  recordSoon(entry: AuditEntry): void {
    const event = this.complete(entry);
    void (async () => {
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        try {
          // The event id as the message id: a retry after a lost acknowledgement is not stored twice.
          await this.js.publish(TerminalSubjects.audit(event.kind), encodeJson(event), { msgID: event.id });
          return;
        } catch (err) {
          if (attempt === ATTEMPTS) {
            this.logger.error({ audit: event, err: (err as Error)?.message }, "could not store an audit event");
            return;
          }
          await new Promise((r) => setTimeout(r, 250 * attempt));
        }
      }
    })();
  }

  private complete(entry: AuditEntry): TerminalAuditEvent {
    const { at, ...rest } = entry;
    return { id: randomUUID(), at: at ?? Date.now(), replica: this.replicaId, ...rest };
  }
}
