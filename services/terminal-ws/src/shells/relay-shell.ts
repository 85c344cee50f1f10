import { NoRespondersError, RequestError, type NatsConnection } from "@nats-io/transport-node";
import {
  AgentSubjects,
  CodedError,
  isTerminalErrorCode,
  RELAY_KEEPALIVE_MS,
  RELAY_OUTPUT_WINDOW,
  RELAY_TIMEOUT_MS,
  RelayOpenReply,
  RelayOutMessage,
  RelaySubjects,
  type RelayInMessage,
  type RelayOpenRequest,
  type TerminalErrorCode,
} from "@patchmon-ws/protocol";
import { encodeJson, ReceiveCredit, RelayLink, SendCredit, type Logger } from "@patchmon-ws/service-kit";
import type { ShellBackend, ShellEvents, ShellFailure, ShellRequest } from "../shell-backend.js";

const OUT_TYPES: ReadonlySet<string> = new Set(["connected", "data", "error", "closed", "credit", "keepalive"]);

export interface RelayShellOptions {
  nc: NatsConnection;
  replicaId: string;
  /** The agent-ws replica holding the host's agent (PresenceClient.locate; null: not connected). */
  locateAgent(hostId: string): Promise<string | null>;
  /** How long the agent may take to open the shell (its own SSH timeout is 20 s). */
  readyTimeoutMs: number;
  outputWindow?: number;
  keepaliveMs?: number;
  timeoutMs?: number;
  logger: Logger;
}

/** Time for the relay-open request itself (the holder answers once the `ssh_proxy` frame is written). */
const OPEN_REQUEST_TIMEOUT_MS = 5000;

/**
 * What an agent's `ssh_proxy_error` text means. The stock agent only sends text: its refusal when proxying is off
 * names the `ssh-proxy-enabled` setting, and Go's SSH client says "unable to authenticate".
 */
export function classifyAgentError(message: string, code: string | undefined): TerminalErrorCode {
  if (code && isTerminalErrorCode(code)) return code;
  if (/ssh-proxy-enabled|proxy(ing)? (is )?(disabled|not enabled)/i.test(message)) return "PROXY_DISABLED";
  if (/host key (verification|mismatch)|REMOTE HOST IDENTIFICATION|knownhosts: key mismatch/i.test(message)) return "HOST_KEY_MISMATCH";
  if (/unable to authenticate|authentication failed|permission denied|no supported methods|wrong password/i.test(message)) return "SSH_AUTH_FAILED";
  if (/connection refused|no route to host|i\/o timeout|network is unreachable|could not connect|dial tcp/i.test(message)) return "HOST_UNREACHABLE";
  return "AGENT_ERROR";
}

function isNoResponders(err: unknown): boolean {
  if (err instanceof NoRespondersError) return true;
  if (err instanceof RequestError && err.isNoResponders()) return true;
  const cause = (err as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== err && isNoResponders(cause);
}

/**
 * A shell through the host's agent ("proxy" mode): opened with a request to the agent-ws replica holding the agent,
 * then a flow-controlled stream per session on NATS (terminal-relay.ts). Output credit is granted back as output is
 * handed on to the browser, and withheld while the browser's socket is above its high-water mark, so a slow browser
 * slows the agent's shell; input waits for the credit the holder grants as it writes to the agent.
 */
export class RelayShell implements ShellBackend {
  readonly mode = "proxy" as const;
  private link: RelayLink<RelayOutMessage, RelayInMessage> | undefined;
  private events: ShellEvents | undefined;
  private done = false;
  private connected = false;
  private readyTimer: NodeJS.Timeout | undefined;
  private readonly outputWindow: number;
  private readonly outputCredit: ReceiveCredit;
  private inputCredit: SendCredit | undefined;
  private inputWindow = 0;
  private readonly inputQueue: string[] = [];
  private waitingForDrain = false;
  private paused = false;
  /** Output handed on while paused: granted back on resume. */
  private withheld = 0;
  private pendingFailure: ShellFailure | undefined;

  constructor(private readonly options: RelayShellOptions) {
    this.outputWindow = options.outputWindow ?? RELAY_OUTPUT_WINDOW;
    this.outputCredit = new ReceiveCredit(this.outputWindow);
  }

  open(request: ShellRequest, events: ShellEvents): void {
    this.events = events;
    void this.start(request).catch((err: unknown) => {
      this.options.logger.error({ err, sessionId: request.sessionId }, "relay shell failed to open");
      this.fail({ code: "INTERNAL", message: "The relay to the host's agent could not be opened." });
    });
  }

  write(data: string): boolean {
    if (this.done || !this.link) return true;
    if (this.inputQueue.length === 0 && this.inputCredit?.take(data.length, this.inputWindow)) {
      this.link.send({ type: "input", seq: 0, data }, true);
      return true;
    }
    this.inputQueue.push(data);
    this.waitingForDrain = true;
    return false;
  }

  resize(cols: number, rows: number): void {
    if (this.done || !this.link) return;
    this.link.send({ type: "resize", seq: 0, cols, rows }, true);
  }

  answerPrompt(): void {
    // The agent answers its own prompts (with the password it was given); there is nothing to relay.
  }

  pauseOutput(): void {
    this.paused = true;
  }

  resumeOutput(): void {
    this.paused = false;
    const grant = this.withheld + this.outputCredit.flush();
    this.withheld = 0;
    if (grant > 0) this.link?.send({ type: "credit", chars: grant }, true);
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.readyTimer);
    this.link?.send({ type: "close", seq: 0, reason: "terminal closed" }, true);
    this.link?.stop();
  }

  private async start(request: ShellRequest): Promise<void> {
    const { nc, logger } = this.options;
    let holder = await this.locate(request.hostId);
    if (!holder) return this.fail({ code: "AGENT_OFFLINE", message: "The host's agent is not connected, so the terminal cannot go through it." });
    if (this.done) return;
    // Listen before asking: the agent may answer (connected, data) before the request's reply arrives.
    this.link = new RelayLink<RelayOutMessage, RelayInMessage>(nc, {
      publishSubject: RelaySubjects.input(request.sessionId),
      subscribeSubject: RelaySubjects.output(request.sessionId),
      inbound: RelayOutMessage,
      inboundTypes: OUT_TYPES,
      keepaliveMs: this.options.keepaliveMs ?? RELAY_KEEPALIVE_MS,
      timeoutMs: this.options.timeoutMs ?? RELAY_TIMEOUT_MS,
      onMessage: (message) => this.fromAgent(message),
      onFault: (fault, detail) => {
        logger.warn({ sessionId: request.sessionId, hostId: request.hostId, fault, detail }, "relay to the agent lost");
        this.fail({ code: "RELAY_LOST", message: fault === "silent" ? "The agent gateway holding the host's agent stopped answering." : "The relay to the host's agent lost data." });
      },
    });
    const body: RelayOpenRequest = {
      sessionId: request.sessionId,
      hostId: request.hostId,
      terminalReplica: this.options.replicaId,
      outputWindow: this.outputWindow,
      ssh: {
        host: request.address,
        port: request.port,
        username: request.username,
        terminal: request.term,
        cols: request.cols,
        rows: request.rows,
        ...(request.credentials.password ? { password: request.credentials.password } : {}),
        ...(request.credentials.privateKey ? { private_key: request.credentials.privateKey } : {}),
        ...(request.credentials.passphrase ? { passphrase: request.credentials.passphrase } : {}),
      },
    };
    let reply = await this.ask(holder, body);
    if (reply === "not_held") {
      // The agent moved a moment ago: presence names its new holder.
      const next = await this.locate(request.hostId);
      reply = next && next !== holder ? await this.ask((holder = next), body) : reply;
    }
    if (this.done) return;
    if (reply === "not_held") return this.fail({ code: "AGENT_OFFLINE", message: "The host's agent is not connected, so the terminal cannot go through it." });
    if ("failure" in reply) return this.fail(reply.failure);
    this.inputWindow = reply.inputWindow;
    this.inputCredit = new SendCredit(reply.inputWindow);
    this.readyTimer = setTimeout(
      () => this.fail({ code: "HOST_UNREACHABLE", message: `The host's agent did not open the SSH session within ${Math.round(this.options.readyTimeoutMs / 1000)} s.` }),
      this.options.readyTimeoutMs,
    );
    this.readyTimer.unref();
    logger.debug({ sessionId: request.sessionId, hostId: request.hostId, holder }, "relay opened");
  }

  private async locate(hostId: string): Promise<string | null> {
    try {
      return await this.options.locateAgent(hostId);
    } catch {
      return null;
    }
  }

  private async ask(holder: string, body: RelayOpenRequest): Promise<"not_held" | { inputWindow: number } | { failure: ShellFailure }> {
    let parsed: ReturnType<typeof RelayOpenReply.safeParse>;
    try {
      const msg = await this.options.nc.request(AgentSubjects.replicaRelay(holder), encodeJson(body), { timeout: OPEN_REQUEST_TIMEOUT_MS });
      parsed = RelayOpenReply.safeParse(msg.json());
    } catch (err) {
      if (isNoResponders(err)) return "not_held";
      return { failure: { code: "DEPENDENCY_UNAVAILABLE", message: "The agent gateway holding the host's agent did not answer." } };
    }
    if (!parsed.success) return { failure: { code: "INTERNAL", message: "The agent gateway answered something unexpected." } };
    const reply = parsed.data;
    if (reply.ok) return { inputWindow: reply.inputWindow };
    const error = CodedError.fromBody(reply);
    if (error.code === "AGENT_OFFLINE") return "not_held";
    if (error.status === 503) return { failure: { code: "DEPENDENCY_UNAVAILABLE", message: error.message } };
    return { failure: { code: "AGENT_ERROR", message: error.message } };
  }

  private fromAgent(message: RelayOutMessage): void {
    if (this.done) return;
    switch (message.type) {
      case "connected":
        clearTimeout(this.readyTimer);
        this.connected = true;
        this.events?.connected(message.hostKeyFingerprint ? { algorithm: "unknown", fingerprint: message.hostKeyFingerprint, status: "unchecked" } : null);
        return;
      case "data": {
        const length = message.data.length;
        if (this.paused) this.withheld += length;
        else {
          const grant = this.outputCredit.deliveredNow(length);
          if (grant > 0) this.link?.send({ type: "credit", chars: grant }, true);
        }
        this.events?.data(message.data);
        return;
      }
      case "error":
        // `closed` follows; the first error is what the browser is told.
        this.pendingFailure ??= { code: classifyAgentError(message.message, message.code), message: message.message };
        return;
      case "closed":
        if (this.pendingFailure) return this.fail(this.pendingFailure);
        if (this.connected) return this.end();
        return this.fail({ code: "AGENT_ERROR", message: "The host's agent closed the session before it opened." });
      case "credit":
        this.inputCredit?.grant(message.chars);
        this.flushInput();
        return;
      case "keepalive":
        return;
    }
  }

  private flushInput(): void {
    const link = this.link;
    if (!link || !this.inputCredit) return;
    while (this.inputQueue.length > 0 && this.inputCredit.take(this.inputQueue[0]!.length, this.inputWindow)) {
      link.send({ type: "input", seq: 0, data: this.inputQueue.shift()! }, true);
    }
    if (this.inputQueue.length === 0 && this.waitingForDrain) {
      this.waitingForDrain = false;
      this.events?.drain();
    }
  }

  private fail(failure: ShellFailure): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.readyTimer);
    this.link?.send({ type: "close", seq: 0, reason: failure.code }, true);
    this.link?.stop();
    this.events?.failed(failure);
  }

  private end(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.readyTimer);
    this.link?.stop();
    this.events?.ended();
  }
}
