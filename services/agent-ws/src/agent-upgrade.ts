import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { CodedError, isCodedError, type HostRecord } from "@patchmon-ws/protocol";
import type { Logger, ProxyTrust } from "@patchmon-ws/service-kit";
import type { AgentAuthenticator } from "./agent-authenticator.js";
import type { AgentGateway } from "./agent-gateway.js";
import type { AgentWsMetrics } from "./metrics.js";
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
 * The process's one upgrade handler: routes `/api/{v}/agents/ws`, checks headers, rate limit and credentials,
 * all before `handleUpgrade`; a refusal is an HTTP status with a JSON body (the runtime writes it from the thrown
 * CodedError). Accepted sockets go to the gateway.
 */
export class AgentUpgradeHandler {
  readonly wss: WebSocketServer;

  constructor(private readonly options: AgentUpgradeOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      clientTracking: false,
    });
  }

  readonly handle = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const { trust, authenticator, gateway, metrics, logger } = this.options;
    const source = trust.clientAddress(req);
    try {
      routeAgentUpgrade(req.url, this.options.versions);
      let credentials;
      try {
        credentials = readAgentCredentials(req.headers);
      } catch (err) {
        if (isCodedError(err) && err.code === "INVALID_CREDENTIALS") authenticator.recordFailure(source);
        throw err;
      }
      if (gateway.size >= this.options.maxConnections) {
        throw new CodedError("DEPENDENCY_UNAVAILABLE", "This replica holds its maximum of agent connections; retry.", {
          retryAfter: FULL_RETRY_AFTER_SECONDS,
        });
      }
      const host = await authenticator.verify(credentials, source);
      const secure = trust.isSecure(req);
      if (socket.destroyed) return;
      // The socket is ws's from here on and ws installs its own error handling. Listeners added before the upgrade
      // (the runtime's) close over the request, which would otherwise stay in memory, headers and API key
      // included, for the whole life of the connection.
      socket.removeAllListeners("error");
      this.wss.handleUpgrade(req, socket, head, (ws) => this.attach(ws, host, secure, source));
      metrics.upgrades.inc({ result: "accepted" });
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
    ws.on("message", (data, isBinary) => gateway.frame(connection, data as Buffer, isBinary));
    ws.on("pong", () => gateway.life(connection));
    ws.on("ping", () => gateway.life(connection));
    ws.on("error", (err) => gateway.error(connection, err));
    ws.once("close", (code) => gateway.closed(connection, code));
  }

  close(): void {
    this.wss.close();
  }
}
