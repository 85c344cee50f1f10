import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
import { rejectUpgrade } from "@patchmon-ws/service-kit";
import type { Edge } from "../src/edge.js";

/** What a test upstream saw of one request: its replica name, the URL and the headers as they arrived. */
export interface Seen {
  upstream: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP + WebSocket server standing in for one replica of a service:
 * - GET /healthz → 200;
 * - any other request → 200 JSON Seen;
 * - an upgrade whose path contains /reject → 401 JSON (the services' own rejectUpgrade);
 * - any other upgrade → WebSocket that first sends Seen, then echoes every message.
 * stop() closes it (and every socket); start() listens again on the same port.
 */
export class TestUpstream {
  readonly hits: Seen[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly wss = new WebSocketServer({ noServer: true });
  port = 0;

  constructor(readonly name: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      if (req.url === "/healthz") {
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"status":"ok"}');
        return;
      }
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        const seen = this.record(req, body);
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(seen));
      });
    });
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    server.on("upgrade", (req: IncomingMessage, socket, head) => {
      if (req.url?.includes("/reject")) return rejectUpgrade(socket, "INVALID_CREDENTIALS", "The API key is wrong.");
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.send(JSON.stringify(this.record(req, "")));
        ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    const address = server.address();
    this.port = typeof address === "object" && address ? address.port : this.port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const client of this.wss.clients) client.terminate();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private record(req: IncomingMessage, body: string): Seen {
    const seen = { upstream: this.name, method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
    this.hits.push(seen);
    return seen;
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
}

/** An HTTPS request to the edge that trusts only the edge's certificate. */
export function fetchEdge(
  edge: Edge,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string; chunks?: string[]; host?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: options.host ?? "127.0.0.1",
        port: edge.port,
        path,
        method: options.method ?? "GET",
        headers: options.headers,
        ca: edge.certificate,
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.on("error", reject);
    // Written piece by piece, a body without Content-Length goes out chunked.
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end(options.body);
  });
}

/** A WebSocket through the edge; resolves with the socket and the Seen its upstream sent first. */
export function openWebSocket(edge: Edge, path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; seen: Seen }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${edge.port}${path}`, { ca: edge.certificate, headers });
    ws.once("message", (data) => resolve({ ws, seen: JSON.parse(data.toString()) as Seen }));
    ws.once("unexpected-response", (_req, res) => {
      ws.terminate();
      reject(new Error(`unexpected response ${res.statusCode}`));
    });
    ws.once("error", reject);
  });
}

/** An upgrade the edge or the upstream refuses: the status, headers and body of the refusal. */
export function refusedUpgrade(edge: Edge, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${edge.port}${path}`, { ca: edge.certificate });
    ws.once("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: JSON.parse(body) });
      });
    });
  });
}

export function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once("message", (data) => resolve(data.toString()));
    ws.once("close", () => reject(new Error("closed before a message")));
  });
}

export function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(1006);
    ws.once("close", (code) => resolve(code));
  });
}

/** Polls until `check` passes; for events whose timing the test cannot know (a health check round). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
