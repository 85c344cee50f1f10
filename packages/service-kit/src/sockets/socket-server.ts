import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type ServerOptions, type WebSocket, type RawData } from "ws";
import type { LiveSocket } from "./live-socket.js";

/** How long a peer may take to answer our close frame before its TCP connection is destroyed (ws waits 30 s). */
export const CLOSE_HANDSHAKE_TIMEOUT_MS = 2000;

/** Options `ws` honours that its type declarations do not list yet. */
type FullServerOptions = ServerOptions & { closeTimeout?: number };

/**
 * The WebSocket server every endpoint uses: no own HTTP server (the runtime routes upgrades), no compression
 * (memory per socket, decompression bombs, side channels: "Every socket" in docs/architecture.md), no client tracking (services keep their own registries), pings
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
 * The error listener a server puts on a raw upgrade socket until ws takes it over: an error destroys the socket.
 * A named function, not a closure: a closure in the upgrade handler would keep the request (headers, credentials)
 * alive for as long as the upgraded socket lives.
 */
export function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Completes an upgrade the service has already authorised; resolves undefined when the client went away first.
 * ws installs its own error listener from here on, so the raw socket's (`destroyOnError`) goes.
 */
export function completeUpgrade(server: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<WebSocket | undefined> {
  if (socket.destroyed) return Promise.resolve(undefined);
  // Removed by reference: a stream's listener table keeps its shape when one listener goes, whereas
  // removeAllListeners(type) deletes the key and turns the table into a dictionary, about 700 bytes more for every
  // upgraded socket as long as it lives.
  socket.off("error", destroyOnError);
  return new Promise<WebSocket | undefined>((resolve) => {
    // ws drops a socket that stopped being writable without calling back: settle anyway, so callers release what
    // they took for this upgrade (quota slots).
    const gone = () => resolve(undefined);
    socket.once("close", gone);
    // The 101 answer and the first message the service sends in this turn (a greeting) leave in one write, not two:
    // the uncork runs in the check phase, after the service's continuation of this promise.
    socket.cork();
    server.handleUpgrade(req, socket, head, (ws) => {
      socket.off("close", gone);
      resolve(ws);
      setImmediate(() => socket.uncork());
    });
  });
}

/** What a service does with a socket's events; a LiveSocket subclass implements it (no closure per socket). */
export interface SocketEvents {
  /** A data frame on an open connection (frames on a closing one never get here). */
  onMessage(data: RawData, isBinary: boolean): void;
  onSocketError?(err: Error & { code?: string }): void;
  onClosed(code: number): void;
}

type BoundLiveSocket = LiveSocket<string> & SocketEvents;
/** The listener shape ws's overloads accept. */
type Listener = (this: WebSocket, ...args: any[]) => void;
const BOUND = Symbol("patchmon-ws.live-socket");
type BoundWebSocket = WebSocket & { [BOUND]: BoundLiveSocket };

// One listener function of each kind for every socket of the process, finding its LiveSocket through the
// WebSocket (`this`): per-socket closures would cost several hundred bytes each across tens of thousands of agents.
function onMessage(this: BoundWebSocket, data: RawData, isBinary: boolean): void {
  const live = this[BOUND];
  live.life();
  if (live.open) live.onMessage(data, isBinary);
}
function onPing(this: BoundWebSocket, data: Buffer): void {
  const live = this[BOUND];
  live.pinged(data, live.pingPolicy);
}
function onPong(this: BoundWebSocket): void {
  this[BOUND].life();
}
function onError(this: BoundWebSocket, err: Error & { code?: string }): void {
  this[BOUND].onSocketError?.(err);
}
function onClose(this: BoundWebSocket, code: number): void {
  this[BOUND].onClosed(code);
}

/** Feeds a ws WebSocket's events through the lifecycle of its LiveSocket, which handles them. */
export function bindSocket(ws: WebSocket, live: BoundLiveSocket): void {
  (ws as BoundWebSocket)[BOUND] = live;
  // ws's typings give listeners `this: WebSocket`; these are only ever attached to bound sockets.
  ws.on("message", onMessage as Listener);
  ws.on("ping", onPing as Listener);
  ws.on("pong", onPong as Listener);
  ws.on("error", onError as Listener);
  // `on`, not `once`: close fires once anyway, and once() wraps every listener in a bound function and a state object.
  ws.on("close", onClose as Listener);
}
