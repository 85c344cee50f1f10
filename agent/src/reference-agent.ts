/**
 * The reference PatchMon agent: one WebSocket to /api/{v}/agents/ws, speaking the stock agent's protocol exactly
 * (headers, 30 s pings, 90 s read deadline extended by any frame, 64 KiB read limit, 45 s handshake bound) plus
 * our additive extensions (hello, acks, dedupe), reconnecting with full-jitter backoff until stop().
 *
 * "Acting" on a command means emitting an event (tests and the load simulator observe them); report_now emits
 * "report", settings_update changes updateIntervalMinutes. ssh_proxy* really proxies SSH when sshProxy.enabled
 * (ssh-proxy.ts), and is refused with ssh_proxy_error otherwise, as the stock agent without ssh-proxy-enabled.
 */
import { EventEmitter } from "node:events";
import type { ClientRequest, IncomingMessage } from "node:http";
import {
  AgentToServerMessage,
  type AgentToServerMessage as AgentToServerMessageType,
  type ServerToAgentMessage,
} from "@patchmon-ws/protocol";
import WebSocket, { type RawData } from "ws";
import { FullJitterBackoff, ReconnectPolicy } from "./backoff.js";
import { CommandProcessor } from "./command-processor.js";
import type { ConnectGate } from "./connect-gate.js";
import { Dialer } from "./dialer.js";
import { Heartbeat } from "./heartbeat.js";
import { KnownHostsFile } from "./known-hosts.js";
import type { AgentLogger } from "./logger.js";
import {
  agentCapabilities,
  resolveSettings,
  validateCredentials,
  type AgentCredentials,
  type AgentOptions,
  type AgentSettings,
} from "./options.js";
import { readRejection, type RejectionInfo } from "./rejection.js";
import { isSshProxyMessage, SSH_PROXY_DISABLED, SshProxySessions, type SshProxySessionEvent, type SshProxyStats } from "./ssh-proxy.js";
import { monotonicNow, TimerWheel, wheelResolutionFor, type WheelTimer } from "./timer-wheel.js";

export type { RejectionInfo } from "./rejection.js";
export type { SshProxySessionEvent, SshProxyStats } from "./ssh-proxy.js";

export interface DisconnectInfo {
  /** WebSocket close code (1006 when the connection dropped or the agent terminated it). */
  code: number;
  /** The server's close reason, or why the agent ended the connection (e.g. read deadline exceeded). */
  reason: string;
}

export interface ReportRequest {
  /** The command id, when the server sent one. */
  id?: string;
}

export interface SettingsChange {
  updateIntervalMinutes: number;
}

export interface ReferenceAgentEvents {
  connected: [];
  disconnected: [DisconnectInfo];
  /** A validated command, first delivery only. */
  command: [ServerToAgentMessage];
  /** A command whose id was already handled: acked again, not executed. */
  duplicate: [ServerToAgentMessage];
  report: [ReportRequest];
  settings: [SettingsChange];
  /** The server refused the upgrade (e.g. 401 with a JSON body); the agent still retries with backoff. */
  rejected: [RejectionInfo];
  /** An SSH proxy session changed state: connecting, connected, failed (never connected) or closed. */
  ssh_proxy: [SshProxySessionEvent];
  /** Connection failures and send errors. Only emitted while someone listens (an unhandled "error" would crash). */
  error: [Error];
}

/** What a simulation shares between its agents; a standalone agent builds its own. */
export interface SharedAgentResources {
  settings: AgentSettings;
  dialer: Dialer;
  wheel: TimerWheel;
  gate?: ConnectGate;
}

export { SSH_PROXY_DISABLED } from "./ssh-proxy.js";
/** @deprecated The refusal is now SSH_PROXY_DISABLED (it says how to enable proxying); kept for older imports. */
export const SSH_PROXY_NOT_SUPPORTED = SSH_PROXY_DISABLED;

/** Close codes that mean an orderly end (server drain, restart, normal close): logged at info, not warn. */
const ORDERLY_CLOSE_CODES = new Set([1000, 1001, 1012]);

interface Attempt {
  readonly ws: WebSocket;
  holdsGateSlot: boolean;
  handshakeTimer: WheelTimer | undefined;
  openedAt: number | undefined;
  heartbeat: Heartbeat | undefined;
  rejection: RejectionInfo | undefined;
  error: Error | undefined;
  /** Why the agent itself ended the connection; reported instead of the (empty) close reason. */
  localReason: string | undefined;
  /** The close code the agent sent when it closed for a protocol violation (ws then reports 1006 locally). */
  localCode: number | undefined;
  /** This connection's SSH proxy sessions (created on the first ssh_proxy* message). */
  proxy: SshProxySessions | undefined;
}

/** ws's frame-level errors and the close code it sends the peer for each (RFC 6455 §7.4.1). */
function closeCodeForFrameError(error: Error): number | undefined {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") return 1009;
  if (code === "WS_ERR_INVALID_UTF8") return 1007;
  if (code?.startsWith("WS_ERR_")) return 1002;
  return undefined;
}

/** Logs, once per settings object, what an operator must know: a guessed URL scheme, disabled TLS verification. */
export function warnAboutSettings(settings: AgentSettings, apiId?: string): void {
  const fields = apiId === undefined ? {} : { apiId };
  if (settings.urlWarning) settings.logger.warn(fields, settings.urlWarning);
  if (settings.insecure && settings.url.startsWith("wss:")) {
    settings.logger.warn(fields, "TLS certificate verification is DISABLED (insecure): the server's identity is not checked");
  }
}

export class ReferenceAgent extends EventEmitter<ReferenceAgentEvents> {
  readonly apiId: string;
  private readonly settings: AgentSettings;
  private readonly dialer: Dialer;
  private readonly wheel: TimerWheel;
  private readonly gate: ConnectGate | undefined;
  private readonly log: AgentLogger;
  private readonly headers: Record<string, string>;
  private readonly policy: ReconnectPolicy;
  private readonly processor: CommandProcessor;
  private readonly clock: () => number = monotonicNow;

  private running = false;
  private waitingForGate = false;
  private attempt: Attempt | undefined;
  private reconnectTimer: WheelTimer | undefined;
  private stopWaiters: (() => void)[] = [];
  private interval: number | undefined;
  /** One per agent, so trust-on-first-use pins are serialised across connections. */
  private knownHosts: KnownHostsFile | undefined;

  constructor(options: AgentOptions, shared?: SharedAgentResources) {
    super();
    const credentials: AgentCredentials = validateCredentials(options.apiId, options.apiKey);
    this.apiId = credentials.apiId;
    this.settings = shared?.settings ?? resolveSettings(options);
    this.log = this.settings.logger;
    this.dialer = shared?.dialer ?? new Dialer(this.settings);
    const { pingIntervalMs, readDeadlineMs, backoff, handshakeTimeoutMs } = this.settings;
    this.wheel = shared?.wheel ?? TimerWheel.shared(wheelResolutionFor(pingIntervalMs, readDeadlineMs, backoff.initialMs, handshakeTimeoutMs));
    this.gate = shared?.gate;
    this.headers = {
      "X-API-ID": credentials.apiId,
      "X-API-KEY": credentials.apiKey,
      "User-Agent": `patchmon-ws-reference-agent/${this.settings.agentVersion}`,
    };
    this.policy = new ReconnectPolicy(new FullJitterBackoff(backoff), backoff.resetAfterMs);
    this.interval = this.settings.updateIntervalMinutes;
    this.processor = new CommandProcessor(
      {
        execute: (message) => this.execute(message),
        duplicate: (message) => this.emit("duplicate", message),
        reply: (message) => this.write(message),
        invalid: ({ type, sessionId, error }) => {
          // An ssh_proxy the server is waiting on still gets an answer, as the stock agent's validation does
          // (zod's summary names fields and limits, never their values).
          if (type === "ssh_proxy" && sessionId !== undefined && this.attempt) this.proxyOf(this.attempt).refuseInvalid(sessionId, error);
        },
      },
      this.log,
    );
    if (!shared) warnAboutSettings(this.settings, this.apiId);
  }

  /** True while the WebSocket is open. */
  get connected(): boolean {
    return this.attempt?.openedAt !== undefined && this.attempt.ws.readyState === WebSocket.OPEN;
  }

  /** The URL the agent dials. */
  get url(): string {
    return this.settings.url;
  }

  /** Flow-control and session figures of the current connection's SSH proxy, if it has any (tests, diagnostics). */
  sshProxyStats(): SshProxyStats | undefined {
    return this.attempt?.proxy?.stats();
  }

  /** The report interval (minutes) last set by settings_update (or the initial option). */
  get updateIntervalMinutes(): number | undefined {
    return this.interval;
  }

  /** Connects, and keeps reconnecting until stop(). Calling it again while running does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.log.info({ apiId: this.apiId, ...this.dialer.describe() }, "starting");
    if (!this.attempt && !this.reconnectTimer && !this.waitingForGate) this.connect();
  }

  /** Closes the connection with 1000 and stops reconnecting. Resolves once the socket is closed. */
  stop(): Promise<void> {
    this.running = false;
    this.reconnectTimer?.cancel();
    this.reconnectTimer = undefined;
    const attempt = this.attempt;
    // Waiting for a gate slot: the grant sees running === false and hands the slot back.
    if (!attempt) return Promise.resolve();
    return new Promise((resolve) => {
      this.stopWaiters.push(resolve);
      if (attempt.openedAt !== undefined && attempt.ws.readyState === WebSocket.OPEN) {
        // The server still hears about every SSH session ending (ssh_proxy_closed) before the socket closes.
        attempt.proxy?.closeAll("the agent is stopping", true);
        attempt.ws.close(1000, "agent stopping");
      } else if (attempt.ws.readyState !== WebSocket.CLOSED) {
        attempt.ws.terminate();
      }
    });
  }

  /** Sends an agent→server message (e.g. docker_status), validated against the catalogue first. */
  send(message: AgentToServerMessageType): void {
    const result = AgentToServerMessage.safeParse(message);
    if (!result.success) {
      const type = typeof (message as { type?: unknown }).type === "string" ? (message as { type: string }).type : "message";
      throw new TypeError(`invalid ${type}: ${result.error.issues.map((i) => `${i.path.join(".") || "(message)"}: ${i.message}`).join("; ")}`);
    }
    if (!this.connected) throw new Error(`agent ${this.apiId} is not connected; ${message.type} not sent`);
    this.write(message);
  }

  private connect(): void {
    if (!this.running) return;
    if (!this.gate) {
      this.dial(false);
      return;
    }
    this.waitingForGate = true;
    this.gate.acquire(() => {
      this.waitingForGate = false;
      if (!this.running) {
        this.gate?.release();
        return;
      }
      this.dial(true);
    });
  }

  private dial(holdsGateSlot: boolean): void {
    let ws: WebSocket;
    try {
      ws = this.dialer.dial(this.headers);
    } catch (error) {
      if (holdsGateSlot) this.gate?.release();
      this.log.error({ apiId: this.apiId, error: (error as Error).message }, "could not start a connection attempt");
      this.emitError(error as Error);
      this.scheduleReconnect(this.clock());
      return;
    }
    const attempt: Attempt = {
      ws,
      holdsGateSlot,
      handshakeTimer: undefined,
      openedAt: undefined,
      heartbeat: undefined,
      rejection: undefined,
      error: undefined,
      localReason: undefined,
      localCode: undefined,
      proxy: undefined,
    };
    this.attempt = attempt;
    // ws's handshakeTimeout only starts once a socket exists; this bound also covers a proxy that hangs on CONNECT.
    attempt.handshakeTimer = this.wheel.schedule(this.settings.handshakeTimeoutMs, () => {
      attempt.handshakeTimer = undefined;
      if (attempt.openedAt !== undefined || attempt.ws.readyState === WebSocket.CLOSED) return;
      attempt.localReason = `opening handshake not completed within ${this.settings.handshakeTimeoutMs} ms`;
      attempt.error ??= new Error(attempt.localReason);
      attempt.ws.terminate();
    });
    ws.on("open", () => this.onOpen(attempt));
    ws.on("unexpected-response", (req: ClientRequest, res: IncomingMessage) => this.onUnexpectedResponse(attempt, req, res));
    ws.on("message", (data: RawData, isBinary: boolean) => this.onMessage(attempt, data, isBinary));
    ws.on("ping", () => attempt.heartbeat?.touch());
    ws.on("pong", () => attempt.heartbeat?.touch());
    ws.on("error", (error: Error) => {
      attempt.error ??= error;
      const code = attempt.openedAt === undefined ? undefined : closeCodeForFrameError(error);
      if (code !== undefined && attempt.localCode === undefined) {
        attempt.localCode = code;
        attempt.localReason ??= error.message;
      }
    });
    ws.on("close", (code: number, reason: Buffer) => this.onClose(attempt, code, reason.toString("utf8")));
  }

  private onOpen(attempt: Attempt): void {
    attempt.handshakeTimer?.cancel();
    attempt.handshakeTimer = undefined;
    this.releaseGateSlot(attempt);
    const now = this.clock();
    attempt.openedAt = now;
    this.policy.opened(now);
    if (!this.running) {
      attempt.ws.close(1000, "agent stopping");
      return;
    }
    const { ws } = attempt;
    attempt.heartbeat = new Heartbeat(
      this.settings,
      {
        ping: (written) => ws.ping(undefined, undefined, written),
        expire: (reason) => {
          attempt.localReason = reason;
          ws.terminate();
        },
      },
      this.wheel,
      this.clock,
    );
    attempt.heartbeat.start();
    this.write({ type: "hello", agent_version: this.settings.agentVersion, capabilities: agentCapabilities(this.settings) });
    this.log.info({ apiId: this.apiId, url: this.settings.url }, "connected");
    this.emit("connected");
  }

  private onUnexpectedResponse(attempt: Attempt, req: ClientRequest, res: IncomingMessage): void {
    const proxyStatus = this.dialer.proxyRefusal(req);
    if (proxyStatus !== undefined) {
      // The proxy's refusal is replayed as if it were the server's answer: report it as a proxy failure.
      attempt.error = new Error(`proxy ${this.dialer.describe().proxy ?? ""} refused the tunnel with HTTP ${proxyStatus}`);
      res.resume();
      attempt.ws.terminate();
      return;
    }
    void readRejection(res).then((rejection) => {
      attempt.rejection = rejection;
      this.log.warn(
        { apiId: this.apiId, status: rejection.status, body: rejection.body, retryAfterMs: rejection.retryAfterMs },
        `server rejected the connection with HTTP ${rejection.status}`,
      );
      if (attempt.ws.readyState !== WebSocket.CLOSED) attempt.ws.terminate();
      this.emit("rejected", rejection);
    });
  }

  private onMessage(attempt: Attempt, data: RawData, isBinary: boolean): void {
    attempt.heartbeat?.touch();
    if (isBinary) {
      this.log.warn({ apiId: this.apiId }, "ignored a binary frame (the protocol is JSON text)");
      return;
    }
    const text = Buffer.isBuffer(data) ? data.toString("utf8") : Array.isArray(data) ? Buffer.concat(data).toString("utf8") : Buffer.from(data).toString("utf8");
    this.processor.process(text);
  }

  private onClose(attempt: Attempt, code: number, reason: string): void {
    if (this.attempt === attempt) this.attempt = undefined;
    // Nothing can reach the server any more: close every SSH client of this connection.
    attempt.proxy?.closeAll("the agent connection closed", false);
    attempt.handshakeTimer?.cancel();
    attempt.heartbeat?.stop();
    this.releaseGateSlot(attempt);
    const closedAt = this.clock();
    const why = attempt.localReason ?? reason;
    code = attempt.localCode ?? code;
    if (attempt.openedAt !== undefined) {
      const fields = { apiId: this.apiId, code, reason: why, ...(attempt.error ? { error: attempt.error.message } : {}) };
      if (ORDERLY_CLOSE_CODES.has(code)) this.log.info(fields, "disconnected");
      else this.log.warn(fields, "disconnected");
      this.emit("disconnected", { code, reason: why });
    } else if (!attempt.rejection && this.running) {
      this.log.warn(
        { apiId: this.apiId, error: attempt.error?.message ?? why, code: (attempt.error as NodeJS.ErrnoException | undefined)?.code },
        "connection attempt failed",
      );
    }
    if (attempt.error && !attempt.rejection && this.running) this.emitError(attempt.error);

    const waiters = this.stopWaiters;
    this.stopWaiters = [];
    for (const resolve of waiters) resolve();
    if (!this.running) return;
    this.scheduleReconnect(closedAt, attempt.rejection?.retryAfterMs);
  }

  private scheduleReconnect(closedAt: number, retryAfterMs?: number): void {
    const delay = this.policy.nextDelay(closedAt, retryAfterMs);
    this.log.info({ apiId: this.apiId, delayMs: delay }, "reconnecting after backoff");
    this.reconnectTimer = this.wheel.schedule(delay, () => {
      this.reconnectTimer = undefined;
      this.connect();
    });
  }

  private releaseGateSlot(attempt: Attempt): void {
    if (attempt.holdsGateSlot) {
      attempt.holdsGateSlot = false;
      this.gate?.release();
    }
  }

  /** Acts on a validated command; throwing makes the ack ok:false. */
  private execute(message: ServerToAgentMessage): void {
    this.emit("command", message);
    switch (message.type) {
      case "report_now":
        this.emit("report", message.id === undefined ? {} : { id: message.id });
        return;
      case "settings_update":
        if (message.update_interval !== this.interval) {
          this.interval = message.update_interval;
          this.log.info({ apiId: this.apiId, updateIntervalMinutes: message.update_interval }, "report interval updated");
          this.emit("settings", { updateIntervalMinutes: message.update_interval });
        }
        return;
      case "ssh_proxy":
      case "ssh_proxy_input":
      case "ssh_proxy_resize":
      case "ssh_proxy_disconnect":
        // Asynchronous from here on; only a refused ssh_proxy throws (its ssh_proxy_error is already sent).
        if (this.attempt && isSshProxyMessage(message)) this.proxyOf(this.attempt).handle(message);
        return;
      default:
        // Every other command's action, for the reference agent, is the "command" event above.
        return;
    }
  }

  private write(message: AgentToServerMessageType): void {
    const attempt = this.attempt;
    const ws = attempt?.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.log.warn({ apiId: this.apiId, type: message.type }, "not sent: the connection is closed");
      return;
    }
    ws.send(JSON.stringify(message), (error) => {
      if (error) {
        this.log.warn({ apiId: this.apiId, type: message.type, error: error.message }, "send failed");
        this.emitError(error);
      } else {
        attempt.proxy?.onSocketWritten();
      }
    });
  }

  /** The SSH proxy of one connection: its messages go to that connection's socket only. */
  private proxyOf(attempt: Attempt): SshProxySessions {
    if (attempt.proxy) return attempt.proxy;
    const { sshProxy } = this.settings;
    if (sshProxy.enabled) this.knownHosts ??= new KnownHostsFile(sshProxy.knownHostsFile);
    const { ws } = attempt;
    attempt.proxy = new SshProxySessions({
      settings: sshProxy,
      log: this.log,
      logFields: { apiId: this.apiId },
      ...(this.knownHosts ? { knownHosts: this.knownHosts } : {}),
      link: {
        send: (message) => this.sendProxyMessage(attempt, message),
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
      },
      onEvent: (event) => this.emit("ssh_proxy", event),
    });
    return attempt.proxy;
  }

  /** Terminal traffic: dropped quietly once the socket is closing (its sessions are being closed with it). */
  private sendProxyMessage(attempt: Attempt, message: AgentToServerMessageType): void {
    const { ws } = attempt;
    if (ws.readyState !== WebSocket.OPEN) {
      this.log.debug?.({ apiId: this.apiId, type: message.type }, "not sent: the connection is closed");
      return;
    }
    ws.send(JSON.stringify(message), (error) => {
      if (error) this.log.debug?.({ apiId: this.apiId, type: message.type, error: error.message }, "send failed");
      else attempt.proxy?.onSocketWritten();
    });
  }

  private emitError(error: Error): void {
    if (this.listenerCount("error") > 0) this.emit("error", error);
  }
}
