import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import { TestWsClient, type WsClientOptions, type WsClose } from "@patchmon-ws/testkit";

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

function clientOptions(options: DialOptions): WsClientOptions {
  return {
    headers: {
      ...(options.apiId !== undefined ? { "X-API-ID": options.apiId } : {}),
      ...(options.apiKey !== undefined ? { "X-API-KEY": options.apiKey } : {}),
      ...options.headers,
    },
    ...(options.ca ? { ca: options.ca } : {}),
  };
}

/** Attempts an upgrade that should be refused; resolves with the HTTP status, headers and JSON body. */
export async function expectRefusal(url: string, options: DialOptions = {}): Promise<UpgradeRefusal> {
  const refusal = await TestWsClient.refusal(url, clientOptions(options));
  if (refusal.json === undefined) throw new Error(`refusal ${refusal.status} without a JSON body: ${JSON.stringify(refusal.text)}`);
  return { status: refusal.status, headers: refusal.headers, body: refusal.json };
}

/**
 * A client that behaves like the stock Go agent (v1.4.x): headers on the upgrade, JSON text frames, no hello,
 * no acks. Everything it receives is kept for assertions (testkit's TestWsClient).
 */
export class StockAgent {
  private constructor(private readonly client: TestWsClient<Record<string, unknown>>) {}

  static async connect(url: string, options: DialOptions): Promise<StockAgent> {
    return new StockAgent(await TestWsClient.connect<Record<string, unknown>>(url, clientOptions(options)));
  }

  get ws(): WebSocket {
    return this.client.ws;
  }

  get received(): Record<string, unknown>[] {
    return this.client.messages;
  }

  get closed(): Promise<WsClose> {
    return this.client.closed;
  }

  /** Commands received (the greeting excluded). */
  commands(): Record<string, unknown>[] {
    return this.received.filter((m) => m.type !== "connected");
  }

  /** Resolves with the first received message matching `predicate` (already received ones count). */
  waitFor(predicate: (message: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return this.client.waitFor(predicate, { timeoutMs });
  }

  send(message: object): void {
    this.client.send(message);
  }

  close(): Promise<WsClose> {
    return this.client.close(1000);
  }
}
