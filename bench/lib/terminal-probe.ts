/**
 * The two terminals a terminal benchmark compares, driven the same way: a browser-like client of terminal-ws (raw
 * `ws`, the PatchMon terminal protocol, frames scanned without being parsed, as cheap as a client can be) and a bare
 * ssh2 PTY session to the same sshd. Each exposes "write", "wait until this text arrived" and a byte count, so the
 * benchmark's loops are identical on both sides.
 */
import ssh2, { type ClientChannel } from "ssh2";
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

/** A bare ssh2 PTY shell (the baseline): the same library terminal-ws uses in direct mode, same PTY size and cipher negotiation. */
export async function bareSsh(target: SshTargetLogin, cols = 80, rows = 24): Promise<TerminalProbe> {
  const client = new ssh2.Client();
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    client.once("error", reject);
    client.once("ready", () => {
      client.shell({ term: "xterm-256color", cols, rows }, (err, stream) => (err ? reject(err) : resolve(stream)));
    });
    client.connect({ host: target.host, port: target.port, username: target.username, password: target.password, readyTimeout: 20_000 });
    // As terminal-ws does: without TCP_NODELAY every keystroke waits for a delayed ACK.
    client.setNoDelay(true);
  });
  const scanner = new MarkerScanner();
  channel.setEncoding("utf8");
  channel.on("data", (text: string) => scanner.feed(text));
  channel.stderr.on("data", (text: Buffer) => scanner.feed(text.toString()));
  client.on("error", (err) => scanner.fail(err));
  return {
    write: (text) => void channel.write(text),
    waitFor: (marker, timeoutMs = 60_000) => scanner.waitFor(marker, timeoutMs),
    get received() {
      return scanner.received;
    },
    close: async () => {
      channel.end();
      client.end();
    },
  };
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
