import type { IncomingHttpHeaders } from "node:http";
import WebSocket from "ws";
import { Arrivals } from "./arrivals.js";

export interface WsClientOptions {
  headers?: Record<string, string>;
  /** PEM CA to trust for wss:// (the edge's self-signed certificate). */
  ca?: string;
  /** false accepts any certificate (self-signed, wrong name); default true. */
  rejectUnauthorized?: boolean;
  protocols?: string | string[];
  /** Largest incoming message; default ws's (100 MiB). */
  maxPayload?: number;
  /** How long the handshake may take; default 15 s. */
  handshakeTimeoutMs?: number;
  /** Keep every message in `messages` (default true); false for high-volume streams read through `ws` events. */
  keepMessages?: boolean;
}

/** An upgrade the server refused with an HTTP answer: its status, headers and body (JSON when it parses). */
export class WsRefused extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    /** The body as text. */
    readonly text: string,
  ) {
    super(`upgrade refused with ${status}: ${text.slice(0, 500)}`);
  }

  /** The JSON body (`{error, code}` by the security contract), or undefined if it is not JSON. */
  get json(): any {
    try {
      return JSON.parse(this.text);
    } catch {
      return undefined;
    }
  }

  get retryAfter(): string | undefined {
    const value = this.headers["retry-after"];
    return Array.isArray(value) ? value[0] : value;
  }
}

export interface WsClose {
  code: number;
  reason: string;
}

function socketOptions(options: WsClientOptions): WebSocket.ClientOptions {
  return {
    headers: options.headers ?? {},
    handshakeTimeout: options.handshakeTimeoutMs ?? 15_000,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.rejectUnauthorized } : {}),
    ...(options.maxPayload !== undefined ? { maxPayload: options.maxPayload } : {}),
  };
}

/** Reads a refused upgrade's answer into a WsRefused. */
function readRefusal(res: import("node:http").IncomingMessage): Promise<WsRefused> {
  return new Promise((resolve) => {
    let text = "";
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => (text += chunk));
    res.on("end", () => resolve(new WsRefused(res.statusCode ?? 0, res.headers, text)));
    res.on("error", () => resolve(new WsRefused(res.statusCode ?? 0, res.headers, text)));
  });
}

/**
 * A WebSocket test client over `ws`: keeps every message (JSON-parsed when it parses, else the text), waits for a
 * message by predicate, and reports the close code and reason. A refused upgrade rejects with WsRefused.
 */
export class TestWsClient<M = any> {
  readonly messages: M[] = [];
  readonly closed: Promise<WsClose>;
  private readonly arrivals = new Arrivals();

  private constructor(
    readonly ws: WebSocket,
    keepMessages = true,
  ) {
    if (keepMessages) ws.on("message", (data, isBinary) => {
      const text = data.toString();
      let message: unknown = text;
      if (!isBinary) {
        try {
          message = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
      }
      this.messages.push(message as M);
      this.arrivals.notify();
    });
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
    this.closed.then(() => {
      this.arrivals.notify();
    });
    // After the open, errors end in a close, which is what tests assert on.
    ws.on("error", () => undefined);
  }

  /** Opens a socket; resolves once open, rejects with WsRefused for an HTTP answer, or with the socket error. */
  static connect<M = any>(url: string, options: WsClientOptions = {}): Promise<TestWsClient<M>> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options.protocols, socketOptions(options));
      const client = new TestWsClient<M>(ws, options.keepMessages ?? true);
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_req, res) => {
        void readRefusal(res).then((refusal) => {
          ws.terminate();
          reject(refusal);
        });
      });
      ws.once("error", reject);
    });
  }

  /** Attempts an upgrade that must be refused; resolves with the refusal, rejects if the socket opens. */
  static async refusal(url: string, options: WsClientOptions = {}): Promise<WsRefused> {
    let client: TestWsClient;
    try {
      client = await TestWsClient.connect(url, options);
    } catch (err) {
      if (err instanceof WsRefused) return err;
      throw err;
    }
    client.terminate();
    throw new Error(`the upgrade to ${url} was accepted`);
  }

  /** Resolves with the first message at or after index `since` matching `predicate` (received ones count). */
  async waitFor(predicate: (message: M) => boolean, options: { timeoutMs?: number; since?: number; what?: string } = {}): Promise<M> {
    const timeoutMs = options.timeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(options.since ?? 0).find(predicate);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        const why = remaining <= 0 ? `within ${timeoutMs} ms` : "before the socket closed";
        throw new Error(`no matching ${options.what ?? "message"} ${why}; got ${JSON.stringify(this.messages.slice(-20)).slice(0, 2000)}`);
      }
      await this.arrivals.next(remaining);
    }
  }

  /** Resolves with the close code and reason, or rejects if the socket is still open after `timeoutMs`. */
  waitForClose(timeoutMs = 15_000): Promise<WsClose> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
      void this.closed.then((close) => {
        clearTimeout(timer);
        resolve(close);
      });
    });
  }

  /** Sends a string as is, anything else as JSON. */
  send(message: unknown): void {
    this.ws.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  /** Closes (1000 unless given) and resolves with the close the server answered. */
  close(code = 1000, reason?: string): Promise<WsClose> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code, reason);
    return this.closed;
  }

  terminate(): void {
    this.ws.terminate();
  }
}
