import { request as httpsRequest } from "node:https";
import type { IncomingMessage } from "node:http";
import { Arrivals } from "./arrivals.js";

export interface SseEvent<D = any> {
  /** The event type; "message" when the server sent none. */
  event: string;
  /** The data, JSON-parsed when it parses, else the text. */
  data: D;
  /** The data lines joined with "\n", as sent. */
  text: string;
  /** The last event id at this event (ids carry over to later events, as in EventSource). */
  id?: string;
  /** A `retry:` the server sent with this event, in ms. */
  retry?: number;
}

export interface SseClientOptions {
  headers?: Record<string, string>;
  /** Sent as Last-Event-ID, to resume a stream. */
  lastEventId?: string;
  /**
   * PEM CA to trust, or rejectUnauthorized false: the stream is then read over node:https, since Node's fetch
   * cannot take a CA. Otherwise fetch streaming.
   */
  ca?: string;
  rejectUnauthorized?: boolean;
}

/** The Server-Sent Events wire format (WHATWG HTML §9.2), fed text in any chunking. */
export class SseParser {
  lastEventId: string | undefined;
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private retry: number | undefined;

  constructor(private readonly dispatch: (event: SseEvent) => void) {}

  push(text: string): void {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!match || (match[0] === "\r" && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === "") return this.flush();
    if (line.startsWith(":")) return; // comment (keepalive)
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }

  private flush(): void {
    const hadData = this.data.length > 0;
    const text = this.data.join("\n");
    const event = this.event || "message";
    const retry = this.retry;
    this.data = [];
    this.event = "";
    this.retry = undefined;
    if (!hadData) return;
    let data: unknown = text;
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    this.dispatch({ event, data, text, ...(this.lastEventId !== undefined ? { id: this.lastEventId } : {}), ...(retry !== undefined ? { retry } : {}) });
  }
}

/** Reads a Server-Sent Events stream into parsed events, for assertions. Non-2xx answers keep their body. */
export class SseClient<D = any> {
  readonly events: SseEvent<D>[] = [];
  /** Resolves when the stream ends (server closed it, or close()). */
  readonly ended: Promise<void>;
  /** The body of a non-2xx answer (JSON when it parses). */
  body: any;
  private readonly parser = new SseParser((event) => this.events.push(event as SseEvent<D>));
  private readonly arrivals = new Arrivals();
  private done = false;

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    chunks: AsyncIterable<string>,
    private readonly abort: () => void,
  ) {
    this.ended = this.pump(chunks);
  }

  static async open<D = any>(url: string, options: SseClientOptions = {}): Promise<SseClient<D>> {
    const headers: Record<string, string> = {
      accept: "text/event-stream",
      ...(options.lastEventId !== undefined ? { "last-event-id": options.lastEventId } : {}),
      ...options.headers,
    };
    if (options.ca !== undefined || options.rejectUnauthorized !== undefined) return SseClient.openOverHttps<D>(url, headers, options);
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    const decoder = new TextDecoder();
    async function* text(): AsyncIterable<string> {
      if (!response.body) return;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
    }
    const client = new SseClient<D>(response.status, response.headers, text(), () => controller.abort());
    await client.readErrorBody();
    return client;
  }

  private static openOverHttps<D>(url: string, headers: Record<string, string>, options: SseClientOptions): Promise<SseClient<D>> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, {
        headers,
        ...(options.ca !== undefined ? { ca: options.ca } : {}),
        ...(options.rejectUnauthorized !== undefined ? { rejectUnauthorized: options.rejectUnauthorized } : {}),
      });
      req.once("response", (res: IncomingMessage) => {
        res.setEncoding("utf8");
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) responseHeaders.append(name, v);
        }
        const client = new SseClient<D>(res.statusCode ?? 0, responseHeaders, res as AsyncIterable<string>, () => req.destroy());
        void client.readErrorBody().then(() => resolve(client));
      });
      req.once("error", reject);
      req.end();
    });
  }

  /** The last id the server sent: pass it as `lastEventId` to resume. */
  get lastEventId(): string | undefined {
    return this.parser.lastEventId;
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  private pendingBody: string[] | undefined;

  private async readErrorBody(): Promise<void> {
    if (this.ok) return;
    await this.ended;
    const text = (this.pendingBody ?? []).join("");
    try {
      this.body = JSON.parse(text);
    } catch {
      this.body = text;
    }
  }

  private async pump(chunks: AsyncIterable<string>): Promise<void> {
    try {
      for await (const chunk of chunks) {
        if (!this.ok) (this.pendingBody ??= []).push(chunk);
        else this.parser.push(chunk);
        this.arrivals.notify();
      }
    } catch {
      // aborted, or the connection dropped: the stream has ended either way
    }
    this.done = true;
    this.arrivals.notify();
  }

  /** Resolves with the first event (received ones count) matching `predicate`; rejects on timeout or stream end. */
  async waitFor(predicate: (event: SseEvent<D>) => boolean, timeoutMs = 15_000): Promise<SseEvent<D>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.done) {
        const why = remaining <= 0 ? `within ${timeoutMs} ms` : "before the stream ended";
        throw new Error(`no matching SSE event ${why} (status ${this.status}); got ${JSON.stringify(this.events.slice(-20)).slice(0, 2000)}`);
      }
      await this.arrivals.next(remaining);
    }
  }

  close(): void {
    this.abort();
  }
}
