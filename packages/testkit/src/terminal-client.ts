import { TerminalServerMessage, type TerminalServerMessageOf } from "@patchmon-ws/protocol";
import { Arrivals } from "./arrivals.js";
import { TestWsClient, type WsClientOptions, type WsClose } from "./ws-client.js";

export interface TerminalConnectOptions {
  connection_mode?: "direct" | "proxy";
  username?: string;
  password?: string;
  privateKey?: string;
  passphrase?: string;
  cols?: number;
  rows?: number;
  terminal?: string;
  /** Anything else a client might send (e.g. PatchMon's port / proxy_host, which the server ignores). */
  [extra: string]: unknown;
}

/** How far back a search for output re-reads text it already saw (a match may straddle two chunks). */
const RESCAN_CHARS = 4096;

/**
 * A browser terminal as tests (and benchmarks) drive it: the PatchMon terminal protocol over a real WebSocket, with
 * the output accumulated as one string so a test can wait for text to appear on it.
 */
export class TerminalTestClient {
  /** Every message from the server except `data` (whose text is in `output`), parsed. */
  readonly messages: TerminalServerMessage[] = [];
  /** Output chunks as they came (joined on demand: a flood of output must not cost a copy per chunk). */
  private chunks: string[] = [];
  private chunkStarts: number[] = [];
  private length = 0;
  private joined: string | undefined;
  private readonly arrivals = new Arrivals();

  private constructor(readonly ws: TestWsClient) {
    ws.ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary) return;
      const parsed = TerminalServerMessage.safeParse(JSON.parse(data.toString()));
      if (!parsed.success) return;
      if (parsed.data.type === "data") this.append(parsed.data.data);
      else this.messages.push(parsed.data);
      this.arrivals.notify();
    });
    void ws.closed.then(() => this.arrivals.notify());
  }

  /** Opens `/api/{v}/ssh-terminal/:hostId?ticket=…`; rejects with WsRefused when the upgrade is refused. */
  static async open(url: string, options: WsClientOptions = {}): Promise<TerminalTestClient> {
    return new TerminalTestClient(await TestWsClient.connect(url, { ...options, keepMessages: false }));
  }

  /** Terminal output so far (since the last discardOutput). */
  get output(): string {
    if (this.joined === undefined || this.joined.length !== this.length) this.joined = this.chunks.join("");
    return this.joined;
  }

  /** Characters of output so far (since the last discardOutput). */
  get outputLength(): number {
    return this.length;
  }

  get closed(): Promise<WsClose> {
    return this.ws.closed;
  }

  send(message: unknown): void {
    this.ws.send(message);
  }

  connect(options: TerminalConnectOptions = {}): void {
    this.send({ type: "connect", ...options });
  }

  /** Resolves with `connected`, or rejects with the `error` the server sent instead. */
  async connected(timeoutMs = 25_000): Promise<TerminalServerMessageOf<"connected">> {
    const first = await this.waitFor((m) => m.type === "connected" || m.type === "error", timeoutMs, "connected or error");
    if (first.type === "error") throw new Error(`terminal refused: ${first.code ?? ""} ${first.message}`);
    return first as TerminalServerMessageOf<"connected">;
  }

  type(text: string): void {
    this.send({ type: "input", data: text });
  }

  resize(cols: number, rows: number): void {
    this.send({ type: "resize", cols, rows });
  }

  /** Waits for output (since `from`, a length of `output`) matching the pattern; resolves with the match. */
  async waitForOutput(pattern: RegExp | string, options: { timeoutMs?: number; from?: number } = {}): Promise<RegExpExecArray> {
    const regex = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    let from = options.from ?? 0;
    for (;;) {
      const match = regex.exec(this.textFrom(from));
      if (match) return match;
      // Next time, read only what arrived since (and a little before, for a match across chunks).
      from = Math.max(from, this.length - RESCAN_CHARS);
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.ws.ws.readyState > 1) {
        throw new Error(`no output matching ${regex} ${remaining <= 0 ? "in time" : "before the socket closed"}; last output: ${JSON.stringify(this.textFrom(this.length - 500))}; messages: ${JSON.stringify(this.messages.filter((m) => m.type !== "data"))}`);
      }
      await this.arrivals.next(remaining);
    }
  }

  /** Waits for a message of the server matching `predicate` (already received ones count). */
  async waitFor(predicate: (m: TerminalServerMessage) => boolean, timeoutMs = 15_000, what = "message"): Promise<TerminalServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || this.ws.ws.readyState > 1) {
        throw new Error(`no ${what} ${remaining <= 0 ? "in time" : "before the socket closed"}; got ${JSON.stringify(this.messages.filter((m) => m.type !== "data")).slice(0, 2000)}`);
      }
      await this.arrivals.next(remaining);
    }
  }

  /** Forgets the output so far (a test that streams a lot keeps only what comes next). */
  discardOutput(): void {
    this.chunks = [];
    this.chunkStarts = [];
    this.length = 0;
    this.joined = undefined;
  }

  private append(text: string): void {
    this.chunks.push(text);
    this.chunkStarts.push(this.length);
    this.length += text.length;
  }

  /** The output from position `from` on, joining only the chunks it spans. */
  private textFrom(from: number): string {
    if (from <= 0) return this.output;
    let lo = 0;
    let hi = this.chunkStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunkStarts[mid]! <= from) lo = mid;
      else hi = mid - 1;
    }
    if (this.chunks.length === 0) return "";
    return this.chunks.slice(lo).join("").slice(from - this.chunkStarts[lo]!);
  }

  /** The `error` messages received. */
  get errors(): TerminalServerMessageOf<"error">[] {
    return this.messages.filter((m): m is TerminalServerMessageOf<"error"> => m.type === "error");
  }

  /** Ends the session the protocol's way and resolves with the close. */
  async disconnect(): Promise<WsClose> {
    if (this.ws.ws.readyState === 1) this.send({ type: "disconnect" });
    return this.ws.waitForClose();
  }

  terminate(): void {
    this.ws.terminate();
  }
}
