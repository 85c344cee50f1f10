/**
 * A real WebSocket server for the agent to talk to (a test peer, not a stand-in for services/agent-ws): plain
 * HTTP or HTTPS, one upgrade handler, records every upgrade request, frame, ping and close, and can refuse upgrades
 * with a JSON body the way our services do.
 */
import { EventEmitter } from "node:events";
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { WebSocketServer, type WebSocket } from "ws";
import { waitFor } from "./wait.js";

export interface Refusal {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface PeerOptions {
  tls?: { key: string; cert: string };
  /** Answer the agent's pings (default true). */
  autoPong?: boolean;
  /** Decide per upgrade request whether to refuse it. */
  refuse?: (req: IncomingMessage) => Refusal | undefined;
  /** Accept the TCP connection but never answer the upgrade (handshake timeout tests). */
  stall?: boolean;
  /** Hold every upgrade this long before answering, so concurrent attempts overlap (gate tests). */
  upgradeDelayMs?: number;
}

export interface PeerConnection {
  readonly ws: WebSocket;
  readonly headers: IncomingHttpHeaders;
  readonly path: string;
  readonly messages: Record<string, unknown>[];
  readonly rawMessages: string[];
  pings: number;
  closed: { code: number; reason: string } | undefined;
  /** Resolves with the first message matching `predicate` after the one the previous call returned. */
  nextMessage(predicate: (m: Record<string, unknown>) => boolean, what: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  waitClosed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
}

export class TestPeer extends EventEmitter {
  readonly connections: PeerConnection[] = [];
  readonly upgradeRequests: { path: string; headers: IncomingHttpHeaders; tlsSessionReused?: boolean }[] = [];
  /** Upgrades received but not yet answered, and the most there ever were at once. */
  pendingUpgrades = 0;
  maxPendingUpgrades = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    private readonly options: PeerOptions,
  ) {
    super();
  }

  static async start(options: PeerOptions = {}): Promise<TestPeer> {
    const server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }) : createHttpServer();
    const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true, perMessageDeflate: false });
    const peer = new TestPeer(server, wss, options);
    server.on("connection", (socket: Socket) => {
      peer.sockets.add(socket);
      socket.once("close", () => peer.sockets.delete(socket));
    });
    server.on("secureConnection", (socket: Socket) => {
      peer.sockets.add(socket);
      socket.once("close", () => peer.sockets.delete(socket));
    });
    server.on("upgrade", (req, socket, head) => peer.onUpgrade(req, socket as Socket, head));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return peer;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** http(s)://host:port for the agent's `server` option. */
  serverUrl(host = "127.0.0.1"): string {
    return `${this.options.tls ? "https" : "http"}://${host}:${this.port}`;
  }

  get latest(): PeerConnection | undefined {
    return this.connections.at(-1);
  }

  /** Resolves with connection number `index` (0-based) once it exists. */
  connection(index: number, timeoutMs = 15_000): Promise<PeerConnection> {
    return waitFor(() => this.connections[index], `peer connection #${index + 1}`, timeoutMs);
  }

  /** Closes the peer; closing it again does nothing. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.shutDown();
    return this.closing;
  }

  private closing: Promise<void> | undefined;

  private async shutDown(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const path = req.url ?? "";
    const tlsSocket = req.socket as Partial<TLSSocket>;
    this.upgradeRequests.push({
      path,
      headers: req.headers,
      ...(typeof tlsSocket.isSessionReused === "function" ? { tlsSessionReused: tlsSocket.isSessionReused() } : {}),
    });
    this.emit("upgrade-request", req);
    if (this.options.stall) return;
    if (this.options.upgradeDelayMs) {
      this.pendingUpgrades += 1;
      this.maxPendingUpgrades = Math.max(this.maxPendingUpgrades, this.pendingUpgrades);
      setTimeout(() => {
        this.pendingUpgrades -= 1;
        if (!socket.destroyed) this.answerUpgrade(req, socket, head, path);
      }, this.options.upgradeDelayMs);
      return;
    }
    this.answerUpgrade(req, socket, head, path);
  }

  private answerUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, path: string): void {
    const refusal = this.options.refuse?.(req);
    if (refusal) {
      const body = JSON.stringify(refusal.body);
      const extra = Object.entries(refusal.headers ?? {})
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      socket.end(
        `HTTP/1.1 ${refusal.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
      );
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req, path));
  }

  private onConnection(ws: WebSocket, req: IncomingMessage, path: string): void {
    const messages: Record<string, unknown>[] = [];
    const rawMessages: string[] = [];
    // nextMessage() reads forward: each call returns the first match after the previous call's match.
    let cursor = 0;
    const connection: PeerConnection = {
      ws,
      headers: req.headers,
      path,
      messages,
      rawMessages,
      pings: 0,
      closed: undefined,
      nextMessage: async (predicate, what, timeoutMs = 15_000) => {
        const index = await waitFor(
          () => {
            for (let i = cursor; i < messages.length; i += 1) if (predicate(messages[i] as Record<string, unknown>)) return i + 1;
            return undefined;
          },
          `peer to receive ${what}`,
          timeoutMs,
        );
        cursor = index;
        return messages[index - 1] as Record<string, unknown>;
      },
      waitClosed: (timeoutMs = 15_000) => waitFor(() => connection.closed, "the connection to close", timeoutMs),
      send: (message) => ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    };
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? "" : data.toString();
      rawMessages.push(text);
      try {
        messages.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        messages.push({ unparsable: text });
      }
    });
    ws.on("ping", () => {
      connection.pings += 1;
    });
    ws.on("error", () => {});
    ws.on("close", (code, reason) => {
      connection.closed = { code, reason: reason.toString() };
    });
    this.connections.push(connection);
    this.emit("connection", connection);
  }
}

/**
 * Test peers that close after each test: call once at the top of a test file, then start peers with the returned
 * function.
 */
export function peersClosedAfterEach(afterEach: (fn: () => Promise<void>) => void): (options?: Parameters<typeof TestPeer.start>[0]) => Promise<TestPeer> {
  const peers: TestPeer[] = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.close()));
  });
  return async (options = {}) => {
    const peer = await TestPeer.start(options);
    peers.push(peer);
    return peer;
  };
}
