import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Registry } from "prom-client";
import { BULLBOARD_EVENTS_PATH, CLIENT_MAX_PAYLOAD, CloseCode, CodedError } from "@patchmon-ws/protocol";
import { UserSocketEndpoint, type Logger, type OriginPolicy, type PrincipalVerifier, type ProxyTrust, type RevocationHub } from "@patchmon-ws/service-kit";
import type { AccessGuard, DashboardSession } from "./access-guard.js";
import { boardModeFor } from "./board-mode.js";
import { messages } from "./event-messages.js";
import { EventSocket } from "./event-socket.js";
import type { QueueEventHub } from "./queue-event-hub.js";

export const EVENTS_PATH = BULLBOARD_EVENTS_PATH;

export interface EventGatewayOptions {
  guard: AccessGuard;
  verifier: PrincipalVerifier;
  origins: OriginPolicy;
  trust: ProxyTrust;
  hub: QueueEventHub;
  revocations: Pick<RevocationHub, "track" | "untrack">;
  maxSockets: number;
  maxSocketsPerUser: number;
  maxQueuedEvents: number;
  highWaterBytes: number;
  pingIntervalMs: number;
  logger: Logger;
  registry?: Registry;
  onDropped?: (count: number) => void;
}

/** A dashboard session grants the socket; its token's lifetime is the socket's. */
type EventGrant = DashboardSession;

/**
 * The live-event WebSocket: `/bullboard/events`, on the kit's user-socket endpoint (Origin, the dashboard cookie and
 * the socket caps before the upgrade, answered with a JSON status; heartbeat; 1008 when the token expires; 4001 the
 * moment the session or user is revoked; 1012 on shutdown). What is the board's own: the hub it streams from, and the
 * re-check when the user changed (4001 when access was withdrawn or the mode changed, so the client reconnects with
 * its new rights).
 */
export class EventGateway {
  private readonly endpoint: UserSocketEndpoint<EventGrant, EventSocket>;

  constructor(private readonly options: EventGatewayOptions) {
    const { hub } = options;
    this.endpoint = new UserSocketEndpoint<EventGrant, EventSocket>({
      what: "live-event sockets",
      maxPayload: CLIENT_MAX_PAYLOAD,
      origins: options.origins,
      trust: options.trust,
      revocations: options.revocations,
      maxSockets: options.maxSockets,
      maxSocketsPerUser: options.maxSocketsPerUser,
      pingIntervalMs: options.pingIntervalMs,
      logger: options.logger,
      ...(options.registry ? { registry: options.registry } : {}),
      authenticate: (req, sourceAddress) => options.guard.authenticate(req.headers.cookie, sourceAddress),
      open: (ws, session, sourceAddress) =>
        new EventSocket(ws, session.principal, session.mode, session.token, sourceAddress, {
          maxQueuedEvents: options.maxQueuedEvents,
          highWaterBytes: options.highWaterBytes,
          onSubscriptionChange: (s) => hub.snapshot(s),
          onUserChanged: (s) => void this.recheck(s),
          onClosed: (s) => hub.unsubscribe(s),
          ...(options.onDropped ? { onDropped: options.onDropped } : {}),
        }),
      opened: (socket, session) => {
        socket.deliver(messages.hello({ username: session.principal.username, mode: session.mode }, hub.queues(), options.pingIntervalMs));
        hub.subscribe(socket);
        hub.snapshot(socket);
      },
    });
  }

  static handles(pathname: string): boolean {
    return pathname === EVENTS_PATH || pathname === `${EVENTS_PATH}/`;
  }

  get size(): number {
    return this.endpoint.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    return this.endpoint.handleUpgrade(req, socket, head);
  }

  /** Closes every socket (drain): clients reconnect to another replica. */
  closeAll(code: number = CloseCode.SERVICE_RESTART, text = "service restarting"): void {
    this.endpoint.closeAll(code, text);
  }

  close(): void {
    this.endpoint.close();
  }

  /** Re-authorises a socket after its user changed; closes it when access was withdrawn or the mode changed. */
  private async recheck(socket: EventSocket): Promise<void> {
    try {
      const principal = await this.options.verifier.verify(socket.token, socket.sourceAddress);
      const mode = boardModeFor(principal);
      if (mode !== socket.mode) {
        socket.close(CloseCode.CREDENTIALS_REVOKED, "user_changed", mode ? "permissions changed; reconnect" : "queue access withdrawn");
      }
    } catch (err) {
      const unavailable = err instanceof CodedError && err.status === 503;
      socket.close(
        unavailable ? CloseCode.TRY_AGAIN_LATER : CloseCode.CREDENTIALS_REVOKED,
        "revoked",
        unavailable ? "cannot re-verify credentials; reconnect later" : "credentials revoked",
      );
    }
  }
}
