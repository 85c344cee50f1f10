/**
 * The two terminals a terminal benchmark compares, driven the same way: a browser-like client of terminal-ws (raw
 * `ws`, the PatchMon terminal protocol, frames scanned without being parsed, as cheap as a client can be) and a bare
 * ssh2 PTY session to the same sshd, held by a client process of its own (bench/lib/bare-ssh-client.ts) as
 * terminal-ws holds its sessions. Each exposes "write", "wait until this text arrived" and a byte count, so the
 * benchmark's loops are identical on both sides.
 */
import { fork, type ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import WebSocket from "ws";

export interface TerminalProbe {
  /** Sends keystrokes (or a command). */
  write(text: string): void;
  /** Resolves when `marker` has arrived in the output since the last call (or `timeoutMs` passes: rejects). */
  waitFor(marker: string, timeoutMs?: number): Promise<void>;
  /** Output characters received so far (terminal-ws: characters of `data` frames' JSON, close to the text). */
  readonly received: number;
  close(): Promise<void>;
}

/** Scans output for the marker without keeping it: the tail of the previous chunk covers a marker split in two. */
class MarkerScanner {
  private tail = "";
  private wanted: { marker: string; resolve: () => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | undefined;
  received = 0;

  feed(text: string): void {
    this.received += text.length;
    const wanted = this.wanted;
    if (!wanted) return;
    const window = this.tail + text;
    this.tail = window.slice(-wanted.marker.length);
    if (window.includes(wanted.marker)) {
      this.wanted = undefined;
      clearTimeout(wanted.timer);
      wanted.resolve();
    }
  }

  waitFor(marker: string, timeoutMs: number): Promise<void> {
    this.tail = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wanted = undefined;
        reject(new Error(`no ${JSON.stringify(marker)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.wanted = { marker, resolve, reject, timer };
    });
  }

  fail(err: Error): void {
    const wanted = this.wanted;
    this.wanted = undefined;
    if (wanted) {
      clearTimeout(wanted.timer);
      wanted.reject(err);
    }
  }
}

export interface SshTargetLogin {
  host: string;
  port: number;
  username: string;
  password: string;
}

/** What the benchmark tells the bare client process (bench/lib/bare-ssh-client.ts), over IPC. */
export type BareSshCommand =
  | { cmd: "open"; id: number; cols: number; rows: number }
  | { cmd: "input"; id: number; data: string }
  | { cmd: "close"; id: number };
/** What it reports back over IPC (a session's output comes on a pipe of its own, in frames). */
export type BareSshReport =
  | { event: "ready"; cipher: string }
  | { event: "opened"; id: number }
  | { event: "failed"; id: number; message: string }
  | { event: "error"; id: number; message: string }
  | { event: "closed"; id: number };

const FRAME_HEADER = 8;

interface BareSession {
  scanner: MarkerScanner;
  decoder: StringDecoder;
  /** Set while the session's shell is opening. */
  opened?: (err?: Error) => void;
  closed?: () => void;
}

/**
 * The baseline: bare ssh2 PTY shells (the same library terminal-ws uses in direct mode, same PTY size) held by a
 * process of their own, so they decrypt outside the benchmark process as terminal-ws's do. This process only
 * receives each session's bytes (length-prefixed frames on a pipe from the child) and scans them for markers.
 */
export class BareSshClients {
  private nextId = 1;
  private readonly sessions = new Map<number, BareSession>();
  private pending: Buffer = Buffer.alloc(0);

  private constructor(
    private readonly child: ChildProcess,
    /** The cipher the bare client's handshake negotiated with sshd. */
    readonly cipher: string,
  ) {
    (child.stdio[4] as Readable).on("data", (chunk: Buffer) => this.read(chunk));
    child.on("message", (report: BareSshReport) => {
      if (report.event === "ready") return;
      const session = this.sessions.get(report.id);
      if (!session) return;
      if (report.event === "opened") session.opened?.();
      else if (report.event === "failed") session.opened?.(new Error(`bare ssh2 session refused: ${report.message}`));
      else if (report.event === "error") session.scanner.fail(new Error(`bare ssh2 session: ${report.message}`));
      else {
        this.sessions.delete(report.id);
        session.scanner.fail(new Error("bare ssh2 session closed"));
        session.opened?.(new Error("bare ssh2 session closed before its shell opened"));
        session.closed?.();
      }
    });
  }

  /** Forks the client process (`file`: its runnable module) and waits for its check handshake. */
  static async start(file: string, nodeArgs: readonly string[], target: SshTargetLogin): Promise<BareSshClients> {
    const child = fork(file, [target.host, String(target.port), target.username, target.password], { execArgv: [...nodeArgs], stdio: ["ignore", "inherit", "inherit", "ipc", "pipe"] });
    const cipher = await new Promise<string>((resolve, reject) => {
      child.once("message", (report: BareSshReport) => (report.event === "ready" ? resolve(report.cipher) : reject(new Error(`unexpected ${report.event}`))));
      child.once("exit", (code) => reject(new Error(`bare ssh2 client process exited (${code})`)));
    });
    return new BareSshClients(child, cipher);
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Splits the child's output pipe into frames and feeds each session's scanner. */
  private read(chunk: Buffer): void {
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buffer.length >= FRAME_HEADER) {
      const length = buffer.readUInt32BE(4);
      if (buffer.length < FRAME_HEADER + length) break;
      const session = this.sessions.get(buffer.readUInt32BE(0));
      if (session) session.scanner.feed(session.decoder.write(buffer.subarray(FRAME_HEADER, FRAME_HEADER + length)));
      buffer = buffer.subarray(FRAME_HEADER + length);
    }
    this.pending = buffer;
  }

  private send(command: BareSshCommand): void {
    this.child.send(command);
  }

  /** A new PTY shell in the client process. */
  async open(cols = 80, rows = 24): Promise<TerminalProbe> {
    const id = this.nextId++;
    const session: BareSession = { scanner: new MarkerScanner(), decoder: new StringDecoder("utf8") };
    this.sessions.set(id, session);
    const closed = new Promise<void>((resolve) => (session.closed = resolve));
    await new Promise<void>((resolve, reject) => {
      session.opened = (err) => {
        session.opened = undefined;
        if (err) reject(err);
        else resolve();
      };
      this.send({ cmd: "open", id, cols, rows });
    });
    return {
      write: (text) => this.send({ cmd: "input", id, data: text }),
      waitFor: (marker, timeoutMs = 60_000) => session.scanner.waitFor(marker, timeoutMs),
      get received() {
        return session.scanner.received;
      },
      close: async () => {
        if (!this.sessions.has(id)) return;
        this.send({ cmd: "close", id });
        await closed;
      },
    };
  }

  /** Ends every session and the process. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.disconnect();
    await exited;
  }
}

export interface TerminalWsTarget {
  /** ws(s)://…/api/v1/ssh-terminal/<hostId>?ticket=… */
  url: string;
  origin: string;
  ca?: string;
  connect: Record<string, unknown>;
}

/** A browser-like terminal-ws client: waits for `connected`, then scans `data` frames for markers. */
export async function terminalWs(target: TerminalWsTarget): Promise<TerminalProbe> {
  const ws = new WebSocket(target.url, { headers: { origin: target.origin }, ...(target.ca ? { ca: target.ca } : {}), perMessageDeflate: false });
  const scanner = new MarkerScanner();
  await new Promise<void>((resolve, reject) => {
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`terminal refused with HTTP ${res.statusCode}`)));
    ws.once("open", () => {
      ws.send(JSON.stringify({ type: "connect", ...target.connect }));
      const onFirst = (data: Buffer) => {
        const text = data.toString();
        if (text.startsWith('{"type":"connected"')) {
          ws.off("message", onFirst);
          resolve();
        } else if (text.startsWith('{"type":"error"')) reject(new Error(`terminal refused: ${text}`));
      };
      ws.on("message", onFirst);
    });
  });
  ws.on("message", (data: Buffer) => scanner.feed(data.toString()));
  ws.on("close", (code) => scanner.fail(new Error(`terminal closed (${code})`)));
  return {
    write: (text) => ws.send(JSON.stringify({ type: "input", data: text })),
    waitFor: (marker, timeoutMs = 60_000) => scanner.waitFor(marker, timeoutMs),
    get received() {
      return scanner.received;
    },
    close: async () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({ type: "disconnect" }));
      await new Promise<void>((resolve) => ws.once("close", () => resolve()));
    },
  };
}
