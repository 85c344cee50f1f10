import type { NatsConnection } from "@nats-io/transport-node";
import {
  RELAY_INPUT_WINDOW,
  RELAY_KEEPALIVE_MS,
  RELAY_TIMEOUT_MS,
  RelayInMessage,
  RelaySubjects,
  type AgentToServerMessage,
  type RelayOutFrame,
  type RelaySshTarget,
} from "@patchmon-ws/protocol";
import { ReceiveCredit, RelayLink, SendCredit, type Logger } from "@patchmon-ws/service-kit";
import type { AgentConnection } from "../connection/agent-connection.js";
import { encodeAgentFrame } from "../commands/command-frame.js";
import { sshProxyInputFrames } from "./relay-frames.js";

const IN_TYPES: ReadonlySet<string> = new Set(["input", "resize", "close", "credit", "keepalive"]);

/** Why a relay session ended on this side. */
export type RelayEndReason = "agent_closed" | "agent_error" | "agent_gone" | "terminal_closed" | "terminal_gone" | "stalled" | "shutdown";

export interface RelaySessionOptions {
  sessionId: string;
  connection: AgentConnection;
  terminalReplica: string;
  outputWindow: number;
  inputWindow?: number;
  keepaliveMs?: number;
  timeoutMs?: number;
  logger: Logger;
  onEnded(session: RelaySession, reason: RelayEndReason): void;
}

type Pending = Extract<RelayOutFrame, { seq: number }>;

/**
 * One terminal session through an agent, on the agent-ws replica that holds the agent: the agent's `ssh_proxy_*`
 * frames become the session's output stream on NATS (within the credit terminal-ws granted), the input stream becomes
 * `ssh_proxy_input` / `_resize` / `_disconnect` frames (input credit is granted back once each frame was handed to
 * the agent's socket). Output beyond the credit waits here while the agent's socket is not read, so TCP slows the
 * agent, whose SSH channel then slows the shell: no hop buffers without bound.
 */
export class RelaySession {
  readonly sessionId: string;
  readonly connection: AgentConnection;
  readonly terminalReplica: string;
  readonly openedAt = Date.now();
  private readonly link: RelayLink<RelayInMessage, RelayOutFrame>;
  private readonly outputCredit: SendCredit;
  private readonly outputWindow: number;
  private readonly inputCredit: ReceiveCredit;
  readonly inputWindow: number;
  private readonly pending: Pending[] = [];
  /** When the agent's socket was paused for this session (0: not paused). */
  pausedSince = 0;
  private ended = false;
  /** The agent ended the session; it finishes once the output held for credit went out. */
  private finishing: RelayEndReason | undefined;
  /** Input frames are written one after another: the agent must see keystrokes in order. */
  private inputChain: Promise<void> = Promise.resolve();
  outputChars = 0;
  inputChars = 0;

  constructor(
    nc: NatsConnection,
    private readonly options: RelaySessionOptions,
  ) {
    this.sessionId = options.sessionId;
    this.connection = options.connection;
    this.terminalReplica = options.terminalReplica;
    this.outputWindow = options.outputWindow;
    this.outputCredit = new SendCredit(options.outputWindow);
    this.inputWindow = options.inputWindow ?? RELAY_INPUT_WINDOW;
    this.inputCredit = new ReceiveCredit(this.inputWindow);
    this.link = new RelayLink<RelayInMessage, RelayOutFrame>(nc, {
      publishSubject: RelaySubjects.output(options.sessionId),
      subscribeSubject: RelaySubjects.input(options.sessionId),
      inbound: RelayInMessage,
      inboundTypes: IN_TYPES,
      keepaliveMs: options.keepaliveMs ?? RELAY_KEEPALIVE_MS,
      timeoutMs: options.timeoutMs ?? RELAY_TIMEOUT_MS,
      onMessage: (message) => this.fromTerminal(message),
      onFault: (fault, detail) => {
        options.logger.warn({ sessionId: this.sessionId, hostId: this.connection.hostId, fault, detail }, "terminal side of a relay session lost; disconnecting the agent's session");
        this.disconnectAgent();
        this.finish("terminal_gone");
      },
    });
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Sends the agent the `ssh_proxy` that opens the session. Rejects when the agent's socket is gone. */
  async open(target: RelaySshTarget): Promise<void> {
    // Credentials travel in this frame only; it is never logged.
    await this.connection.write(encodeAgentFrame({ type: "ssh_proxy", session_id: this.sessionId, ...target }));
  }

  /** An `ssh_proxy_*` frame from the agent for this session. */
  fromAgent(message: AgentToServerMessage): void {
    if (this.ended) return;
    switch (message.type) {
      case "ssh_proxy_connected": {
        const fingerprint = (message as { host_key_fingerprint?: unknown }).host_key_fingerprint;
        this.emit({ type: "connected", seq: 0, ...(typeof fingerprint === "string" ? { hostKeyFingerprint: fingerprint.slice(0, 128) } : {}) });
        return;
      }
      case "ssh_proxy_data":
        this.outputChars += message.data.length;
        this.emit({ type: "data", seq: 0, data: message.data });
        return;
      case "ssh_proxy_error": {
        const text = message.message ?? message.data ?? "the agent reported an error";
        this.emit({ type: "error", seq: 0, message: text.slice(0, 4096) });
        // The stock agent sends only an error when opening fails; after that the session is over either way.
        this.emit({ type: "closed", seq: 0, reason: "agent_error" });
        this.finishWhenFlushed("agent_error");
        return;
      }
      case "ssh_proxy_closed":
        this.emit({ type: "closed", seq: 0, reason: "agent_closed" });
        this.finishWhenFlushed("agent_closed");
        return;
      default:
        return;
    }
  }

  /** The agent's connection ended: the session cannot go on. */
  agentGone(reason: string): void {
    if (this.ended) return;
    this.pending.length = 0;
    this.link.send({ type: "error", seq: 0, message: `The host's agent disconnected (${reason}).`, code: "AGENT_OFFLINE" }, true);
    this.link.send({ type: "closed", seq: 0, reason: "agent_gone" }, true);
    this.finish("agent_gone");
  }

  /** Ends the session from this side (stall, shutdown): the agent and terminal-ws are both told. */
  abort(reason: "stalled" | "shutdown", message: string, code: string): void {
    if (this.ended) return;
    this.pending.length = 0;
    this.disconnectAgent();
    this.link.send({ type: "error", seq: 0, message, code }, true);
    this.link.send({ type: "closed", seq: 0, reason }, true);
    this.finish(reason);
  }

  private fromTerminal(message: RelayInMessage): void {
    if (this.ended) return;
    switch (message.type) {
      case "input":
        this.inputChars += message.data.length;
        this.writeInput(message.data);
        return;
      case "resize":
        this.writeFrame(encodeAgentFrame({ type: "ssh_proxy_resize", session_id: this.sessionId, cols: message.cols, rows: message.rows }));
        return;
      case "close":
        this.disconnectAgent();
        this.finish("terminal_closed");
        return;
      case "credit":
        this.outputCredit.grant(message.chars);
        this.flush();
        return;
      case "keepalive":
        return;
    }
  }

  /** Output in order: straight to NATS within the credit, else held (and the agent's socket paused). */
  private emit(message: Pending): void {
    if (this.pending.length === 0 && this.trySend(message)) return;
    this.pending.push(message);
    this.pauseAgent();
  }

  private trySend(message: Pending): boolean {
    const cost = message.type === "data" ? message.data.length : 0;
    if (cost > 0 && !this.outputCredit.take(cost, this.outputWindow)) return false;
    this.link.send(message, true);
    return true;
  }

  private flush(): void {
    while (this.pending.length > 0 && this.trySend(this.pending[0]!)) this.pending.shift();
    if (this.pending.length === 0) {
      this.resumeAgent();
      if (this.finishing) this.finish(this.finishing);
    }
  }

  /** The session is over, but output still waiting for credit goes first. */
  private finishWhenFlushed(reason: RelayEndReason): void {
    if (this.pending.length === 0) this.finish(reason);
    else this.finishing = reason;
  }

  private writeInput(data: string): void {
    const frames = sshProxyInputFrames(this.sessionId, data);
    for (const frame of frames) this.writeFrame(frame);
    this.inputChain = this.inputChain.then(() => {
      const grant = this.inputCredit.deliveredNow(data.length);
      if (grant > 0 && !this.ended) this.link.send({ type: "credit", chars: grant }, true);
    });
  }

  private writeFrame(frame: string): void {
    this.inputChain = this.inputChain.then(
      () => this.connection.write(frame),
      () => undefined,
    ).catch(() => undefined);
  }

  private disconnectAgent(): void {
    if (!this.connection.open) return;
    this.connection.write(encodeAgentFrame({ type: "ssh_proxy_disconnect", session_id: this.sessionId })).catch(() => undefined);
  }

  private pauseAgent(): void {
    if (this.pausedSince !== 0) return;
    this.pausedSince = Date.now();
    this.connection.pauseReading(this);
  }

  private resumeAgent(): void {
    if (this.pausedSince === 0) return;
    this.pausedSince = 0;
    this.connection.resumeReading(this);
  }

  private finish(reason: RelayEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.resumeAgent();
    this.link.stop();
    this.options.onEnded(this, reason);
  }
}
