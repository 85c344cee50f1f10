import {
  hasPermission,
  TERMINAL_PROTOCOL_VERSION,
  TerminalErrorCatalogue,
  terminalCloseCode,
  type ConnectionMode,
  type HostRecord,
  type Principal,
  type RevocationEvent,
  type TerminalClientMessage,
  type TerminalConnect,
  type TerminalEndReason,
  type TerminalErrorCode,
  type TerminalHostKey,
  type TerminalServerMessage,
} from "@patchmon-ws/protocol";
import type { Revocable } from "@patchmon-ws/service-kit";
import type { AuditEntry } from "./audit/audit-trail.js";
import type { SessionRecorder } from "./recording/session-recorder.js";
import { SessionLimitReached, type LedgerHold } from "./session-ledger.js";
import type { ShellBackend, ShellFailure, ShellRequest } from "./shell-backend.js";

/** The browser side of a session: the socket, as the session needs it. */
export interface TerminalClient {
  /** Queues a message (terminal output may wait in a bounded outbox; back-pressure comes through `outputPressure`). */
  send(message: TerminalServerMessage): void;
  /** Sends these last messages, then closes the socket with `code` once they left (bounded wait). */
  finish(last: TerminalServerMessage[], code: number, reason: string): void;
  pauseInput(): void;
  resumeInput(): void;
}

/**
 * How a session ended: a terminal error code, a normal end, or `heartbeat_timeout` (the server terminated a browser
 * silent for two heartbeat intervals; the browser, gone, observes 1006 if anything).
 */
export type SessionOutcome = TerminalErrorCode | TerminalEndReason | "heartbeat_timeout";

/** The browser's socket closed before the session ended it: the code it closed with, and whether the server cut it. */
export interface SocketGone {
  code: number;
  heartbeatTimeout: boolean;
}

export interface SessionLimits {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  idleWarningMs: number;
  maxSessionMs: number;
  maxSessionWarningMs: number;
}

export interface TerminalSessionDeps {
  /** A shell for this mode (DirectShell for direct, RelayShell for proxy). */
  openShell(mode: ConnectionMode, host: HostRecord): ShellBackend;
  ledger: { acquire(session: { sessionId: string; userId: string; hostId: string; mode: ConnectionMode; startedAt: number }): Promise<LedgerHold>; release(hold: LedgerHold): Promise<void> };
  audit: { recordSoon(entry: AuditEntry): void };
  /** A recorder when this host's sessions are recorded, else undefined. */
  startRecorder(session: TerminalSession, request: ShellRequest, onPressure: (pressed: boolean) => void): SessionRecorder | undefined;
  /** The principal as it stands now (after a user_changed event); throws when the session is gone. */
  recheckPrincipal(principal: Principal): Promise<Principal>;
  limits: SessionLimits;
  now?: () => number;
  onLog?: (level: "info" | "warn", fields: Record<string, unknown>, message: string) => void;
  /** Called once when the session has ended and released everything. */
  onEnded?: (session: TerminalSession) => void;
}

type State = "awaiting_connect" | "connecting" | "open" | "ended";

/** Proxy mode reaches the host's own sshd from its agent: the agent connects here. */
export const PROXY_TARGET_ADDRESS = "localhost";
const DEFAULT_SSH_PORT = 22;
const DEFAULT_SSH_USER = "root";
/** Coalesced output leaves at once beyond this many characters (a data message stays a moderate frame). */
const MAX_COALESCED_CHARS = 64 * 1024;

/**
 * One browser terminal: the protocol's state machine between the browser and a shell, with everything that makes it
 * safe to run — caps (per user and host, across replicas), idle timeout and maximum duration with warnings,
 * revocation, audit, recording, and back-pressure in both directions (a slow browser pauses the shell's output; a
 * slow shell pauses the browser's input). Socket-free: the gateway binds it to a socket, tests to a fake client and
 * a fake shell.
 */
export class TerminalSession implements Revocable {
  private state: State = "awaiting_connect";
  private shell: ShellBackend | undefined;
  private hold: LedgerHold | undefined;
  private recorder: SessionRecorder | undefined;
  private mode: ConnectionMode | undefined;
  private sshUser: string | null = null;
  private startedAt: number | undefined;
  private lastActivity: number;
  private idleWarned = false;
  private readonly timers = new Map<"connect" | "idle" | "idleWarning" | "max" | "maxWarning", NodeJS.Timeout>();
  private readonly pressure = new Set<"client" | "recorder">();
  private readonly now: () => number;
  private endedOutcome: SessionOutcome | undefined;
  private pendingOutput: string[] = [];
  private pendingOutputChars = 0;
  private outputFlush: NodeJS.Immediate | undefined;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly sessionId: string,
    public principal: Principal,
    readonly host: HostRecord,
    readonly sourceAddress: string,
    private readonly client: TerminalClient,
    private readonly deps: TerminalSessionDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.lastActivity = this.now();
    this.timer("connect", deps.limits.connectTimeoutMs, () => this.end("IDLE_TIMEOUT", `No connect message within ${Math.round(deps.limits.connectTimeoutMs / 1000)} s.`));
  }

  get isEnded(): boolean {
    return this.state === "ended";
  }

  get connectionMode(): ConnectionMode | undefined {
    return this.mode;
  }

  get outcome(): SessionOutcome | undefined {
    return this.endedOutcome;
  }

  /** A validated message from the browser. */
  message(message: TerminalClientMessage): void {
    if (this.state === "ended") return;
    switch (message.type) {
      case "connect":
        void this.connect(message);
        return;
      case "input":
        if (this.state !== "open") return;
        this.activity();
        this.bytesIn += message.data.length;
        this.recorder?.input(message.data);
        if (!this.shell!.write(message.data)) this.client.pauseInput();
        return;
      case "resize":
        if (this.state !== "open") return;
        this.activity();
        this.recorder?.resize(message.cols, message.rows);
        this.shell!.resize(message.cols, message.rows);
        return;
      case "auth_response":
        if (this.state === "connecting") this.shell?.answerPrompt(message.responses);
        return;
      case "disconnect":
        this.end("disconnected");
        return;
    }
  }

  /** A message the browser sent that was not understood (the socket counts them and closes past a limit). */
  invalidMessage(detail: string): void {
    if (this.state !== "ended") this.client.send({ type: "error", code: "INVALID_MESSAGE", message: `${TerminalErrorCatalogue.INVALID_MESSAGE.message} ${detail}` });
  }

  /** The browser's socket is above (true) or back below (false) its high-water mark. */
  outputPressure(pressed: boolean): void {
    this.setPressure("client", pressed);
  }

  /** The socket closed without a `disconnect` (tab closed, network lost, heartbeat timeout). */
  socketClosed(gone: SocketGone): void {
    this.end("disconnected", undefined, { socketGone: gone });
  }

  /** Drain: the replica is going away. */
  shutdown(): void {
    this.end("SHUTTING_DOWN");
  }

  revoked(_code: number, text: string, event: RevocationEvent): void {
    // A host's key rotation concerns its agent, not SSH sessions to it (proxy sessions end with the agent's connection).
    if (event.kind === "host" && event.reason === "key_rotated") return;
    if (event.kind === "host") this.end("HOST_DELETED");
    else this.end("CREDENTIALS_REVOKED", `Your access to this terminal was revoked (${text}).`);
  }

  userChanged(): void {
    void this.deps.recheckPrincipal(this.principal).then(
      (principal) => {
        this.principal = principal;
        if (!hasPermission(principal, "can_use_ssh_terminal")) this.end("CREDENTIALS_REVOKED", "You no longer have the can_use_ssh_terminal permission.");
      },
      () => this.end("CREDENTIALS_REVOKED"),
    );
  }

  /** Ends the session (idempotent): tells the browser why, closes the socket, the shell, the recording; audits. */
  end(outcome: TerminalErrorCode | TerminalEndReason, message?: string, options: { extra?: Record<string, string>; socketGone?: SocketGone } = {}): void {
    if (this.state === "ended") return;
    // Output the shell produced before the end goes first (an `exit`'s last line, an error's context).
    this.flushOutput();
    const wasStarted = this.startedAt !== undefined;
    this.state = "ended";
    const recordedOutcome: SessionOutcome = options.socketGone?.heartbeatTimeout ? "heartbeat_timeout" : outcome;
    this.endedOutcome = recordedOutcome;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.shell?.close();
    const code = terminalCloseCode(outcome);
    const isError = outcome !== "disconnected" && outcome !== "exited";
    const text = message ?? (isError ? TerminalErrorCatalogue[outcome].message : outcome === "exited" ? "The remote shell exited." : "Disconnected.");
    if (!options.socketGone) {
      const last: TerminalServerMessage[] = [];
      if (isError) last.push({ type: "error", code: outcome, message: text, ...options.extra });
      last.push({ type: "closed", code, reason: outcome });
      this.client.finish(last, code, text);
    }
    void this.recorder?.finish(`closed: ${recordedOutcome}`);
    if (this.hold) void this.deps.ledger.release(this.hold);
    if (wasStarted) {
      const endedAt = this.now();
      this.deps.audit.recordSoon({
        kind: "session_ended",
        at: endedAt,
        ...this.auditIdentity(),
        reason: recordedOutcome,
        startedAt: this.startedAt!,
        durationMs: endedAt - this.startedAt!,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        // What the socket actually closed with: the browser's own code, or 1006 when it vanished or was cut.
        closeCode: options.socketGone ? options.socketGone.code : code,
        recorded: this.recorder !== undefined,
      });
    }
    const warn = (isError && outcome !== "IDLE_TIMEOUT") || recordedOutcome === "heartbeat_timeout";
    this.deps.onLog?.(warn ? "warn" : "info", { sessionId: this.sessionId, hostId: this.host.id, user: this.principal.username, mode: this.mode, outcome: recordedOutcome, bytesIn: this.bytesIn, bytesOut: this.bytesOut }, "terminal session ended");
    this.deps.onEnded?.(this);
  }

  private async connect(message: TerminalConnect): Promise<void> {
    if (this.state !== "awaiting_connect") {
      this.client.send({ type: "error", code: "ALREADY_CONNECTED", message: TerminalErrorCatalogue.ALREADY_CONNECTED.message });
      return;
    }
    this.clearTimer("connect");
    this.activity();
    const mode = message.connection_mode;
    this.mode = mode;
    const target = this.host.ssh;
    if (mode === "direct" && !target) return this.end("NO_SSH_TARGET");
    this.state = "connecting";
    const username = message.username ?? target?.username ?? DEFAULT_SSH_USER;
    this.sshUser = username;
    const request: ShellRequest = {
      sessionId: this.sessionId,
      hostId: this.host.id,
      address: mode === "direct" ? target!.address : PROXY_TARGET_ADDRESS,
      port: target?.port ?? DEFAULT_SSH_PORT,
      username,
      term: message.terminal,
      cols: message.cols,
      rows: message.rows,
      credentials: {
        ...(message.password ? { password: message.password } : {}),
        ...(message.privateKey ? { privateKey: message.privateKey } : {}),
        ...(message.passphrase ? { passphrase: message.passphrase } : {}),
      },
    };
    this.startedAt = this.now();
    this.deps.audit.recordSoon({ kind: "session_started", at: this.startedAt, ...this.auditIdentity(), reason: mode, recorded: false });
    try {
      this.hold = await this.deps.ledger.acquire({ sessionId: this.sessionId, userId: this.principal.userId, hostId: this.host.id, mode, startedAt: this.startedAt });
    } catch (err) {
      if (err instanceof SessionLimitReached) return this.end("SESSION_LIMIT", err.message);
      return this.end("DEPENDENCY_UNAVAILABLE", "The session ledger (NATS) is unavailable; try again shortly.");
    }
    if (this.state !== "connecting") {
      void this.deps.ledger.release(this.hold);
      return;
    }
    const shell = this.deps.openShell(mode, this.host);
    this.shell = shell;
    shell.open(request, {
      connected: (hostKey) => this.opened(request, hostKey),
      data: (text) => this.output(text),
      prompt: (prompt) => this.client.send({ type: "auth_prompt", ...prompt }),
      drain: () => this.client.resumeInput(),
      failed: (failure) => this.failed(failure),
      ended: () => this.end("exited"),
    });
  }

  private opened(request: ShellRequest, hostKey: TerminalHostKey | null): void {
    if (this.state !== "connecting") return;
    this.state = "open";
    const { limits } = this.deps;
    this.recorder = this.deps.startRecorder(this, request, (pressed) => this.setPressure("recorder", pressed));
    const expiresAt = limits.maxSessionMs > 0 ? this.now() + limits.maxSessionMs : undefined;
    this.client.send({
      type: "connected",
      session_id: this.sessionId,
      connection_mode: this.mode!,
      protocol_version: TERMINAL_PROTOCOL_VERSION,
      host_key: hostKey,
      ...(expiresAt ? { expires_at: expiresAt } : {}),
      idle_timeout_seconds: Math.round(limits.idleTimeoutMs / 1000),
    });
    this.recorder?.marker(`connected: ${this.mode} as ${request.username}`);
    this.armIdle();
    if (limits.maxSessionMs > 0) {
      this.timer("maxWarning", limits.maxSessionMs - limits.maxSessionWarningMs, () =>
        this.warn("max_duration", limits.maxSessionWarningMs, "The session reaches its maximum duration"),
      );
      this.timer("max", limits.maxSessionMs, () => this.end("SESSION_EXPIRED"));
    }
    this.deps.onLog?.("info", { sessionId: this.sessionId, hostId: this.host.id, user: this.principal.username, mode: this.mode, sshUser: request.username, hostKey: hostKey?.fingerprint, hostKeyStatus: hostKey?.status }, "terminal session opened");
  }

  /**
   * Output is coalesced: chunks that arrive in one turn of the event loop (one TCP read holds several SSH packets;
   * a PTY hands sshd 4 KiB at a time) leave as one `data` message at its end. A keystroke's echo is alone and goes
   * out at once; a flood costs one message (and one socket write) per read instead of one per chunk.
   */
  private output(text: string): void {
    if (this.state !== "open") return;
    this.bytesOut += text.length;
    this.pendingOutput.push(text);
    this.pendingOutputChars += text.length;
    if (this.pendingOutputChars >= MAX_COALESCED_CHARS) this.flushOutput();
    else this.outputFlush ??= setImmediate(this.flushOutput);
  }

  private readonly flushOutput = (): void => {
    if (this.outputFlush) clearImmediate(this.outputFlush);
    this.outputFlush = undefined;
    if (this.pendingOutput.length === 0) return;
    const text = this.pendingOutput.length === 1 ? this.pendingOutput[0]! : this.pendingOutput.join("");
    this.pendingOutput = [];
    this.pendingOutputChars = 0;
    if (this.state !== "open") return;
    this.recorder?.output(text);
    this.client.send({ type: "data", data: text });
  };

  private failed(failure: ShellFailure): void {
    this.end(failure.code, failure.message, failure.extra ? { extra: failure.extra } : {});
  }

  /** Input or a resize: the idle countdown starts over (cheaply: timers are only moved when they fire). */
  private activity(): void {
    this.lastActivity = this.now();
    if (this.idleWarned) {
      this.idleWarned = false;
      this.clearTimer("idle");
      this.armIdle();
    }
  }

  /** Arms the idle check for when the warning would be due; it re-arms itself while there was activity since. */
  private armIdle(): void {
    const { idleTimeoutMs, idleWarningMs } = this.deps.limits;
    if (idleTimeoutMs === 0 || this.state !== "open") return;
    const warnAfter = idleTimeoutMs - idleWarningMs;
    this.timer("idleWarning", this.lastActivity + warnAfter - this.now(), () => {
      const idleFor = this.now() - this.lastActivity;
      if (idleFor < warnAfter) return this.armIdle();
      this.idleWarned = true;
      this.warn("idle_timeout", idleTimeoutMs - idleFor, "The terminal has been idle and closes");
      this.timer("idle", idleTimeoutMs - idleFor, () => this.end("IDLE_TIMEOUT"));
    });
  }

  private warn(kind: "idle_timeout" | "max_duration", inMs: number, what: string): void {
    const seconds = Math.round(inMs / 1000);
    const message = kind === "idle_timeout" ? `${what} in ${seconds} s unless you type something.` : `${what} in ${seconds} s.`;
    this.client.send({ type: "warning", kind, seconds, message });
    this.recorder?.marker(`warning: ${kind}`);
  }

  private setPressure(source: "client" | "recorder", pressed: boolean): void {
    const before = this.pressure.size > 0;
    if (pressed) this.pressure.add(source);
    else this.pressure.delete(source);
    const after = this.pressure.size > 0;
    if (before === after || !this.shell) return;
    if (after) this.shell.pauseOutput();
    else this.shell.resumeOutput();
  }

  private timer(name: "connect" | "idle" | "idleWarning" | "max" | "maxWarning", ms: number, run: () => void): void {
    this.clearTimer(name);
    const timer = setTimeout(run, Math.max(0, ms));
    timer.unref();
    this.timers.set(name, timer);
  }

  private clearTimer(name: "connect" | "idle" | "idleWarning" | "max" | "maxWarning"): void {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
  }

  private auditIdentity() {
    return {
      sessionId: this.sessionId,
      userId: this.principal.userId,
      username: this.principal.username,
      hostId: this.host.id,
      hostName: this.host.name,
      sourceAddress: this.sourceAddress,
      mode: this.mode ?? null,
      sshUser: this.sshUser,
    };
  }
}
