import { AuthSubjects, RevocationEvent, revocationClose, type CloseCodeValue } from "@patchmon-ws/protocol";
import type { Logger } from "./logger.js";
import type { NatsConnection, Subscription } from "./nats.js";

/** A live connection that a revocation can end. */
export interface Revocable {
  /** Its credentials were revoked: close with this documented code and text. */
  revoked(code: CloseCodeValue, text: string, event: RevocationEvent): void;
  /**
   * The user changed (role, permissions, password): re-authorise and close only if access was lost. Without it the
   * connection is closed like any revocation, so it reconnects with its new rights.
   */
  userChanged?(event: RevocationEvent): void;
}

/** What a connection is registered under: the revocation kinds of auth.v1.revoked.<kind>.<id>. */
export interface RevocationKeys {
  userId?: string;
  sessionId?: string;
  /** The host whose API key (and existence) the connection depends on. */
  hostId?: string;
}

/** Live connections by one key; a single entry is stored bare (agent-ws holds one per host, tens of thousands). */
class ConnectionIndex<T> {
  private readonly entries = new Map<string, T | Set<T>>();

  add(key: string, target: T): void {
    const current = this.entries.get(key);
    if (current === undefined) this.entries.set(key, target);
    else if (current instanceof Set) current.add(target);
    else if (current !== target) this.entries.set(key, new Set([current, target]));
  }

  delete(key: string, target: T): void {
    const current = this.entries.get(key);
    if (current === target) this.entries.delete(key);
    else if (current instanceof Set) {
      current.delete(target);
      if (current.size === 1) this.entries.set(key, current.values().next().value as T);
      else if (current.size === 0) this.entries.delete(key);
    }
  }

  take(key: string): T[] {
    const current = this.entries.get(key);
    if (current === undefined) return [];
    return current instanceof Set ? [...current] : [current];
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * The one subscriber to the auth service's revocation events (auth.v1.revoked.>) in a process. Listeners run
 * first (verdict caches forget the principal, the service forgets a deleted host), then every live connection
 * registered under the event's key is closed with its documented code, as soon as the event arrives: nothing
 * waits for a cache to run out.
 */
export class RevocationHub {
  private readonly users = new ConnectionIndex<Revocable>();
  private readonly sessions = new ConnectionIndex<Revocable>();
  private readonly hosts = new ConnectionIndex<Revocable>();
  private readonly listeners = new Set<(event: RevocationEvent) => void>();
  private subscription: Subscription | undefined;

  constructor(private readonly logger: Logger) {}

  /** Subscribes to the events on `nc`. */
  start(nc: NatsConnection): void {
    this.subscription ??= nc.subscribe(AuthSubjects.revokedAll, {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err: err.message }, "revocation subscription failed");
          return;
        }
        let parsed: ReturnType<typeof RevocationEvent.safeParse> | undefined;
        try {
          parsed = RevocationEvent.safeParse(msg.json());
        } catch {
          parsed = undefined;
        }
        if (!parsed?.success) {
          this.logger.warn({ subject: msg.subject }, "ignoring a malformed revocation event");
          return;
        }
        this.apply(parsed.data);
      },
    });
  }

  stop(): void {
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }

  /** Runs `listener` for every event, before connections are closed. Returns its removal. */
  onEvent(listener: (event: RevocationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Empties a verdict cache of revoked users and sessions at once. */
  forgetRevokedIn(verifier: { revoke(kind: "user" | "session", id: string): void }): void {
    this.onEvent((event) => {
      if (event.kind !== "host") verifier.revoke(event.kind, event.id);
    });
  }

  track(keys: RevocationKeys, target: Revocable): void {
    if (keys.userId !== undefined) this.users.add(keys.userId, target);
    if (keys.sessionId !== undefined) this.sessions.add(keys.sessionId, target);
    if (keys.hostId !== undefined) this.hosts.add(keys.hostId, target);
  }

  /** Call with the same keys when the connection ends. */
  untrack(keys: RevocationKeys, target: Revocable): void {
    if (keys.userId !== undefined) this.users.delete(keys.userId, target);
    if (keys.sessionId !== undefined) this.sessions.delete(keys.sessionId, target);
    if (keys.hostId !== undefined) this.hosts.delete(keys.hostId, target);
  }

  /** Applies one event; returns how many live connections it reached. */
  apply(event: RevocationEvent): number {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err, kind: event.kind, reason: event.reason }, "revocation listener failed");
      }
    }
    const index = event.kind === "user" ? this.users : event.kind === "session" ? this.sessions : this.hosts;
    const targets = index.take(event.id);
    const { code, text } = revocationClose(event);
    for (const target of targets) {
      if (event.reason === "user_changed" && target.userChanged) target.userChanged(event);
      else target.revoked(code, text, event);
    }
    if (targets.length > 0) this.logger.info({ kind: event.kind, id: event.id, reason: event.reason, connections: targets.length }, "revocation applied");
    return targets.length;
  }

  /** Connections tracked, per kind (for tests and metrics). */
  get tracked(): { users: number; sessions: number; hosts: number } {
    return { users: this.users.size, sessions: this.sessions.size, hosts: this.hosts.size };
  }
}
