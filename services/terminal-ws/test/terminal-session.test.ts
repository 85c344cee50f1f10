import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CLOSE_CODE_DESCRIPTIONS,
  CloseCode,
  TerminalClientMessage,
  TerminalErrorCatalogue,
  type HostRecord,
  type Principal,
  type RevocationEvent,
  type TerminalServerMessage,
} from "@patchmon-ws/protocol";
import type { AuditEntry } from "../src/audit/audit-trail.js";
import { SESSION_LIMIT_SCOPES, SessionLimitReached, type LedgerHold } from "../src/session-ledger.js";
import type { ShellBackend, ShellEvents, ShellRequest } from "../src/shell-backend.js";
import { TerminalSession, type SessionLimits, type TerminalClient, type TerminalSessionDeps } from "../src/terminal-session.js";

class FakeClient implements TerminalClient {
  readonly sent: TerminalServerMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  inputPaused = false;
  send(message: TerminalServerMessage): void {
    if (!this.closed) this.sent.push(message);
  }
  finish(last: TerminalServerMessage[], code: number, reason: string): void {
    for (const m of last) this.send(m);
    this.closed ??= { code, reason };
  }
  pauseInput(): void {
    this.inputPaused = true;
  }
  resumeInput(): void {
    this.inputPaused = false;
  }
  of<T extends TerminalServerMessage["type"]>(type: T): Extract<TerminalServerMessage, { type: T }>[] {
    return this.sent.filter((m): m is Extract<TerminalServerMessage, { type: T }> => m.type === type);
  }
}

class FakeShell implements ShellBackend {
  request: ShellRequest | undefined;
  events: ShellEvents | undefined;
  written: string[] = [];
  resized: [number, number][] = [];
  answers: string[][] = [];
  acceptWrites = true;
  paused = false;
  closed = false;
  constructor(readonly mode: "direct" | "proxy") {}
  open(request: ShellRequest, events: ShellEvents): void {
    this.request = request;
    this.events = events;
  }
  write(data: string): boolean {
    this.written.push(data);
    return this.acceptWrites;
  }
  resize(cols: number, rows: number): void {
    this.resized.push([cols, rows]);
  }
  answerPrompt(responses: string[]): void {
    this.answers.push(responses);
  }
  pauseOutput(): void {
    this.paused = true;
  }
  resumeOutput(): void {
    this.paused = false;
  }
  close(): void {
    this.closed = true;
  }
}

const principal: Principal = {
  userId: "u1",
  username: "alice",
  role: "user",
  permissions: ["can_use_ssh_terminal"],
  sessionId: "s1",
  expiresAt: Date.now() + 3_600_000,
};

const host: HostRecord = {
  id: "h1",
  name: "web-01",
  apiId: "patchmon_x",
  ssh: { address: "10.0.0.5", port: 2222, username: "ops" },
  hostKey: null,
  recordSessions: null,
  createdAt: 0,
  updatedAt: 0,
};

const limits: SessionLimits = { connectTimeoutMs: 60_000, idleTimeoutMs: 15 * 60_000, idleWarningMs: 60_000, maxSessionMs: 8 * 3_600_000, maxSessionWarningMs: 5 * 60_000 };

function setup(options: { host?: HostRecord; limits?: Partial<SessionLimits>; acquire?: () => Promise<LedgerHold>; recheck?: () => Promise<Principal> } = {}) {
  const client = new FakeClient();
  const shells: FakeShell[] = [];
  const audit: AuditEntry[] = [];
  const released: LedgerHold[] = [];
  const ended: TerminalSession[] = [];
  const deps: TerminalSessionDeps = {
    openShell: (mode) => {
      const shell = new FakeShell(mode);
      shells.push(shell);
      return shell;
    },
    ledger: {
      acquire: options.acquire ?? (async (s) => ({ sessionId: s.sessionId, keys: ["user.u1.0", "host.h1.0"] })),
      release: async (hold) => {
        released.push(hold);
      },
    },
    audit: { recordSoon: (entry) => audit.push(entry) },
    startRecorder: () => undefined,
    recheckPrincipal: options.recheck ?? (async () => principal),
    limits: { ...limits, ...options.limits },
    onEnded: (s) => ended.push(s),
  };
  const session = new TerminalSession("sess-1", principal, options.host ?? host, "203.0.113.7", client, deps);
  const send = (message: unknown) => session.message(TerminalClientMessage.parse(message));
  /** Connects and lets the (fake) shell open. */
  const connect = async (message: Record<string, unknown> = {}) => {
    send({ type: "connect", password: "pw", ...message });
    await vi.waitFor(() => expect(shells).toHaveLength(1));
    shells[0]!.events!.connected({ algorithm: "ssh-ed25519", fingerprint: "SHA256:abc", status: "verified" });
    return shells[0]!;
  };
  return { client, shells, audit, released, ended, session, send, connect };
}

describe("a terminal session", () => {
  it("opens the registered target (never one from the client) and sends connected with its extras", async () => {
    const t = setup();
    const shell = await t.connect({ username: "deploy", cols: 120, rows: 40, port: 2, proxy_host: "169.254.169.254", proxy_port: 80 });
    expect(shell.mode).toBe("direct");
    expect(shell.request).toMatchObject({ address: "10.0.0.5", port: 2222, username: "deploy", cols: 120, rows: 40, term: "xterm-256color", credentials: { password: "pw" } });
    expect(t.client.of("connected")[0]).toMatchObject({
      session_id: "sess-1",
      connection_mode: "direct",
      protocol_version: 1,
      host_key: { fingerprint: "SHA256:abc", status: "verified" },
      idle_timeout_seconds: 900,
    });
    expect(t.audit.map((a) => a.kind)).toEqual(["session_started"]);
    expect(t.audit[0]).toMatchObject({ sessionId: "sess-1", userId: "u1", hostId: "h1", mode: "direct", sshUser: "deploy", sourceAddress: "203.0.113.7" });
  });

  it("defaults the login name to the host's registered user, and proxies to localhost on the registered port", async () => {
    const direct = setup();
    expect((await direct.connect()).request?.username).toBe("ops");
    const proxy = setup({ host: { ...host, ssh: null } });
    const shell = await proxy.connect({ connection_mode: "proxy" });
    expect(shell.mode).toBe("proxy");
    expect(shell.request).toMatchObject({ address: "localhost", port: 22, username: "root" });
  });

  it("relays output, input and resizes, and counts characters both ways", async () => {
    const t = setup();
    const shell = await t.connect();
    shell.events!.data("hello\r\n");
    t.send({ type: "input", data: "ls\r" });
    t.send({ type: "resize", cols: 90, rows: 20 });
    await new Promise((r) => setImmediate(r));
    expect(t.client.of("data").map((m) => m.data)).toEqual(["hello\r\n"]);
    expect(shell.written).toEqual(["ls\r"]);
    expect(shell.resized).toEqual([[90, 20]]);
    expect([t.session.bytesIn, t.session.bytesOut]).toEqual([3, 7]);
  });

  it("coalesces output of one event-loop turn into one message, flushes big bursts at once, and sends what is pending before the end", async () => {
    const t = setup();
    const shell = await t.connect();
    for (const chunk of ["a", "b", "c"]) shell.events!.data(chunk);
    expect(t.client.of("data")).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(t.client.of("data").map((m) => m.data)).toEqual(["abc"]);
    shell.events!.data("x".repeat(70_000));
    expect(t.client.of("data").at(-1)?.data).toHaveLength(70_000);
    shell.events!.data("last words\r\n");
    shell.events!.ended();
    expect(t.client.sent.slice(-2)).toEqual([{ type: "data", data: "last words\r\n" }, { type: "closed", code: 1000, reason: "exited" }]);
  });

  it("ignores input before the shell is open", async () => {
    const t = setup();
    t.send({ type: "input", data: "early" });
    t.send({ type: "connect", password: "pw" });
    await vi.waitFor(() => expect(t.shells).toHaveLength(1));
    t.send({ type: "input", data: "still early" });
    expect(t.shells[0]!.written).toEqual([]);
  });

  it("refuses a second connect without ending the session", async () => {
    const t = setup();
    await t.connect();
    t.send({ type: "connect", password: "pw" });
    expect(t.client.of("error").at(-1)).toMatchObject({ code: "ALREADY_CONNECTED" });
    expect(t.client.closed).toBeUndefined();
    expect(t.shells).toHaveLength(1);
  });

  it("ends with error then closed and the catalogue's close code when the shell fails", async () => {
    const t = setup();
    t.send({ type: "connect", password: "wrong" });
    await vi.waitFor(() => expect(t.shells).toHaveLength(1));
    t.shells[0]!.events!.failed({ code: "HOST_KEY_MISMATCH", message: "changed", extra: { expected_fingerprint: "SHA256:old", presented_fingerprint: "SHA256:new" } });
    expect(t.client.sent.slice(-2)).toEqual([
      { type: "error", code: "HOST_KEY_MISMATCH", message: "changed", expected_fingerprint: "SHA256:old", presented_fingerprint: "SHA256:new" },
      { type: "closed", code: CloseCode.TARGET_REFUSED, reason: "HOST_KEY_MISMATCH" },
    ]);
    expect(t.client.closed?.code).toBe(CloseCode.TARGET_REFUSED);
    expect(t.released).toHaveLength(1);
    expect(t.audit.at(-1)).toMatchObject({ kind: "session_ended", reason: "HOST_KEY_MISMATCH", closeCode: CloseCode.TARGET_REFUSED });
    expect(t.ended).toEqual([t.session]);
  });

  it("needs an SSH target for direct mode", () => {
    const t = setup({ host: { ...host, ssh: null } });
    t.send({ type: "connect", password: "pw" });
    expect(t.client.of("error")[0]).toMatchObject({ code: "NO_SSH_TARGET" });
    expect(t.client.closed?.code).toBe(CloseCode.TARGET_UNAVAILABLE);
    expect(t.shells).toHaveLength(0);
  });

  it("refuses a session beyond the caps with SESSION_LIMIT and 4004, opening no shell", async () => {
    const t = setup({ acquire: async () => Promise.reject(new SessionLimitReached("user", 5)) });
    t.send({ type: "connect", password: "pw" });
    await vi.waitFor(() => expect(t.client.closed).toBeDefined());
    expect(t.client.of("error")[0]).toMatchObject({ code: "SESSION_LIMIT", message: expect.stringContaining("5 open terminal sessions") });
    expect(t.client.closed?.code).toBe(CloseCode.SESSION_LIMIT);
    expect(t.shells).toHaveLength(0);
  });

  it.each(SESSION_LIMIT_SCOPES)("closes with SESSION_LIMIT when the %s cap is reached, which the code's sentences name", async (scope) => {
    const t = setup({ acquire: async () => Promise.reject(new SessionLimitReached(scope, 3)) });
    t.send({ type: "connect", password: "pw" });
    await vi.waitFor(() => expect(t.client.closed?.code).toBe(CloseCode.SESSION_LIMIT));
    expect(CLOSE_CODE_DESCRIPTIONS.SESSION_LIMIT).toContain(scope);
    expect(TerminalErrorCatalogue.SESSION_LIMIT.message).toContain(scope);
  });

  it("answers 1013 when the ledger is unreachable", async () => {
    const t = setup({ acquire: async () => Promise.reject(new Error("no responders")) });
    t.send({ type: "connect", password: "pw" });
    await vi.waitFor(() => expect(t.client.closed?.code).toBe(CloseCode.TRY_AGAIN_LATER));
  });

  it("ends normally when the user disconnects or the shell exits", async () => {
    const a = setup();
    const shell = await a.connect();
    a.send({ type: "disconnect" });
    expect(a.client.sent.at(-1)).toEqual({ type: "closed", code: 1000, reason: "disconnected" });
    expect(a.client.of("error")).toHaveLength(0);
    expect(shell.closed).toBe(true);
    const b = setup();
    (await b.connect()).events!.ended();
    expect(b.client.closed).toMatchObject({ code: 1000 });
    expect(b.client.sent.at(-1)).toMatchObject({ type: "closed", reason: "exited" });
  });

  it("audits a socket that went away with the code it closed with, and a heartbeat timeout as such", async () => {
    const left = setup();
    const leftShell = await left.connect();
    left.session.socketClosed({ code: 1001, heartbeatTimeout: false });
    expect(left.client.sent.filter((m) => m.type === "closed")).toEqual([]);
    expect(leftShell.closed).toBe(true);
    expect(left.audit.at(-1)).toMatchObject({ kind: "session_ended", reason: "disconnected", closeCode: 1001 });

    const silent = setup();
    await silent.connect();
    silent.session.socketClosed({ code: 1006, heartbeatTimeout: true });
    expect(silent.session.outcome).toBe("heartbeat_timeout");
    expect(silent.audit.at(-1)).toMatchObject({ kind: "session_ended", reason: "heartbeat_timeout", closeCode: 1006 });
    expect(silent.released).toHaveLength(1);
  });

  it("is idempotent about ending: the first reason wins", async () => {
    const t = setup();
    await t.connect();
    t.session.end("IDLE_TIMEOUT");
    t.session.end("SHUTTING_DOWN");
    expect(t.client.of("closed")).toHaveLength(1);
    expect(t.session.outcome).toBe("IDLE_TIMEOUT");
    expect(t.audit.filter((a) => a.kind === "session_ended")).toHaveLength(1);
  });

  it("pauses the shell's output while the browser is slow or the recorder behind, and resumes when both caught up", async () => {
    const t = setup();
    const shell = await t.connect();
    t.session.outputPressure(true);
    expect(shell.paused).toBe(true);
    t.session.outputPressure(false);
    expect(shell.paused).toBe(false);
  });

  it("pauses reading the browser while the shell cannot take input", async () => {
    const t = setup();
    const shell = await t.connect();
    shell.acceptWrites = false;
    t.send({ type: "input", data: "x".repeat(1000) });
    expect(t.client.inputPaused).toBe(true);
    shell.events!.drain();
    expect(t.client.inputPaused).toBe(false);
  });

  it("relays keyboard-interactive prompts and answers while connecting", async () => {
    const t = setup();
    t.send({ type: "connect" });
    await vi.waitFor(() => expect(t.shells).toHaveLength(1));
    t.shells[0]!.events!.prompt({ name: "", instructions: "", prompts: [{ prompt: "Verification code: ", echo: true }] });
    expect(t.client.of("auth_prompt")[0]).toMatchObject({ prompts: [{ prompt: "Verification code: ", echo: true }] });
    t.send({ type: "auth_response", responses: ["123456"] });
    expect(t.shells[0]!.answers).toEqual([["123456"]]);
  });

  it("closes a socket that never sends connect", () => {
    vi.useFakeTimers();
    try {
      const t = setup({ limits: { connectTimeoutMs: 5000 } });
      vi.advanceTimersByTime(5001);
      expect(t.client.of("error")[0]).toMatchObject({ code: "IDLE_TIMEOUT" });
      expect(t.client.closed?.code).toBe(CloseCode.IDLE_TIMEOUT);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("timeouts", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("warns before the idle timeout, and typing starts the countdown over", async () => {
    const t = setup({ limits: { idleTimeoutMs: 10_000, idleWarningMs: 2000 } });
    const shell = await t.connect();
    vi.advanceTimersByTime(7000);
    t.send({ type: "input", data: "a" });
    vi.advanceTimersByTime(7000);
    expect(t.client.of("warning")).toHaveLength(0);
    vi.advanceTimersByTime(1500);
    expect(t.client.of("warning")[0]).toMatchObject({ kind: "idle_timeout", seconds: 2 });
    // Typing after the warning cancels the close.
    t.send({ type: "input", data: "b" });
    vi.advanceTimersByTime(5000);
    expect(t.client.closed).toBeUndefined();
    // Output alone is not activity.
    shell.events!.data("top refreshes the screen\r\n");
    vi.advanceTimersByTime(5001);
    expect(t.client.of("warning")).toHaveLength(2);
    expect(t.client.closed?.code).toBe(CloseCode.IDLE_TIMEOUT);
    expect(t.client.of("error").at(-1)).toMatchObject({ code: "IDLE_TIMEOUT" });
  });

  it("never idles out with IDLE_TIMEOUT_MS=0", async () => {
    const t = setup({ limits: { idleTimeoutMs: 0, maxSessionMs: 0 } });
    await t.connect();
    vi.advanceTimersByTime(48 * 3_600_000);
    expect(t.client.closed).toBeUndefined();
  });

  it("warns before the maximum duration and ends with SESSION_EXPIRED (4007), activity or not", async () => {
    const t = setup({ limits: { maxSessionMs: 60_000, maxSessionWarningMs: 10_000, idleTimeoutMs: 0 } });
    await t.connect();
    expect(t.client.of("connected")[0]?.expires_at).toBe(Date.now() + 60_000);
    vi.advanceTimersByTime(50_001);
    expect(t.client.of("warning")[0]).toMatchObject({ kind: "max_duration", seconds: 10 });
    t.send({ type: "input", data: "still here" });
    vi.advanceTimersByTime(10_000);
    expect(t.client.closed?.code).toBe(CloseCode.SESSION_EXPIRED);
  });
});

describe("revocation", () => {
  const event = (kind: RevocationEvent["kind"], reason: RevocationEvent["reason"]): RevocationEvent => ({ kind, id: "x", reason, at: Date.now() });

  it.each([
    ["user", "logout"],
    ["session", "session_revoked"],
    ["user", "user_disabled"],
    ["user", "user_deleted"],
  ] as const)("a %s %s closes the terminal with 4001", async (kind, reason) => {
    const t = setup();
    await t.connect();
    t.session.revoked(CloseCode.CREDENTIALS_REVOKED, `credentials revoked (${reason})`, event(kind, reason));
    expect(t.client.of("error")[0]).toMatchObject({ code: "CREDENTIALS_REVOKED" });
    expect(t.client.closed?.code).toBe(CloseCode.CREDENTIALS_REVOKED);
  });

  it("a deleted host closes with 4005; a rotated agent key leaves SSH sessions alone", async () => {
    const t = setup();
    await t.connect();
    t.session.revoked(CloseCode.CREDENTIALS_REVOKED, "API key rotated or revoked", event("host", "key_rotated"));
    expect(t.client.closed).toBeUndefined();
    t.session.revoked(CloseCode.HOST_DELETED, "host deleted", event("host", "host_deleted"));
    expect(t.client.closed?.code).toBe(CloseCode.HOST_DELETED);
  });

  it("a changed user keeps the terminal while it may still use it, and closes it when the permission is gone", async () => {
    let current: Principal = principal;
    const t = setup({ recheck: async () => current });
    await t.connect();
    t.session.userChanged();
    await Promise.resolve();
    expect(t.client.closed).toBeUndefined();
    current = { ...principal, permissions: [] };
    t.session.userChanged();
    await vi.waitFor(() => expect(t.client.closed?.code).toBe(CloseCode.CREDENTIALS_REVOKED));
    expect(t.client.of("error")[0]?.message).toMatch(/can_use_ssh_terminal/);
  });

  it("closes when the re-check fails (session gone)", async () => {
    const t = setup({ recheck: async () => Promise.reject(new Error("SESSION_REVOKED")) });
    await t.connect();
    t.session.userChanged();
    await vi.waitFor(() => expect(t.client.closed?.code).toBe(CloseCode.CREDENTIALS_REVOKED));
  });
});
