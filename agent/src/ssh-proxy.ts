/**
 * SSH proxying for the terminal's proxy mode, as the stock agent speaks it: `ssh_proxy` opens an SSH connection from
 * this host (usually to its own sshd) with a PTY and a shell, `ssh_proxy_input` / `_resize` / `_disconnect` drive it,
 * and the agent answers `ssh_proxy_connected`, `ssh_proxy_data` (stdout and stderr, ≤ 4096 bytes of UTF-8 each),
 * `ssh_proxy_error` {session_id, message, data} and `ssh_proxy_closed`.
 *
 * Beyond the stock agent: host keys are checked against an OpenSSH known_hosts file (trust on first use, or strict),
 * sessions are capped, output is flow-controlled by the agent's own WebSocket (every channel pauses while the socket's
 * buffer is above the high-water mark and resumes below half of it, so a slow server bounds memory through SSH's own
 * window), and input waits for the channel's 'drain'.
 *
 * Socket-free: one instance serves one agent connection through a SshProxyLink (send + bufferedAmount), and learns of
 * drains from onSocketWritten() (the agent calls it from every ws.send callback). Logs name the session, target,
 * username and outcome only: never passwords, keys, passphrases or terminal data.
 */
import { Utf8Chunker, type AgentToServerMessage, type ServerToAgentMessage } from "@patchmon-ws/protocol";
import ssh2 from "ssh2";
import type { ConnectConfig, PseudoTtyOptions } from "ssh2";
import { identityOf, KnownHostsFile, type HostKeyIdentity, type PinOutcome } from "./known-hosts.js";
import type { AgentLogger } from "./logger.js";
import type { SshProxySettings } from "./options.js";
import { sshAuthOf, sshTargetOf, type SshAuth, type SshTarget } from "./ssh-target.js";

/** The answer to `ssh_proxy` while proxying is off; terminal-ws recognises `ssh-proxy-enabled` (PROXY_DISABLED). */
export const SSH_PROXY_DISABLED = [
  "SSH proxy is disabled on this agent.",
  "To enable it, add to the agent's config.yml:",
  "  integrations:",
  "    ssh-proxy-enabled: true",
  "(or run the reference agent with --ssh-proxy-enabled) and restart the agent.",
].join("\n");

export const SSH_READY_TIMEOUT_MS = 20_000;
export const SSH_KEEPALIVE_INTERVAL_MS = 15_000;
export const SSH_KEEPALIVE_COUNT_MAX = 3;
/** From `ready` to the shell channel being open. */
export const SSH_SHELL_TIMEOUT_MS = 20_000;
/** Input waiting for the SSH channel (before the shell opened, or while it does not drain); more ends the session. */
export const SSH_PROXY_MAX_QUEUED_INPUT_BYTES = 1024 * 1024;
/** The stock agent's PTY modes: echo on, 14400 baud. */
const PTY_MODES = { ECHO: 1, TTY_OP_ISPEED: 14_400, TTY_OP_OSPEED: 14_400 } as const;
/** ssh_proxy_error's message is at most 4096 characters on the wire. */
const MAX_ERROR_LENGTH = 4000;

export type SshProxyMessage = Extract<ServerToAgentMessage, { type: "ssh_proxy" | "ssh_proxy_input" | "ssh_proxy_resize" | "ssh_proxy_disconnect" }>;

export function isSshProxyMessage(message: ServerToAgentMessage): message is SshProxyMessage {
  return message.type === "ssh_proxy" || message.type === "ssh_proxy_input" || message.type === "ssh_proxy_resize" || message.type === "ssh_proxy_disconnect";
}

/** The agent's WebSocket, as the proxy sees it. */
export interface SshProxyLink {
  send(message: AgentToServerMessage): void;
  /** Bytes queued on the socket but not yet written (ws `bufferedAmount`). */
  readonly bufferedAmount: number;
}

/* The parts of ssh2's Client and ClientChannel the proxy uses (tests substitute fakes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

export interface ProxyReadable {
  on(event: string, listener: Listener): unknown;
  pause(): unknown;
  resume(): unknown;
  readonly readableLength: number;
  readonly readableEnded: boolean;
}

export interface ProxyChannel extends ProxyReadable {
  readonly stderr: ProxyReadable;
  once(event: string, listener: Listener): unknown;
  write(data: Buffer): boolean;
  setWindow(rows: number, cols: number, height: number, width: number): void;
  close(): unknown;
}

export interface ProxyClient {
  on(event: string, listener: Listener): unknown;
  connect(config: ConnectConfig): unknown;
  shell(window: PseudoTtyOptions, callback: (error: Error | undefined, channel: ProxyChannel) => void): unknown;
  end(): unknown;
  destroy?(): unknown;
  setNoDelay?(noDelay: boolean): unknown;
}

export type SshProxySessionState = "connecting" | "connected" | "failed" | "closed";

/** What the agent emits as "ssh_proxy" (for tests and operators; never credentials). */
export interface SshProxySessionEvent {
  sessionId: string;
  state: SshProxySessionState;
  /** host:port */
  target: string;
  username: string;
  /** Why it failed or closed. */
  reason?: string;
  hostKey?: HostKeyIdentity;
}

export interface SshProxySessionStats {
  sessionId: string;
  state: "connecting" | "open";
  target: string;
  /** The channel's stdout and stderr are paused (the agent's socket is backed up). */
  streamsPaused: boolean;
  /** Output read from SSH but not yet forwarded (the channel's stdout + stderr buffers). */
  bufferedOutputBytes: number;
  /** Bytes the SSH server may still send before a window adjust (ssh2's incoming window), when known. */
  sshWindow: number | undefined;
  queuedInputBytes: number;
}

export interface SshProxyStats {
  /** Output is paused: the socket's buffer went above the high-water mark and has not drained below half of it. */
  paused: boolean;
  /** How many times output was paused. */
  pauses: number;
  bufferedAmount: number;
  highWaterBytes: number;
  sessions: SshProxySessionStats[];
}

export interface SshProxyDeps {
  settings: SshProxySettings;
  link: SshProxyLink;
  log: AgentLogger;
  /** Default: the settings' knownHostsFile (pass one shared instance so pins are serialised across connections). */
  knownHosts?: KnownHostsFile;
  /** Default: a new ssh2 Client. */
  createClient?: () => ProxyClient;
  onEvent?: (event: SshProxySessionEvent) => void;
  /** Added to every log line (the agent's apiId). */
  logFields?: Record<string, unknown>;
}

/** A refused ssh_proxy (disabled, invalid, duplicate, over the limit): its text was sent as ssh_proxy_error. */
export class SshProxyRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SshProxyRefusedError";
  }
}

interface Session {
  readonly id: string;
  readonly target: SshTarget;
  /** host:port, for logs and messages. */
  readonly where: string;
  readonly client: ProxyClient;
  readonly auth: SshAuth;
  state: "connecting" | "open" | "closed";
  channel: ProxyChannel | undefined;
  cols: number;
  rows: number;
  hostKey: HostKeyIdentity | undefined;
  /** Why the host key was refused (ssh2 then reports a generic "Host denied"). */
  hostKeyRefusal: string | undefined;
  /** An unknown host to be recorded once the key exchange proved the server holds the key. */
  pinKey: Buffer | undefined;
  pinning: Promise<string | undefined> | undefined;
  keyboardAnswered: boolean;
  shellTimer: NodeJS.Timeout | undefined;
  readonly stdout: Utf8Chunker;
  readonly stderr: Utf8Chunker;
  input: Buffer[];
  inputBytes: number;
  awaitingDrain: boolean;
  streamsPaused: boolean;
}

/** Socket errors in words (terminal-ws recognises "connection refused", "no route to host" and the like). */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed (try again)",
};

function clip(text: string): string {
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH - 3)}...` : text;
}

function describeKey(identity: HostKeyIdentity): string {
  return `${identity.fingerprint} (${identity.algorithm})`;
}

export class SshProxySessions {
  private readonly sessions = new Map<string, Session>();
  private readonly settings: SshProxySettings;
  private readonly link: SshProxyLink;
  private readonly log: AgentLogger;
  private readonly logFields: Record<string, unknown>;
  private readonly createClient: () => ProxyClient;
  private knownHostsFile: KnownHostsFile | undefined;
  private paused = false;
  private pauses = 0;
  private ended = false;

  constructor(private readonly deps: SshProxyDeps) {
    this.settings = deps.settings;
    this.link = deps.link;
    this.log = deps.log;
    this.logFields = deps.logFields ?? {};
    this.knownHostsFile = deps.knownHosts;
    this.createClient = deps.createClient ?? (() => new ssh2.Client() as unknown as ProxyClient);
  }

  /** Open sessions (connecting or connected). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Acts on one ssh_proxy* message. Throws SshProxyRefusedError (after answering ssh_proxy_error) when an ssh_proxy
   * is refused; everything after that is asynchronous. Messages for unknown sessions are ignored.
   */
  handle(message: SshProxyMessage): void {
    if (message.type === "ssh_proxy") {
      this.open(message);
      return;
    }
    const session = this.sessions.get(message.session_id);
    if (!session) {
      this.log.debug?.({ ...this.logFields, sessionId: message.session_id, type: message.type }, "ignored: no such SSH proxy session");
      return;
    }
    switch (message.type) {
      case "ssh_proxy_input":
        this.input(session, message.data);
        return;
      case "ssh_proxy_resize":
        this.resize(session, message.cols, message.rows);
        return;
      case "ssh_proxy_disconnect":
        this.close(session, "disconnected by the server", { notify: true, flush: false });
        return;
    }
  }

  /** An ssh_proxy whose fields failed the catalogue's schema: answered, never dialled. */
  refuseInvalid(sessionId: string, error: string): void {
    const text = this.settings.enabled ? `Invalid ssh_proxy request: ${error}` : SSH_PROXY_DISABLED;
    this.sendError(sessionId, text);
    this.log.warn({ ...this.logFields, sessionId, reason: this.settings.enabled ? "invalid request" : "disabled" }, "SSH proxy request refused");
  }

  /** The socket wrote something: resume output once its buffer is below half the high-water mark. */
  onSocketWritten(): void {
    if (!this.paused || this.link.bufferedAmount > this.settings.outputHighWaterBytes / 2) return;
    this.paused = false;
    for (const session of this.sessions.values()) this.resumeStreams(session);
    this.log.debug?.({ ...this.logFields, bufferedAmount: this.link.bufferedAmount }, "SSH proxy output resumed");
  }

  /**
   * Ends every session. `notify`: the socket still works (stop()): connected sessions get ssh_proxy_closed,
   * connecting ones ssh_proxy_error. Without it (the socket closed) nothing is sent. New ssh_proxy requests are refused.
   */
  closeAll(reason: string, notify: boolean): void {
    this.ended = true;
    for (const session of [...this.sessions.values()]) {
      if (notify && session.state === "connecting") this.fail(session, `SSH proxy session ended: ${reason}`);
      else this.close(session, reason, { notify, flush: notify });
    }
  }

  stats(): SshProxyStats {
    return {
      paused: this.paused,
      pauses: this.pauses,
      bufferedAmount: this.link.bufferedAmount,
      highWaterBytes: this.settings.outputHighWaterBytes,
      sessions: [...this.sessions.values()].map((session) => {
        const channel = session.channel;
        const window = (channel as { incoming?: { window?: unknown } } | undefined)?.incoming?.window;
        return {
          sessionId: session.id,
          state: session.state === "open" ? "open" : "connecting",
          target: session.where,
          streamsPaused: session.streamsPaused,
          bufferedOutputBytes: channel ? channel.readableLength + channel.stderr.readableLength : 0,
          sshWindow: typeof window === "number" ? window : undefined,
          queuedInputBytes: session.inputBytes,
        };
      }),
    };
  }

  // --- opening -------------------------------------------------------------------------------------------------

  private open(message: Extract<SshProxyMessage, { type: "ssh_proxy" }>): void {
    const id = message.session_id;
    if (!this.settings.enabled) this.refuse(id, SSH_PROXY_DISABLED, "disabled");
    if (this.ended) this.refuse(id, "The agent connection is closing", "closing");
    const checked = sshTargetOf(message);
    if ("problem" in checked) this.refuse(id, checked.problem, "invalid request");
    if (this.sessions.has(id)) this.refuse(id, `SSH proxy session ${id} already exists`, "duplicate session id");
    if (this.sessions.size >= this.settings.maxSessions) {
      this.refuse(id, `Too many SSH proxy sessions: this agent allows ${this.settings.maxSessions} at once`, "session limit");
    }
    const auth = sshAuthOf(message);
    if ("problem" in auth) this.refuse(id, auth.problem, "no usable credentials");
    this.start(id, checked.target, auth.auth);
  }

  private refuse(sessionId: string, text: string, reason: string): never {
    this.sendError(sessionId, text);
    this.log.warn({ ...this.logFields, sessionId, reason }, "SSH proxy request refused");
    throw new SshProxyRefusedError(text);
  }

  private start(id: string, target: SshTarget, auth: SshAuth): void {
    const client = this.createClient();
    const session: Session = {
      id,
      target,
      where: `${target.host}:${target.port}`,
      client,
      auth,
      state: "connecting",
      channel: undefined,
      cols: target.cols,
      rows: target.rows,
      hostKey: undefined,
      hostKeyRefusal: undefined,
      pinKey: undefined,
      pinning: undefined,
      keyboardAnswered: false,
      shellTimer: undefined,
      stdout: new Utf8Chunker(),
      stderr: new Utf8Chunker(),
      input: [],
      inputBytes: 0,
      awaitingDrain: false,
      streamsPaused: false,
    };
    this.sessions.set(id, session);
    this.log.info({ ...this.logFields, sessionId: id, target: session.where, username: target.username }, "SSH proxy session connecting");
    this.notify(session, "connecting");

    client.on("handshake", () => this.onHandshake(session));
    client.on("ready", () => void this.onReady(session));
    client.on("error", (error: Error) => this.onClientError(session, error));
    client.on("close", () => this.onClientClose(session));
    client.on("keyboard-interactive", (_name: string, _instructions: string, _lang: string, prompts: unknown[], finish: (answers: string[]) => void) =>
      this.onKeyboardInteractive(session, prompts, finish),
    );

    const methods: string[] = [];
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout: SSH_READY_TIMEOUT_MS,
      keepaliveInterval: SSH_KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: SSH_KEEPALIVE_COUNT_MAX,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        this.verifyHostKey(session, key).then(verify, (error: unknown) => {
          session.hostKeyRefusal ??= `Host key verification failed for ${session.where}: ${(error as Error).message}`;
          verify(false);
        });
      },
    };
    if (auth.kind === "key") {
      config.privateKey = auth.privateKey;
      if (auth.passphrase !== undefined) config.passphrase = auth.passphrase;
      methods.push("publickey");
    }
    const password = auth.password;
    if (password !== undefined) {
      config.password = password;
      config.tryKeyboard = true;
      methods.push("password", "keyboard-interactive");
    }
    // Private key first, then the password, then keyboard-interactive answered with the password.
    config.authHandler = methods as ConnectConfig["authHandler"];
    try {
      client.connect(config);
      // Keystrokes are tiny packets: without TCP_NODELAY, Nagle holds each behind the previous one's delayed ACK (~40 ms).
      client.setNoDelay?.(true);
    } catch (error) {
      this.fail(session, `SSH connection to ${session.where} failed: ${(error as Error).message}`);
    }
  }

  private get knownHosts(): KnownHostsFile {
    this.knownHostsFile ??= new KnownHostsFile(this.settings.knownHostsFile);
    return this.knownHostsFile;
  }

  private async verifyHostKey(session: Session, key: Buffer): Promise<boolean> {
    const presented = identityOf(key);
    session.hostKey = presented;
    const file = this.knownHosts.path;
    let check;
    try {
      check = await this.knownHosts.check(session.target.host, session.target.port, key);
    } catch (error) {
      session.hostKeyRefusal = `Host key verification failed for ${session.where}: cannot read ${file}: ${(error as Error).message}`;
      return false;
    }
    // Also asked on every re-key of a connected session (OpenSSH re-keys after a few GiB): the pinned key must match.
    if (session.state === "closed") return false;
    switch (check.status) {
      case "known":
        return true;
      case "revoked":
        session.hostKeyRefusal = `Host key verification failed for ${session.where}: the presented key ${describeKey(presented)} is marked @revoked in ${file}`;
        return false;
      case "changed":
        session.hostKeyRefusal = this.changedMessage(session, check.expected, presented);
        return false;
      case "unknown":
        if (this.settings.strictHostKeys) {
          session.hostKeyRefusal =
            `Host key verification failed for ${session.where}: the host is not in ${file} and strict host key checking is on ` +
            `(the server presented ${describeKey(presented)})`;
          return false;
        }
        session.pinKey = key;
        return true;
    }
  }

  private changedMessage(session: Session, expected: readonly HostKeyIdentity[], presented: HostKeyIdentity): string {
    const listed = expected.slice(0, 5).map(describeKey).join(" or ");
    return clip(
      `Host key verification failed for ${session.where}: ${this.knownHosts.path} expects ${listed}, but the server presented ` +
        `${describeKey(presented)}. The host key changed (or someone is intercepting the connection); if the change is expected, ` +
        `remove the host's old line from ${this.knownHosts.path}.`,
    );
  }

  /** The key exchange finished: the server proved it holds the host key, so an unknown one may now be pinned. */
  private onHandshake(session: Session): void {
    const key = session.pinKey;
    if (key === undefined || session.pinning || session.state === "closed") return;
    const { host, port } = session.target;
    session.pinning = this.knownHosts.pin(host, port, key).then(
      (outcome: PinOutcome) => {
        switch (outcome.status) {
          case "added":
            this.log.warn(
              { ...this.logFields, sessionId: session.id, target: session.where, hostKey: session.hostKey?.fingerprint, knownHostsFile: this.knownHosts.path },
              "trusting a new SSH host key on first use (recorded in the known_hosts file)",
            );
            return undefined;
          case "known":
            return undefined;
          case "changed":
            return this.changedMessage(session, outcome.expected, identityOf(key));
          case "revoked":
            return `Host key verification failed for ${session.where}: the presented key is marked @revoked in ${this.knownHosts.path}`;
        }
      },
      (error: unknown) => `Could not record the host key of ${session.where} in ${this.knownHosts.path}: ${(error as Error).message}`,
    );
  }

  private onKeyboardInteractive(session: Session, prompts: unknown[], finish: (answers: string[]) => void): void {
    const password = session.auth.password;
    if (!Array.isArray(prompts) || prompts.length === 0) {
      finish([]);
      return;
    }
    // One round of answers: a second round of prompts means the password was refused.
    if (password === undefined || session.keyboardAnswered || session.state !== "connecting") {
      finish([]);
      return;
    }
    session.keyboardAnswered = true;
    finish(prompts.map(() => password));
  }

  private async onReady(session: Session): Promise<void> {
    if (session.state !== "connecting") return;
    const refusal = session.pinning ? await session.pinning : undefined;
    if (session.state !== "connecting") return;
    if (refusal !== undefined) {
      this.fail(session, refusal);
      return;
    }
    session.shellTimer = setTimeout(() => this.fail(session, `Timed out opening a shell on ${session.where}`), SSH_SHELL_TIMEOUT_MS);
    const window: PseudoTtyOptions = { term: session.target.term, cols: session.cols, rows: session.rows, modes: PTY_MODES };
    try {
      session.client.shell(window, (error, channel) => this.onShell(session, error, channel));
    } catch (error) {
      this.fail(session, `Could not open a shell on ${session.where}: ${(error as Error).message}`);
    }
  }

  private onShell(session: Session, error: Error | undefined, channel: ProxyChannel): void {
    clearTimeout(session.shellTimer);
    session.shellTimer = undefined;
    if (session.state !== "connecting") {
      if (!error) channel.close();
      return;
    }
    if (error) {
      this.fail(session, `Could not open a shell on ${session.where}: ${error.message}`);
      return;
    }
    session.channel = channel;
    session.state = "open";
    channel.on("data", (chunk: Buffer) => this.output(session, session.stdout, chunk));
    channel.stderr.on("data", (chunk: Buffer) => this.output(session, session.stderr, chunk));
    channel.on("error", (err: Error) => this.abort(session, `SSH channel error on ${session.where}: ${err.message}`));
    channel.stderr.on("error", () => {});
    channel.on("close", () => this.onChannelClose(session));
    if (this.paused) this.pauseStreams(session);
    const hostKey = session.hostKey;
    this.link.send({
      type: "ssh_proxy_connected",
      session_id: session.id,
      ...(hostKey ? { host_key_algorithm: hostKey.algorithm, host_key_fingerprint: hostKey.fingerprint } : {}),
    });
    this.log.info(
      { ...this.logFields, sessionId: session.id, target: session.where, username: session.target.username, hostKey: hostKey?.fingerprint },
      "SSH proxy session connected",
    );
    this.notify(session, "connected");
    this.flushInput(session);
  }

  // --- running -------------------------------------------------------------------------------------------------

  private output(session: Session, chunker: Utf8Chunker, chunk: Buffer): void {
    if (session.state !== "open") return;
    for (const data of chunker.write(chunk)) this.link.send({ type: "ssh_proxy_data", session_id: session.id, data });
    this.checkPressure();
  }

  private checkPressure(): void {
    if (this.paused || this.link.bufferedAmount <= this.settings.outputHighWaterBytes) return;
    this.paused = true;
    this.pauses += 1;
    for (const session of this.sessions.values()) this.pauseStreams(session);
    this.log.debug?.({ ...this.logFields, bufferedAmount: this.link.bufferedAmount, highWaterBytes: this.settings.outputHighWaterBytes }, "SSH proxy output paused");
  }

  private pauseStreams(session: Session): void {
    if (!session.channel || session.streamsPaused) return;
    session.streamsPaused = true;
    session.channel.pause();
    session.channel.stderr.pause();
  }

  private resumeStreams(session: Session): void {
    if (!session.channel || !session.streamsPaused) return;
    session.streamsPaused = false;
    session.channel.resume();
    session.channel.stderr.resume();
  }

  private input(session: Session, data: string): void {
    const buffer = Buffer.from(data, "utf8");
    if (buffer.length === 0) return;
    if (session.state === "open" && !session.awaitingDrain && session.input.length === 0) {
      this.writeInput(session, buffer);
      return;
    }
    if (session.inputBytes + buffer.length > SSH_PROXY_MAX_QUEUED_INPUT_BYTES) {
      const text = `Input arrived faster than ${session.where} accepted it (more than ${SSH_PROXY_MAX_QUEUED_INPUT_BYTES} bytes waiting)`;
      if (session.state === "open") this.abort(session, text);
      else this.fail(session, text);
      return;
    }
    session.input.push(buffer);
    session.inputBytes += buffer.length;
  }

  private writeInput(session: Session, buffer: Buffer): void {
    const channel = session.channel as ProxyChannel;
    if (channel.write(buffer)) return;
    session.awaitingDrain = true;
    channel.once("drain", () => {
      session.awaitingDrain = false;
      this.flushInput(session);
    });
  }

  private flushInput(session: Session): void {
    while (session.state === "open" && !session.awaitingDrain && session.input.length > 0) {
      const buffer = session.input.shift() as Buffer;
      session.inputBytes -= buffer.length;
      this.writeInput(session, buffer);
    }
  }

  private resize(session: Session, cols: number, rows: number): void {
    session.cols = cols;
    session.rows = rows;
    // Before the shell opened the new size is simply the one it opens with.
    if (session.state === "open") session.channel?.setWindow(rows, cols, 0, 0);
  }

  // --- ending --------------------------------------------------------------------------------------------------

  private onChannelClose(session: Session): void {
    if (session.state !== "open") return;
    const stderr = session.channel?.stderr;
    const finish = () => this.close(session, "the shell exited", { notify: true, flush: true });
    // ssh2 closes the channel once stdout is drained; stderr may still hold output.
    if (!stderr || stderr.readableEnded) finish();
    else stderr.on("end", finish);
  }

  private onClientError(session: Session, error: Error): void {
    if (session.state === "closed") return;
    const text = session.hostKeyRefusal ?? this.describeError(session, error);
    if (session.state === "connecting") this.fail(session, text);
    else this.abort(session, text);
  }

  private onClientClose(session: Session): void {
    if (session.state === "connecting") {
      this.fail(session, session.hostKeyRefusal ?? `SSH connection to ${session.where} closed before the shell opened`);
    }
    // A connected session ends with its channel: ssh2 closes the channels of a closed connection after their output.
  }

  private describeError(session: Session, error: Error): string {
    const level = (error as { level?: string }).level;
    const { username } = session.target;
    switch (level) {
      case "client-authentication":
        return clip(`SSH authentication failed for ${username}@${session.where}: ${error.message}`);
      case "client-timeout":
        // Before the handshake ended the host was not reachable (terminal-ws reads "could not connect" as such).
        return clip(
          session.state === "connecting"
            ? `Could not connect to ${session.where}: ${error.message}`
            : `SSH connection to ${session.where} timed out: ${error.message}`,
        );
      case "client-socket": {
        const reason = SOCKET_ERRORS[(error as NodeJS.ErrnoException).code ?? ""];
        if (session.state === "connecting") return clip(`Could not connect to ${session.where}: ${reason ?? error.message}`);
        return clip(`SSH connection to ${session.where} failed: ${reason ?? error.message}`);
      }
      default:
        return clip(`SSH error on ${session.where}: ${error.message}`);
    }
  }

  /** Fails a session that never connected: ssh_proxy_error only, as the stock agent. */
  private fail(session: Session, text: string): void {
    if (session.state !== "connecting") return;
    this.teardown(session);
    this.sendError(session.id, clip(text));
    this.log.warn({ ...this.logFields, sessionId: session.id, target: session.where, username: session.target.username, reason: text }, "SSH proxy session failed");
    this.notify(session, "failed", text);
  }

  /** Fails a connected session: ssh_proxy_error, then ssh_proxy_closed. */
  private abort(session: Session, text: string): void {
    if (session.state !== "open") return;
    this.sendError(session.id, clip(text));
    this.close(session, text, { notify: true, flush: false });
  }

  /** Ends a session; with notify, answers ssh_proxy_closed (after the rest of its output when flush). Once. */
  private close(session: Session, reason: string, { notify, flush }: { notify: boolean; flush: boolean }): void {
    if (session.state === "closed") return;
    const wasOpen = session.state === "open";
    this.teardown(session);
    if (notify) {
      if (wasOpen && flush) {
        for (const data of [...session.stdout.end(), ...session.stderr.end()]) this.link.send({ type: "ssh_proxy_data", session_id: session.id, data });
      }
      this.link.send({ type: "ssh_proxy_closed", session_id: session.id });
    }
    this.log.info({ ...this.logFields, sessionId: session.id, target: session.where, username: session.target.username, reason }, "SSH proxy session closed");
    this.notify(session, "closed", reason);
  }

  private teardown(session: Session): void {
    const wasConnecting = session.state === "connecting";
    session.state = "closed";
    this.sessions.delete(session.id);
    clearTimeout(session.shellTimer);
    session.shellTimer = undefined;
    session.input = [];
    session.inputBytes = 0;
    try {
      session.client.end();
      // A connection still being set up has nothing to say goodbye to.
      if (wasConnecting) session.client.destroy?.();
    } catch {
      // already gone
    }
  }

  private sendError(sessionId: string, text: string): void {
    this.link.send({ type: "ssh_proxy_error", session_id: sessionId, message: text, data: text });
  }

  private notify(session: Session, state: SshProxySessionState, reason?: string): void {
    if (!this.deps.onEvent) return;
    this.deps.onEvent({
      sessionId: session.id,
      state,
      target: session.where,
      username: session.target.username,
      ...(reason === undefined ? {} : { reason }),
      ...(session.hostKey ? { hostKey: session.hostKey } : {}),
    });
  }
}
