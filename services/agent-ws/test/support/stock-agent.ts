import type { IncomingMessage } from "node:http";
import WebSocket from "ws";

export interface UpgradeRefusal {
  status: number;
  headers: IncomingMessage["headers"];
  body: { error?: string; code?: string } & Record<string, unknown>;
}

export interface DialOptions {
  apiId?: string;
  apiKey?: string;
  headers?: Record<string, string>;
  /** Trusted CA for wss:// through the edge. */
  ca?: string;
}

function headersFor(options: DialOptions): Record<string, string> {
  return {
    ...(options.apiId !== undefined ? { "X-API-ID": options.apiId } : {}),
    ...(options.apiKey !== undefined ? { "X-API-KEY": options.apiKey } : {}),
    ...options.headers,
  };
}

/** Attempts an upgrade that should be refused; resolves with the HTTP status, headers and JSON body. */
export function expectRefusal(url: string, options: DialOptions = {}): Promise<UpgradeRefusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: headersFor(options), ...(options.ca ? { ca: options.ca } : {}) });
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the upgrade was accepted"));
    });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => {
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) });
        } catch {
          reject(new Error(`refusal ${res.statusCode} without a JSON body: ${JSON.stringify(text)}`));
        }
        ws.terminate();
      });
    });
    ws.on("error", (err) => reject(err));
  });
}

/**
 * A client that behaves like the stock Go agent (v1.4.x): headers on the upgrade, JSON text frames, no hello,
 * no acks. Everything it receives is kept for assertions.
 */
export class StockAgent {
  readonly received: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      try {
        this.received.push(JSON.parse(data.toString()) as Record<string, unknown>);
      } catch {
        this.received.push({ unparsable: data.toString() });
      }
      for (const listener of this.listeners) listener();
    });
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on("error", () => undefined);
  }

  static connect(url: string, options: DialOptions): Promise<StockAgent> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: headersFor(options), ...(options.ca ? { ca: options.ca } : {}) });
      const agent = new StockAgent(ws);
      ws.once("open", () => resolve(agent));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  /** Commands received (the greeting excluded). */
  commands(): Record<string, unknown>[] {
    return this.received.filter((m) => m.type !== "connected");
  }

  /** Resolves with the first received message matching `predicate` (already received ones count). */
  waitFor(predicate: (message: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.find(predicate);
        if (found) {
          cleanup();
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching message within ${timeoutMs} ms; received ${JSON.stringify(this.received)}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }

  send(message: object): void {
    this.ws.send(JSON.stringify(message));
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(1000);
    return this.closed;
  }
}
