/**
 * The SSH terminal end to end in direct mode: browsers through the local TLS edge (X-Forwarded-* as Traefik sets them) to
 * terminal-ws, which SSHes with ssh2 to a real OpenSSH sshd from the testkit; real auth, NATS JetStream (audit,
 * recordings, session ledger). Covers the protocol, host-key pinning, every refusal before the upgrade, the caps,
 * each kind of revocation, audit and recordings.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CloseCode, parseAsciicast, type SessionListResponse, type TerminalAuditEvent, type AuditListResponse } from "@patchmon-ws/protocol";
import { replayRecording, renderScreen } from "@patchmon-ws/testkit";
import { freePort } from "@patchmon-ws/stack";
import { eventually, TerminalStack } from "./support/terminal-stack.js";

let t: TerminalStack;

beforeAll(async () => {
  t = await TerminalStack.start({ terminalEnv: { MAX_SESSIONS_PER_USER: "2", MAX_SESSIONS_PER_HOST: "3" } });
});

afterAll(async () => {
  await t?.stop();
});

describe("a terminal through the edge (direct mode)", () => {
  it("connects, runs a command and reads its output, follows resizes, and disconnects", async () => {
    const { host } = await t.createHost("basic");
    const terminal = await t.open(host.id);
    // PatchMon's client sends a port (and proxy settings); the target still comes from the host registry only.
    terminal.connect({ username: t.sshd.user.username, password: t.sshd.user.password, cols: 100, rows: 30, port: 1, proxy_host: "127.0.0.2", proxy_port: 9 });
    const connected = await terminal.connected();
    expect(connected).toMatchObject({ connection_mode: "direct", protocol_version: 1, host_key: { algorithm: "ssh-ed25519", fingerprint: t.sshd.hostKeyFingerprint, status: "pinned" } });
    terminal.type("echo hello-$((6 * 7)); echo oops >&2\n");
    await terminal.waitForOutput("hello-42");
    await terminal.waitForOutput("oops");
    // stderr is terminal output, never an error message
    expect(terminal.errors).toEqual([]);
    const mark = terminal.output.length;
    terminal.resize(123, 45);
    terminal.type("stty size\n");
    await terminal.waitForOutput(/45 123/, { from: mark });
    expect(await terminal.disconnect()).toMatchObject({ code: CloseCode.NORMAL });
    expect(terminal.messages.at(-1)).toEqual({ type: "closed", code: 1000, reason: "disconnected" });
  });

  it("signs in with a private key, and with keyboard-interactive (PAM) given only a password", async () => {
    const { host } = await t.createHost("auth-methods");
    const keyed = await t.shell(host.id, undefined, { password: undefined, privateKey: t.sshd.user.privateKey });
    keyed.type("whoami\n");
    await keyed.waitForOutput(t.sshd.user.username);
    await keyed.disconnect();
    // The sshd offers keyboard-interactive through PAM as well; a password answers its prompt.
    const pam = await t.shell(host.id);
    pam.type("echo pam-ok\n");
    await pam.waitForOutput("pam-ok");
    await pam.disconnect();
  });

  it("the remote shell exiting ends the session normally", async () => {
    const { host } = await t.createHost("exit");
    const terminal = await t.shell(host.id);
    terminal.type("exit\n");
    expect((await terminal.closed).code).toBe(CloseCode.NORMAL);
    expect(terminal.messages.at(-1)).toMatchObject({ type: "closed", reason: "exited" });
  });

  it("a wrong password is an error, then closed, then 4008", async () => {
    const { host } = await t.createHost("wrong-password");
    const terminal = await t.open(host.id);
    terminal.connect({ username: t.sshd.user.username, password: "not-the-password" });
    const close = await terminal.closed;
    expect(terminal.errors).toEqual([expect.objectContaining({ code: "SSH_AUTH_FAILED" })]);
    expect(terminal.messages.at(-1)).toMatchObject({ type: "closed", code: CloseCode.TARGET_REFUSED });
    expect(close.code).toBe(CloseCode.TARGET_REFUSED);
  });

  it("an unreachable host is HOST_UNREACHABLE and 4006", async () => {
    const { host } = await t.createHost("unreachable", { port: await freePort() });
    const terminal = await t.open(host.id);
    terminal.connect({ username: "nobody", password: "x" });
    expect((await terminal.closed).code).toBe(CloseCode.TARGET_UNAVAILABLE);
    expect(terminal.errors[0]).toMatchObject({ code: "HOST_UNREACHABLE" });
  });

  it("a host without an SSH address cannot be reached directly (NO_SSH_TARGET)", async () => {
    const { host } = await t.createHost("no-target", null);
    const terminal = await t.open(host.id);
    terminal.connect({ username: "root", password: "x" });
    expect((await terminal.closed).code).toBe(CloseCode.TARGET_UNAVAILABLE);
    expect(terminal.errors[0]).toMatchObject({ code: "NO_SSH_TARGET" });
  });

  it("pins the host key on first use, refuses a changed key naming both fingerprints, and accepts again after an admin clears the pin", async () => {
    const { host } = await t.createHost("pinning");
    const first = await t.shell(host.id);
    await first.disconnect();
    const pinnedKey = t.sshd.hostKeyFingerprint;
    expect((await t.getHost(host.id)).hostKey).toMatchObject({ algorithm: "ssh-ed25519", fingerprint: pinnedKey });
    const again = await t.shell(host.id);
    expect(again.messages[0]).toMatchObject({ type: "connected", host_key: { status: "verified" } });
    await again.disconnect();

    await t.sshd.restartWithNewHostKey();
    const newKey = t.sshd.hostKeyFingerprint;
    expect(newKey).not.toBe(pinnedKey);
    const refused = await t.open(host.id);
    refused.connect({ username: t.sshd.user.username, password: t.sshd.user.password });
    expect((await refused.closed).code).toBe(CloseCode.TARGET_REFUSED);
    expect(refused.errors[0]).toMatchObject({ code: "HOST_KEY_MISMATCH", expected_fingerprint: pinnedKey, presented_fingerprint: newKey });
    expect(refused.errors[0]!.message).toContain(newKey);

    const admin = await t.adminToken();
    await t.stack.auth.client.request("PATCH", `/api/v1/hosts/${host.id}`, { token: admin, body: { hostKey: null } });
    const accepted = await t.shell(host.id);
    expect(accepted.messages[0]).toMatchObject({ type: "connected", host_key: { fingerprint: newKey, status: "pinned" } });
    await accepted.disconnect();
  });
});

describe("refusals before the upgrade", () => {
  it("a foreign Origin is 403 ORIGIN_FORBIDDEN (a missing one too)", async () => {
    const { host } = await t.createHost("origin");
    const ticket = await t.ticket(await t.adminToken(), host.id);
    const foreign = await t.refusal(t.terminalUrl(host.id, ticket), t.socketOptions({ headers: { origin: "https://evil.example" } }));
    expect(foreign.status).toBe(403);
    expect(foreign.json).toMatchObject({ code: "ORIGIN_FORBIDDEN", error: expect.any(String) });
    const none = await t.refusal(t.terminalUrl(host.id, ticket), { ca: t.ca });
    expect(none.status).toBe(403);
    // The ticket was not spent by the refused attempts.
    const terminal = await (await import("@patchmon-ws/testkit")).TerminalTestClient.open(t.terminalUrl(host.id, ticket), t.socketOptions());
    terminal.terminate();
  });

  it("a missing, unknown or reused ticket is 401; a ticket for another host is 403", async () => {
    const { host } = await t.createHost("tickets");
    const { host: other } = await t.createHost("tickets-other");
    const missing = await t.refusal(t.terminalUrl(host.id, undefined));
    expect([missing.status, missing.json.code]).toEqual([401, "CREDENTIALS_MISSING"]);
    const unknown = await t.refusal(t.terminalUrl(host.id, "x".repeat(43)));
    expect([unknown.status, unknown.json.code]).toEqual([401, "TICKET_INVALID"]);
    const malformed = await t.refusal(t.terminalUrl(host.id, "not a ticket!"));
    expect([malformed.status, malformed.json.code]).toEqual([401, "TICKET_INVALID"]);

    const ticket = await t.ticket(await t.adminToken(), host.id);
    const first = await t.open(host.id);
    first.terminate();
    const used = await (await import("@patchmon-ws/testkit")).TerminalTestClient.open(t.terminalUrl(host.id, ticket), t.socketOptions());
    used.terminate();
    const reused = await t.refusal(t.terminalUrl(host.id, ticket));
    expect([reused.status, reused.json.code]).toEqual([401, "TICKET_INVALID"]);

    const forOther = await t.ticket(await t.adminToken(), other.id);
    const mismatch = await t.refusal(t.terminalUrl(host.id, forOther));
    expect([mismatch.status, mismatch.json.code]).toEqual([403, "TICKET_MISMATCH"]);
  });

  it("a user without can_use_ssh_terminal gets no ticket, and loses the terminal between ticket and upgrade (403)", async () => {
    const { host } = await t.createHost("permission");
    const plain = await t.user([]);
    await expect(t.ticket(plain.token, host.id)).rejects.toMatchObject({ status: 403 });
    const operator = await t.user(["can_use_ssh_terminal"]);
    const ticket = await t.ticket(operator.token, host.id);
    await t.stack.auth.client.updateUser(await t.adminToken(), operator.userId, { permissions: [] });
    const refused = await t.refusal(t.terminalUrl(host.id, ticket));
    expect([refused.status, refused.json.code]).toEqual([403, "FORBIDDEN"]);
  });

  it("an unknown host, path or API version is 404", async () => {
    const { host } = await t.createHost("deleted-before-use");
    const ticket = await t.ticket(await t.adminToken(), host.id);
    await t.stack.auth.client.deleteHost(await t.adminToken(), host.id);
    const gone = await t.refusal(t.terminalUrl(host.id, ticket));
    expect([gone.status, gone.json.code]).toEqual([404, "HOST_NOT_FOUND"]);
    const dotted = await t.refusal(t.terminalUrl("a.b", "x".repeat(43)));
    expect([dotted.status, dotted.json.code]).toEqual([404, "HOST_NOT_FOUND"]);
    const version = await t.refusal(t.terminalUrl(host.id, "x".repeat(43), "v9"));
    expect([version.status, version.json.code]).toEqual([404, "UNSUPPORTED_API_VERSION"]);
  });

  it("audits every attempt with user, host, source address and reason, and never the ticket", async () => {
    const { host } = await t.createHost("audited");
    const ticket = await t.ticket(await t.adminToken(), host.id);
    await t.refusal(t.terminalUrl(host.id, ticket), t.socketOptions({ headers: { origin: "https://evil.example" } }));
    const granted = await (await import("@patchmon-ws/testkit")).TerminalTestClient.open(t.terminalUrl(host.id, ticket), t.socketOptions());
    granted.terminate();
    await t.refusal(t.terminalUrl(host.id, ticket));
    const events = await eventually(async () => {
      const res = await t.api<AuditListResponse>(`/api/v1/terminal/audit?hostId=${host.id}`);
      return res.body.events.length >= 3 && res.body.events;
    }, 10_000, "three audit events");
    const kinds = events.map((e: TerminalAuditEvent) => `${e.kind}:${e.reason}`);
    expect(kinds).toEqual(expect.arrayContaining(["access_denied:ORIGIN_FORBIDDEN", "access_granted:ticket", "access_denied:TICKET_INVALID"]));
    for (const event of events) {
      expect(event.sourceAddress).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
      expect(event.hostId).toBe(host.id);
      expect(JSON.stringify(event)).not.toContain(ticket);
    }
    expect(events.find((e: TerminalAuditEvent) => e.kind === "access_granted")).toMatchObject({ username: t.stack.admin.username, hostName: host.name });
  });
});

describe("limits", () => {
  it("caps concurrent sessions per user (SESSION_LIMIT, 4004) and frees the slot when one ends", async () => {
    const { host } = await t.createHost("caps");
    const user = await t.user();
    const a = await t.shell(host.id, user.token);
    const b = await t.shell(host.id, user.token);
    const c = await t.open(host.id, user.token);
    c.connect({ username: t.sshd.user.username, password: t.sshd.user.password });
    expect((await c.closed).code).toBe(CloseCode.SESSION_LIMIT);
    expect(c.errors[0]).toMatchObject({ code: "SESSION_LIMIT", message: expect.stringContaining("2 open terminal sessions") });
    await a.disconnect();
    const d = await eventually(async () => t.shell(host.id, user.token), 10_000, "a free slot");
    await Promise.all([b.disconnect(), d.disconnect()]);
  });

  it("caps concurrent sessions per host, whoever opens them", async () => {
    const { host } = await t.createHost("host-caps");
    const users = await Promise.all([t.user(), t.user()]);
    const open = [await t.shell(host.id, users[0]!.token), await t.shell(host.id, users[0]!.token), await t.shell(host.id, users[1]!.token)];
    const fourth = await t.open(host.id, users[1]!.token);
    fourth.connect({ username: t.sshd.user.username, password: t.sshd.user.password });
    expect((await fourth.closed).code).toBe(CloseCode.SESSION_LIMIT);
    expect(fourth.errors[0]?.message).toMatch(/This host already has 3/);
    await Promise.all(open.map((o) => o.disconnect()));
  });
});

describe("idle timeout", () => {
  it("warns a minute (here: 1.5 s) before, then closes an idle terminal with 4002; typing resets it", async () => {
    const { host } = await t.createHost("idle");
    const edge = t.stack.edge!;
    const regular = t.stack.services["terminal-ws"]!.map((r) => r.url);
    const short = await t.stack.startReplica("terminal-ws", { IDLE_TIMEOUT_MS: "3000", IDLE_WARNING_MS: "1500" });
    // Only the short-timeout replica behind the edge for this test.
    edge.setUpstreams("terminal-ws", [short.url]);
    try {
      const terminal = await t.shell(host.id);
      expect(terminal.messages[0]).toMatchObject({ type: "connected", idle_timeout_seconds: 3 });
      const warning = await terminal.waitFor((m) => m.type === "warning", 5000, "the idle warning");
      expect(warning).toMatchObject({ kind: "idle_timeout", seconds: expect.any(Number) });
      expect((warning as { seconds: number }).seconds).toBeLessThanOrEqual(2);
      terminal.type("echo awake\n");
      await terminal.waitForOutput("awake");
      // Typing after the warning started the countdown over: a second warning comes before the close.
      const close = await terminal.ws.waitForClose(10_000);
      expect(close.code).toBe(CloseCode.IDLE_TIMEOUT);
      const order = terminal.messages.map((m) => m.type).filter((type) => type === "warning" || type === "closed");
      expect(order).toEqual(["warning", "warning", "closed"]);
      expect(terminal.errors.at(-1)).toMatchObject({ code: "IDLE_TIMEOUT" });
    } finally {
      edge.setUpstreams("terminal-ws", regular);
      await short.stop();
    }
  });
});

describe("revocation closes open terminals within a second", () => {
  const within = async (terminal: Awaited<ReturnType<TerminalStack["shell"]>>, act: () => Promise<unknown>) => {
    const started = Date.now();
    await act();
    const close = await terminal.ws.waitForClose(5000);
    return { close, ms: Date.now() - started };
  };

  it("logout (4001)", async () => {
    const { host } = await t.createHost("logout");
    const user = await t.user();
    const terminal = await t.shell(host.id, user.token);
    const { close, ms } = await within(terminal, () => t.stack.auth.client.request("POST", "/api/v1/auth/logout", { token: user.token }));
    expect(close.code).toBe(CloseCode.CREDENTIALS_REVOKED);
    expect(ms).toBeLessThan(1000);
    expect(terminal.errors[0]).toMatchObject({ code: "CREDENTIALS_REVOKED", message: expect.stringContaining("logout") });
  });

  it("the user disabled (4001)", async () => {
    const { host } = await t.createHost("disabled");
    const user = await t.user();
    const terminal = await t.shell(host.id, user.token);
    const { close, ms } = await within(terminal, async () => t.stack.auth.client.updateUser(await t.adminToken(), user.userId, { disabled: true }));
    expect([close.code, ms < 1000]).toEqual([CloseCode.CREDENTIALS_REVOKED, true]);
  });

  it("the user deleted (4001)", async () => {
    const { host } = await t.createHost("user-deleted");
    const user = await t.user();
    const terminal = await t.shell(host.id, user.token);
    const { close, ms } = await within(terminal, async () => t.stack.auth.client.request("DELETE", `/api/v1/users/${user.userId}`, { token: await t.adminToken() }));
    expect([close.code, ms < 1000]).toEqual([CloseCode.CREDENTIALS_REVOKED, true]);
  });

  it("the permission withdrawn (4001), while an unrelated change keeps the terminal open", async () => {
    const { host } = await t.createHost("permission-withdrawn");
    const user = await t.user(["can_use_ssh_terminal"]);
    const terminal = await t.shell(host.id, user.token);
    const admin = await t.adminToken();
    await t.stack.auth.client.updateUser(admin, user.userId, { permissions: ["can_use_ssh_terminal", "can_view_queues"] });
    terminal.type("echo still-open\n");
    await terminal.waitForOutput("still-open");
    const { close, ms } = await within(terminal, () => t.stack.auth.client.updateUser(admin, user.userId, { permissions: ["can_view_queues"] }));
    expect([close.code, ms < 1000]).toEqual([CloseCode.CREDENTIALS_REVOKED, true]);
    expect(terminal.errors[0]?.message).toMatch(/can_use_ssh_terminal/);
  });

  it("the host deleted (4005)", async () => {
    const { host } = await t.createHost("host-deleted");
    const terminal = await t.shell(host.id);
    const { close, ms } = await within(terminal, async () => t.stack.auth.client.deleteHost(await t.adminToken(), host.id));
    expect([close.code, ms < 1000]).toEqual([CloseCode.HOST_DELETED, true]);
    expect(terminal.errors[0]).toMatchObject({ code: "HOST_DELETED" });
  });
});

describe("audit and recordings", () => {
  it("lists the session with its facts and serves a recording that replays it, with echoed input and without any secret", async () => {
    const { host } = await t.createHost("recorded");
    const terminal = await t.shell(host.id, undefined, { cols: 80, rows: 24 });
    const sessionId = (terminal.messages[0] as { session_id: string }).session_id;
    terminal.type("echo recorded-$((40 + 2))\n");
    await terminal.waitForOutput("recorded-42");
    // A secret typed blind at a prompt: the PTY does not echo it, so the recording must not hold it.
    // The prompt is printed by printf's %s, so the command's own echo never shows it: seeing it means echo is off.
    terminal.type("stty -echo; printf '%s: ' SECRET-PROMPT; read s; stty echo; echo; echo got-${#s}\n");
    await terminal.waitForOutput("SECRET-PROMPT: ");
    terminal.type("hunter2-top-secret\n");
    await terminal.waitForOutput("got-18");
    terminal.resize(100, 30);
    terminal.type("stty size\n");
    await terminal.waitForOutput("30 100");
    await terminal.disconnect();

    const session = await eventually(async () => {
      const res = await t.api<SessionListResponse>(`/api/v1/terminal/sessions?hostId=${host.id}`);
      return res.body.sessions.find((s) => s.sessionId === sessionId && s.endedAt !== null);
    }, 10_000, "the ended session in the list");
    expect(session).toMatchObject({ username: t.stack.admin.username, hostName: host.name, mode: "direct", sshUser: t.sshd.user.username, reason: "disconnected", closeCode: 1000, recorded: true });
    expect(session.bytesIn).toBeGreaterThan(40);
    expect(session.bytesOut).toBeGreaterThan(40);
    expect(session.durationMs).toBeGreaterThan(0);

    const recording = await t.api(`/api/v1/terminal/sessions/${sessionId}/recording`);
    expect(recording.status).toBe(200);
    expect(recording.headers.get("content-type")).toMatch(/application\/x-asciicast/);
    const cast = parseAsciicast(recording.text);
    expect(cast.header).toMatchObject({ version: 2, width: 80, height: 24, env: { TERM: "xterm-256color" } });
    const inputs = cast.events.filter((e) => e[1] === "i").map((e) => e[2]).join("");
    expect(inputs).toContain("echo recorded-$((40 + 2))");
    expect(recording.text).not.toContain("hunter2-top-secret");
    expect(recording.text).not.toContain(t.sshd.user.password);
    expect(cast.events.some((e) => e[1] === "r" && e[2] === "100x30")).toBe(true);
    // Replayed as a player would, the screen shows what the browser saw.
    const replay = await replayRecording(recording.text);
    expect(replay.screen.join("\n")).toContain("recorded-42");
    expect(replay.screen.join("\n")).toContain("30 100");
    const live = await renderScreen(terminal.output, 100, 30);
    expect(live.join("\n")).toContain("got-18");
  });

  it("only admins may list sessions and read recordings; unknown ones are 404", async () => {
    const user = await t.user(["can_use_ssh_terminal", "can_manage_hosts"]);
    const forbidden = await t.api("/api/v1/terminal/sessions", user.token);
    expect([forbidden.status, (forbidden.body as { code: string }).code]).toEqual([403, "FORBIDDEN"]);
    expect((await t.api("/api/v1/terminal/sessions", "not-a-token")).status).toBe(401);
    expect((await t.api("/api/v1/terminal/sessions/no-such-session/recording")).body).toMatchObject({ code: "RECORDING_NOT_FOUND" });
    expect((await t.api("/api/v1/terminal/sessions/no-such-session")).body).toMatchObject({ code: "SESSION_NOT_FOUND" });
    expect((await t.api("/api/v1/terminal/sessions?limit=0")).status).toBe(400);
  });

  it("does not record hosts switched off, and pages through sessions newest first", async () => {
    const { host } = await t.createHost("unrecorded");
    await t.stack.auth.client.request("PATCH", `/api/v1/hosts/${host.id}`, { token: await t.adminToken(), body: { recordSessions: false } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const terminal = await t.shell(host.id);
      ids.push((terminal.messages[0] as { session_id: string }).session_id);
      await terminal.disconnect();
    }
    const first = await eventually(async () => {
      const res = await t.api<SessionListResponse>(`/api/v1/terminal/sessions?hostId=${host.id}&limit=2`);
      return res.body.sessions.length === 2 && res.body.sessions.every((s) => s.endedAt) && res.body;
    }, 10_000, "two ended sessions");
    expect(first.sessions.map((s) => s.sessionId)).toEqual([ids[2], ids[1]]);
    expect(first.sessions.every((s) => !s.recorded)).toBe(true);
    const second = await t.api<SessionListResponse>(`/api/v1/terminal/sessions?hostId=${host.id}&limit=2&cursor=${first.nextCursor}`);
    expect(second.body.sessions.map((s) => s.sessionId)).toEqual([ids[0]]);
    expect(second.body.nextCursor).toBeNull();
    expect((await t.api(`/api/v1/terminal/sessions/${ids[0]}/recording`)).status).toBe(404);
  });
});

describe("dependencies", () => {
  it("with auth down, an upgrade is 503 with Retry-After, never 401", async () => {
    const { host } = await t.createHost("auth-down");
    const ticket = await t.ticket(await t.adminToken(), host.id);
    await t.stack.service("auth").stop();
    const refused = await t.refusal(t.terminalUrl(host.id, ticket));
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
  });
});
