/**
 * ssh_proxy end to end: the reference agent connected to a real ws peer (playing the server) proxies SSH sessions to a
 * real OpenSSH sshd from the testkit. Every wait is for an event or a message; none is a fixed sleep.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshd, type TestSshd } from "@patchmon-ws/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AgentOptions, SshProxyOptions } from "../src/options.js";
import type { ReferenceAgent, SshProxySessionEvent } from "../src/reference-agent.js";
import { SSH_PROXY_DISABLED } from "../src/ssh-proxy.js";
import { AgentPool } from "./support/agents.js";
import { peersClosedAfterEach, type PeerConnection, type TestPeer } from "./support/peer.js";
import { waitFor } from "./support/wait.js";

const pool = new AgentPool();
const newPeer = peersClosedAfterEach(afterEach);
afterEach(async () => {
  await pool.stopAll();
});

let sshd: TestSshd;
let dir: string;
let files = 0;
beforeAll(async () => {
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), "pmws-agent-ssh-proxy-"));
});
afterAll(async () => {
  await sshd?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Message = Record<string, unknown>;

interface Setup {
  peer: TestPeer;
  agent: ReferenceAgent;
  connection: PeerConnection;
  knownHostsFile: string;
  events: SshProxySessionEvent[];
}

/** A peer, and an agent with SSH proxying enabled (its own known_hosts file in a folder that does not exist yet). */
async function setup(sshProxy: Partial<SshProxyOptions> | false = {}, agentOptions: Partial<AgentOptions> = {}): Promise<Setup> {
  const peer = await newPeer();
  files += 1;
  const knownHostsFile = join(dir, `agent-${files}`, "ssh", "known_hosts");
  const agent = pool.create({
    server: peer.serverUrl(),
    ...(sshProxy === false ? {} : { sshProxy: { enabled: true, knownHostsFile, ...sshProxy } }),
    ...agentOptions,
  });
  const events: SshProxySessionEvent[] = [];
  agent.on("ssh_proxy", (event) => events.push(event));
  agent.start();
  const connection = await peer.connection(0);
  await waitFor(() => connection.messages.find((m) => m.type === "hello"), "hello");
  return { peer, agent, connection, knownHostsFile, events };
}

function request(sessionId: string, fields: Message = {}, target: TestSshd = sshd): Message {
  return {
    type: "ssh_proxy",
    session_id: sessionId,
    host: "127.0.0.1",
    port: target.port,
    username: target.user.username,
    terminal: "xterm-256color",
    cols: 80,
    rows: 24,
    ...fields,
  };
}

function find(connection: PeerConnection, type: string, sessionId: string): Message | undefined {
  return connection.messages.find((m) => m.type === type && m.session_id === sessionId);
}

function count(connection: PeerConnection, type: string, sessionId: string): number {
  return connection.messages.filter((m) => m.type === type && m.session_id === sessionId).length;
}

function waitMessage(connection: PeerConnection, type: string, sessionId: string, timeoutMs?: number): Promise<Message> {
  return waitFor(() => find(connection, type, sessionId), `${type} for ${sessionId}`, timeoutMs);
}

/** The first of ssh_proxy_connected / ssh_proxy_error for a session. */
function waitOutcome(connection: PeerConnection, sessionId: string): Promise<Message> {
  return waitFor(
    () => connection.messages.find((m) => (m.type === "ssh_proxy_connected" || m.type === "ssh_proxy_error") && m.session_id === sessionId),
    `the outcome of ${sessionId}`,
  );
}

/** Reads a session's terminal output incrementally (the last 64-128 KiB only: floods are megabytes). */
function terminal(connection: PeerConnection, sessionId: string) {
  let index = 0;
  let text = "";
  const read = () => {
    for (; index < connection.messages.length; index += 1) {
      const m = connection.messages[index] as Message;
      if (m.type !== "ssh_proxy_data" || m.session_id !== sessionId) continue;
      text += String(m.data);
      // Markers are looked for at the end: keep a tail, trimmed rarely (copying megabytes per message is slow).
      if (text.length > 131_072) text = text.slice(-65_536);
    }
    return text;
  };
  return {
    read,
    waitFor: (pattern: RegExp, timeoutMs?: number) => waitFor(() => read().match(pattern) ?? undefined, `terminal output matching ${pattern}`, timeoutMs),
    type: (data: string) => connection.send({ type: "ssh_proxy_input", session_id: sessionId, data }),
  };
}

/** Opens a session with the test user's password and waits for ssh_proxy_connected. */
async function openShell(connection: PeerConnection, sessionId: string, fields: Message = {}, target: TestSshd = sshd) {
  connection.send(request(sessionId, { password: target.user.password, ...fields }, target));
  const outcome = await waitOutcome(connection, sessionId);
  expect(outcome, JSON.stringify(outcome)).toMatchObject({ type: "ssh_proxy_connected" });
  return { connected: outcome, shell: terminal(connection, sessionId) };
}

/** The remote shell's pid (the shell runs on this machine, so /proc tells whether it still exists). */
async function shellPid(shell: ReturnType<typeof terminal>): Promise<number> {
  shell.type("echo PID-$$-END\n");
  const match = await shell.waitFor(/PID-(\d+)-END/);
  return Number(match[1]);
}

/** A round trip through the agent: everything it sent before answering this ack has arrived. */
async function roundTrip(connection: PeerConnection, id: string): Promise<void> {
  connection.send({ type: "report_now", id });
  await waitFor(() => connection.messages.find((m) => m.type === "ack" && m.id === id), `ack ${id}`);
}

describe("ssh_proxy through the reference agent to a real sshd", () => {
  it("logs in with the password, announces the capability and the host key, and relays a command's output", async () => {
    const { connection, events } = await setup();
    const hello = connection.messages.find((m) => m.type === "hello");
    expect(hello?.capabilities).toEqual(["ack", "dedupe", "ssh_proxy"]);

    connection.send({ ...request("pw-1", { password: sshd.user.password }), id: "open-1" });
    const connected = await waitOutcome(connection, "pw-1");
    expect(connected).toEqual({
      type: "ssh_proxy_connected",
      session_id: "pw-1",
      host_key_algorithm: "ssh-ed25519",
      host_key_fingerprint: sshd.hostKeyFingerprint,
    });
    expect(connection.messages.find((m) => m.type === "ack" && m.id === "open-1")).toEqual({ type: "ack", id: "open-1", ok: true });
    const shell = terminal(connection, "pw-1");
    shell.type("echo MARK-$((40+2))\n");
    await shell.waitFor(/MARK-42/);
    expect(events.map((e) => e.state)).toEqual(["connecting", "connected"]);
    expect(events[1]).toMatchObject({ sessionId: "pw-1", target: `127.0.0.1:${sshd.port}`, username: sshd.user.username });
  });

  it("logs in with a private key (preferred over a wrong password)", async () => {
    const { connection } = await setup();
    connection.send(request("key-1", { private_key: sshd.user.privateKey, password: "not-the-password" }));
    expect(await waitOutcome(connection, "key-1")).toMatchObject({ type: "ssh_proxy_connected" });
    const shell = terminal(connection, "key-1");
    shell.type("echo WHO-$(id -un)-END\n");
    await shell.waitFor(new RegExp(`WHO-${sshd.user.username}-END`));
  });

  it("answers a wrong password with ssh_proxy_error only (no connected, no closed)", async () => {
    const { connection, events } = await setup();
    connection.send(request("bad-1", { password: "wrong-password" }));
    const error = await waitOutcome(connection, "bad-1");
    expect(error.type).toBe("ssh_proxy_error");
    expect(error.message).toMatch(/SSH authentication failed for pmws-ssh-test@127\.0\.0\.1:\d+/);
    expect(error.data).toBe(error.message);
    expect(JSON.stringify(connection.messages)).not.toContain("wrong-password");
    await waitFor(() => events.find((e) => e.sessionId === "bad-1" && e.state === "failed"), "the failed event");
    await roundTrip(connection, "after-bad-1");
    expect(count(connection, "ssh_proxy_closed", "bad-1")).toBe(0);
    expect(count(connection, "ssh_proxy_connected", "bad-1")).toBe(0);
  });

  it("refuses every ssh_proxy while disabled, with how to enable it (ssh-proxy-enabled)", async () => {
    const { connection } = await setup(false);
    expect(connection.messages.find((m) => m.type === "hello")?.capabilities).toEqual(["ack", "dedupe"]);
    connection.send({ ...request("off-1", { password: sshd.user.password }), id: "off-open" });
    const error = await waitMessage(connection, "ssh_proxy_error", "off-1");
    expect(error).toEqual({ type: "ssh_proxy_error", session_id: "off-1", message: SSH_PROXY_DISABLED, data: SSH_PROXY_DISABLED });
    expect(error.message).toContain("ssh-proxy-enabled");
    const ack = await waitFor(() => connection.messages.find((m) => m.type === "ack" && m.id === "off-open"), "ack");
    expect(ack).toEqual({ type: "ack", id: "off-open", ok: false, error: SSH_PROXY_DISABLED });
    // Input for a session that does not exist is ignored (acked, no answer).
    connection.send({ type: "ssh_proxy_input", session_id: "off-1", data: "ls\n", id: "off-input" });
    expect(await waitFor(() => connection.messages.find((m) => m.id === "off-input"), "ack")).toEqual({ type: "ack", id: "off-input", ok: true });
    expect(count(connection, "ssh_proxy_error", "off-1")).toBe(1);
  });

  it("validates before dialling: bad host, bad port (schema), duplicate session id", async () => {
    const { connection } = await setup();
    connection.send({ ...request("v-1", { host: "bad host", password: "pw" }), id: "v-1" });
    expect(await waitOutcome(connection, "v-1")).toMatchObject({ type: "ssh_proxy_error", message: "host must be a hostname, localhost or an IPv4 address" });
    connection.send({ ...request("v-2", { port: 70_000, password: "pw" }), id: "v-2" });
    expect(await waitOutcome(connection, "v-2")).toMatchObject({ type: "ssh_proxy_error", message: expect.stringMatching(/^Invalid ssh_proxy request: port: /) });
    for (const id of ["v-1", "v-2"]) {
      expect(await waitFor(() => connection.messages.find((m) => m.type === "ack" && m.id === id), `ack ${id}`)).toMatchObject({ ok: false });
    }
    const { shell } = await openShell(connection, "v-3");
    connection.send({ ...request("v-3", { password: sshd.user.password }), id: "v-3-again" });
    const ack = await waitFor(() => connection.messages.find((m) => m.type === "ack" && m.id === "v-3-again"), "ack of the duplicate");
    expect(ack).toEqual({ type: "ack", id: "v-3-again", ok: false, error: "SSH proxy session v-3 already exists" });
    expect(find(connection, "ssh_proxy_error", "v-3")?.message).toBe("SSH proxy session v-3 already exists");
    // The first session is untouched.
    shell.type("echo STILL-$((1+1))-HERE\n");
    await shell.waitFor(/STILL-2-HERE/);
  });

  it("reports a port nobody listens on as could not connect (connection refused)", async () => {
    const { connection } = await setup();
    // A port that was just free: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    connection.send(request("refused-1", { password: "pw", port }));
    expect(await waitOutcome(connection, "refused-1")).toMatchObject({
      type: "ssh_proxy_error",
      message: `Could not connect to 127.0.0.1:${port}: connection refused`,
    });
  });

  it("delivers input sent before the shell opened, once it is open", async () => {
    const { connection } = await setup();
    connection.send(request("early-1", { password: sshd.user.password }));
    connection.send({ type: "ssh_proxy_input", session_id: "early-1", data: "echo EARLY-$((1+2))-END\n" });
    await waitOutcome(connection, "early-1");
    await terminal(connection, "early-1").waitFor(/EARLY-3-END/);
  });

  it("resizes the PTY: stty size shows the new rows and columns", async () => {
    const { connection } = await setup();
    const { shell } = await openShell(connection, "size-1", { cols: 100, rows: 30 });
    shell.type("echo SZ-$(stty size)-END\n");
    await shell.waitFor(/SZ-30 100-END/);
    connection.send({ type: "ssh_proxy_resize", session_id: "size-1", cols: 132, rows: 50 });
    shell.type("echo SZ-$(stty size)-END\n");
    await shell.waitFor(/SZ-50 132-END/);
  });

  it("ssh_proxy_disconnect ends the session (the remote shell is gone) and is answered with ssh_proxy_closed once", async () => {
    const { connection, events } = await setup();
    const { shell } = await openShell(connection, "bye-1");
    const pid = await shellPid(shell);
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    connection.send({ type: "ssh_proxy_disconnect", session_id: "bye-1" });
    await waitMessage(connection, "ssh_proxy_closed", "bye-1");
    await waitFor(() => !existsSync(`/proc/${pid}`), `shell ${pid} to exit`);
    await roundTrip(connection, "after-bye-1");
    expect(count(connection, "ssh_proxy_closed", "bye-1")).toBe(1);
    expect(count(connection, "ssh_proxy_error", "bye-1")).toBe(0);
    expect(events.at(-1)).toMatchObject({ sessionId: "bye-1", state: "closed", reason: "disconnected by the server" });
  });

  it("`exit` in the shell sends ssh_proxy_closed once, after the shell's last output", async () => {
    const { connection } = await setup();
    const { shell } = await openShell(connection, "exit-1");
    shell.type("echo LAST-$((2+3)); exit\n");
    const closed = await waitMessage(connection, "ssh_proxy_closed", "exit-1");
    expect(closed).toEqual({ type: "ssh_proxy_closed", session_id: "exit-1" });
    const closedAt = connection.messages.indexOf(closed);
    expect(connection.messages.slice(0, closedAt).some((m) => m.type === "ssh_proxy_data" && String(m.data).includes("LAST-5"))).toBe(true);
    await roundTrip(connection, "after-exit-1");
    expect(count(connection, "ssh_proxy_closed", "exit-1")).toBe(1);
    expect(connection.messages.slice(closedAt + 1).some((m) => m.session_id === "exit-1")).toBe(false);
  });

  it("closes the SSH session when the agent's connection drops, and says nothing about it on the next connection", async () => {
    const { peer, connection, events, agent } = await setup();
    const { shell } = await openShell(connection, "drop-1");
    const pid = await shellPid(shell);
    connection.ws.terminate();
    await waitFor(() => events.find((e) => e.sessionId === "drop-1" && e.state === "closed"), "the session to close");
    expect(events.at(-1)?.reason).toBe("the agent connection closed");
    await waitFor(() => !existsSync(`/proc/${pid}`), `shell ${pid} to exit`);
    const next = await peer.connection(1);
    await waitFor(() => next.messages.find((m) => m.type === "hello"), "hello on the next connection");
    await roundTrip(next, "after-drop-1");
    expect(next.messages.some((m) => m.session_id === "drop-1")).toBe(false);
    expect(agent.sshProxyStats()?.sessions ?? []).toEqual([]);
  });

  it("stop() tells the server every session closed before closing the socket", async () => {
    const { connection, agent } = await setup();
    const { shell } = await openShell(connection, "stop-1");
    const pid = await shellPid(shell);
    await agent.stop();
    expect(find(connection, "ssh_proxy_closed", "stop-1")).toBeDefined();
    await connection.waitClosed();
    await waitFor(() => !existsSync(`/proc/${pid}`), `shell ${pid} to exit`);
  });

  it("keeps memory bounded when the server stops reading an output flood: channels pause, SSH's window closes", async () => {
    const highWater = 256 * 1024;
    // No agent ping falls due while the peer is not reading (an unflushed ping would end the connection).
    const { connection, agent } = await setup({}, { pingIntervalMs: 300_000, readDeadlineMs: 600_000 });
    const { shell } = await openShell(connection, "flood-1");
    connection.ws.pause();
    shell.type("base64 /dev/zero\n");
    const stats = await waitFor(
      () => {
        const current = agent.sshProxyStats();
        const session = current?.sessions[0];
        return current?.paused && session?.streamsPaused && session.sshWindow === 0 ? current : undefined;
      },
      "the proxy to pause output and the SSH server to run out of window",
      60_000,
    );
    expect(stats.highWaterBytes).toBe(highWater);
    // Paused right after crossing the mark: at most one SSH packet's worth of messages beyond it.
    expect(stats.bufferedAmount).toBeGreaterThan(highWater / 2);
    expect(stats.bufferedAmount).toBeLessThan(highWater + 128 * 1024);
    // ssh2 holds at most its stream buffer (2 MiB) plus one window (2 MiB); the server is blocked beyond that.
    expect(stats.sessions[0]?.bufferedOutputBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
    const frozen = agent.sshProxyStats();
    expect(frozen?.bufferedAmount).toBe(stats.bufferedAmount);

    // Interrupt the flood, read again: output resumes and the shell answers.
    shell.type("\x03");
    shell.type("echo FLOOD-$((6*7))-DONE\n");
    connection.ws.resume();
    await shell.waitFor(/FLOOD-42-DONE/, 60_000);
    expect(agent.sshProxyStats()?.paused).toBe(false);
    expect(agent.sshProxyStats()?.pauses).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe("ssh_proxy host keys (known_hosts)", () => {
  let own: TestSshd;
  beforeAll(async () => {
    own = await startSshd();
  });
  afterAll(async () => {
    await own?.dispose();
  });

  it("pins an unknown host on first use (0700 folder, 0600 file), then refuses a changed key naming both fingerprints", async () => {
    const { connection, knownHostsFile } = await setup();
    expect(existsSync(knownHostsFile)).toBe(false);
    const { connected } = await openShell(connection, "tofu-1", {}, own);
    const pinned = own.hostKeyFingerprint;
    expect(connected.host_key_fingerprint).toBe(pinned);
    const line = `[127.0.0.1]:${own.port} ${own.hostPublicKeys.ed25519?.split(" ").slice(0, 2).join(" ")}`;
    expect(readFileSync(knownHostsFile, "utf8")).toBe(`${line}\n`);
    expect(statSync(knownHostsFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(knownHostsFile, "..")).mode & 0o777).toBe(0o700);
    connection.send({ type: "ssh_proxy_disconnect", session_id: "tofu-1" });
    await waitMessage(connection, "ssh_proxy_closed", "tofu-1");

    // Same session again: the pin is honoured.
    await openShell(connection, "tofu-2", {}, own);

    await own.restartWithNewHostKey();
    const presented = own.hostKeyFingerprint;
    expect(presented).not.toBe(pinned);
    connection.send(request("tofu-3", { password: own.user.password }, own));
    const error = await waitOutcome(connection, "tofu-3");
    expect(error.type).toBe("ssh_proxy_error");
    expect(error.message).toMatch(/^Host key verification failed for 127\.0\.0\.1:\d+/);
    expect(error.message).toContain(`expects ${pinned} (ssh-ed25519)`);
    expect(error.message).toContain(`presented ${presented} (ssh-ed25519)`);
    // The pin is not replaced.
    expect(readFileSync(knownHostsFile, "utf8")).toBe(`${line}\n`);
  });

  it("strictHostKeys refuses a host the file does not list, and accepts one it does", async () => {
    const { connection, knownHostsFile } = await setup({ strictHostKeys: true });
    connection.send(request("strict-1", { password: own.user.password }, own));
    const error = await waitOutcome(connection, "strict-1");
    expect(error.type).toBe("ssh_proxy_error");
    expect(error.message).toMatch(/not in .*known_hosts and strict host key checking is on/);
    expect(error.message).toContain(own.hostKeyFingerprint);
    expect(existsSync(knownHostsFile)).toBe(false);

    mkdirSync(join(knownHostsFile, ".."), { recursive: true });
    writeFileSync(knownHostsFile, `# written by an operator\n[127.0.0.1]:${own.port} ${own.hostPublicKeys.ed25519}\n`);
    await openShell(connection, "strict-2", {}, own);
  });
});

describe("ssh_proxy keyboard-interactive", () => {
  let kbd: TestSshd;
  beforeAll(async () => {
    // Only keyboard-interactive is offered (a Match block overrides AuthenticationMethods for our connections).
    kbd = await startSshd({ keyboardInteractive: true, extraConfig: ["Match Address 127.0.0.1", "  AuthenticationMethods keyboard-interactive"] });
  });
  afterAll(async () => {
    await kbd?.dispose();
  });

  it("answers the password prompt with the password", async () => {
    const { connection } = await setup();
    const { shell } = await openShell(connection, "kbd-1", {}, kbd);
    shell.type("echo KBD-$((3*3))-END\n");
    await shell.waitFor(/KBD-9-END/);
    expect(kbd.process.log).toMatch(/Accepted keyboard-interactive\/pam for pmws-ssh-test/);
  });

  it("fails cleanly when the prompt's answer is wrong", async () => {
    const { connection } = await setup();
    connection.send(request("kbd-2", { password: "wrong-password" }, kbd));
    const error = await waitOutcome(connection, "kbd-2");
    expect(error).toMatchObject({ type: "ssh_proxy_error", message: expect.stringMatching(/SSH authentication failed/) });
  });
});
