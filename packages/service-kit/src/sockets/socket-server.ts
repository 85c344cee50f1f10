import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type ServerOptions, type WebSocket, type RawData } from "ws";
import { DEFAULT_PING_FLOOD_POLICY, type LiveSocket, type PingFloodPolicy } from "./live-socket.js";

/** How long a peer may take to answer our close frame before its TCP connection is destroyed (ws waits 30 s). */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2000;

/** Options `ws` honours that its type declarations do not list yet. */
type FullServerOptions = ServerOptions & { closeTimeout?: number };

/**
 * The WebSocket server every endpoint uses: no own HTTP server (the runtime routes upgrades), no compression
 * (DESIGN.md §3; also a memory cost per socket), no client tracking (services keep their own registries), pings
 * answered by LiveSocket's policy instead of ws's unbounded auto-pong, and a short close handshake.
 */
export function createSocketServer(options: { maxPayload: number }): WebSocketServer {
  const full: FullServerOptions = {
    noServer: true,
    perMessageDeflate: false,
    clientTracking: false,
    maxPayload: options.maxPayload,
    autoPong: false,
    closeTimeout: CLOSE_HANDSHAKE_TIMEOUT_MS,
  };
  return new WebSocketServer(full);
}

/**
 * Completes an upgrade the service has already authorised. Listeners added to the raw socket before (the
 * runtime's error handler) close over the request, which would otherwise stay in memory, headers and credentials
 * included, for the whole life of the connection; ws installs its own from here on.
 */
export function completeUpgrade(server: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket> | undefined {
  if (socket.destroyed) return undefined;
  socket.removeAllListeners("error");
  return new Promise<WebSocket>((resolve) => server.handleUpgrade(req, socket, head, resolve));
}

export interface SocketEvents {
  /** A data frame on an open connection (frames on a closing one never get here). */
  message(data: RawData, isBinary: boolean): void;
  error?(err: Error & { code?: string }): void;
  closed(code: number): void;
}

/** Feeds a ws WebSocket's events through the lifecycle of its LiveSocket to the service. */
export function bindSocket(ws: WebSocket, live: LiveSocket<string>, events: SocketEvents, pingPolicy: PingFloodPolicy = DEFAULT_PING_FLOOD_POLICY): void {
  ws.on("message", (data, isBinary) => {
    live.life();
    if (live.open) events.message(data, isBinary);
  });
  ws.on("ping", (data) => live.pinged(data, pingPolicy));
  ws.on("pong", () => live.life());
  ws.on("error", (err) => events.error?.(err));
  ws.once("close", (code) => events.closed(code));
}
