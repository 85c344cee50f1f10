import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { CodedError, isCodedError, type HostRecord } from "@patchmon-ws/protocol";
import { bindSocket, completeUpgrade, createSocketServer, type Logger, type ProxyTrust } from "@patchmon-ws/service-kit";
import type { AgentAuthenticator } from "./agent-authenticator.js";
import type { AgentGateway } from "./agent-gateway.js";
import type { AgentWsMetrics } from "../metrics.js";
import { readAgentCredentials, routeAgentUpgrade } from "./upgrade-route.js";

export interface AgentUpgradeOptions {
  versions: readonly string[];
  maxPayload: number;
  maxConnections: number;
  trust: ProxyTrust;
  authenticator: AgentAuthenticator;
  gateway: AgentGateway;
  metrics: AgentWsMetrics;
  logger: Logger;
}

/** Retry-After (seconds) for an agent refused because this replica is full. */
const FULL_RETRY_AFTER_SECONDS = 5;

/**
 * The process's one upgrade handler: routes `/api/{v}/agents/ws`, checks headers, then credentials (auth's rate limit),
 * all before `handleUpgrade`; a refusal is an HTTP status with a JSON body (the runtime writes it from the thrown
 * CodedError). Accepted sockets go to the gateway.
 */
export class AgentUpgradeHandler {
  readonly wss: WebSocketServer;

  constructor(private readonly options: AgentUpgradeOptions) {
    this.wss = createSocketServer({ maxPayload: options.maxPayload });
  }

  readonly handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { trust, authenticator, gateway, metrics, logger } = this.options;
    const source = trust.clientAddress(req);
    try {
      routeAgentUpgrade(req.url, this.options.versions);
      const credentials = readAgentCredentials(req.headers);
      if (gateway.size >= this.options.maxConnections) {
        throw new CodedError("OVERLOADED", "This replica holds its maximum of agent connections; retry.", {
          retryAfter: FULL_RETRY_AFTER_SECONDS,
        });
      }
      const host = await authenticator.verify(credentials, source);
      const secure = trust.isSecure(req);
      const ws = await completeUpgrade(this.wss, req, socket, head);
      if (!ws) return;
      metrics.upgrades.inc({ result: "accepted" });
      this.attach(ws, host, secure, source);
    } catch (err) {
      const code = isCodedError(err) ? err.code : "INTERNAL";
      metrics.upgrades.inc({ result: code });
      if (code !== "INTERNAL" && code !== "NOT_FOUND") {
        logger.info({ source, code, path: req.url?.split("?")[0] }, "agent upgrade refused");
      }
      throw err;
    }
  };

  private attach(ws: WebSocket, host: HostRecord, secure: boolean, remoteAddress: string): void {
    const { gateway } = this.options;
    const connection = gateway.accept(ws, { id: host.id, apiId: host.apiId }, { secure, remoteAddress });
    bindSocket(ws, connection);
  }

  close(): void {
    this.wss.close();
  }
}
