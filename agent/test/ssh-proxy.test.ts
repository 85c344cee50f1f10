/**
 * SshProxySessions without sockets: a fake ssh2 client and channel (real Node streams), a fake link with a settable
 * bufferedAmount, and a known_hosts file in a temporary folder.
 */
import { EventEmitter } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { AgentToServerMessage } from "@patchmon-ws/protocol";
import type { ConnectConfig, PseudoTtyOptions } from "ssh2";
import { afterEach, describe, expect, it } from "vitest";
import { fingerprintOf } from "../src/known-hosts.js";
import type { SshProxySettings } from "../src/options.js";
import {
  SSH_PROXY_DISABLED,
  SSH_PROXY_MAX_QUEUED_INPUT_BYTES,
  SshProxyRefusedError,
  SshProxySessions,
  type ProxyChannel,
  type SshProxyMessage,
  type SshProxySessionEvent,
} from "../src/ssh-proxy.js";
import { captureLogger } from "./support/agents.js";
import { ed25519KeyPair } from "./support/ssh-keys.js";
import { waitFor } from "./support/wait.js";

const publicBlob = (line: string) => Buffer.from(line.split(" ")[1] as string, "base64");
const HOST_KEY = publicBlob(ed25519KeyPair().public);
const OTHER_KEY = publicBlob(ed25519KeyPair().public);
const PASSWORD = "hunter2-secret";

class FakeLink {
  readonly sent: AgentToServerMessage[] = [];
  bufferedAmount = 0;
  send(message: AgentToServerMessage): void {
    this.sent.push(message);
  }
  of(sessionId: string, type?: string): AgentToServerMessage[] {
    return this.sent.filter((m) => (m as { session_id?: string }).session_id === sessionId && (type === undefined || m.type === type));
  }
}

class FakeChannel extends Readable {
  readonly stderr = new Readable({ read() {} });
  readonly written: string[] = [];
  readonly windows: number[][] = [];
  readonly incoming = { window: 2 * 1024 * 1024 };
  accepting = true;
  closeCalls = 0;
  constructor() {
    super({ read() {} });
  }
  write(data: Buffer): boolean {
    this.written.push(data.toString("utf8"));
    return this.accepting;
  }
  setWindow(rows: number, cols: number, height: number, width: number): void {
    this.windows.push([rows, cols, height, width]);
  }
  close(): void {
    this.closeCalls += 1;
  }
  /** What ssh2 does when the server closes the channel: both streams end, then "close" once stdout ended. */
  serverClose(): void {
    this.once("end", () => this.emit("close"));
    this.push(null);
    this.stderr.push(null);
  }
}

class FakeClient extends EventEmitter {
  config: ConnectConfig | undefined;
  shellWindow: PseudoTtyOptions | undefined;
  shellCallback: ((error: Error | undefined, channel: ProxyChannel) => void) | undefined;
  ended = false;
  destroyed = false;
  connect(config: ConnectConfig): void {
    this.config = config;
  }
  shell(window: PseudoTtyOptions, callback: (error: Error | undefined, channel: ProxyChannel) => void): void {
    this.shellWindow = window;
    this.shellCallback = callback;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** ssh2's hostVerifier, callback form. */
  verify(key: Buffer): Promise<boolean> {
    const verifier = this.config?.hostVerifier as (key: Buffer, verify: (ok: boolean) => void) => void;
    return new Promise((resolve) => verifier(key, resolve));
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function harness(settings: Partial<SshProxySettings> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "pmws-ssh-proxy-unit-"));
  dirs.push(dir);
  const link = new FakeLink();
  const clients: FakeClient[] = [];
  const events: SshProxySessionEvent[] = [];
  const log = captureLogger();
  const knownHostsFile = join(dir, "ssh", "known_hosts");
  const proxy = new SshProxySessions({
    settings: { enabled: true, knownHostsFile, strictHostKeys: false, maxSessions: 10, outputHighWaterBytes: 64 * 1024, ...settings },
    link,
    log,
    createClient: () => {
      const client = new FakeClient();
      clients.push(client);
      return client;
    },
    onEvent: (event) => events.push(event),
  });
  return { proxy, link, clients, events, log, knownHostsFile };
}
type Harness = ReturnType<typeof harness>;

function request(sessionId: string, fields: Record<string, unknown> = {}): SshProxyMessage {
  return { type: "ssh_proxy", session_id: sessionId, host: "127.0.0.1", port: 22, username: "admin", password: PASSWORD, ...fields } as SshProxyMessage;
}

/** Drives one session to an open shell: host key accepted, handshake, ready, shell. */
async function connect(h: Harness, sessionId: string, fields: Record<string, unknown> = {}) {
  h.proxy.handle(request(sessionId, fields));
  const client = h.clients.at(-1) as FakeClient;
  expect(await client.verify(HOST_KEY)).toBe(true);
  client.emit("handshake", {});
  client.emit("ready");
  await waitFor(() => client.shellCallback, "the shell request");
  const channel = new FakeChannel();
  client.shellCallback?.(undefined, channel);
  return { client, channel };
}

const data = (h: Harness, sessionId: string) =>
  h.link
    .of(sessionId, "ssh_proxy_data")
    .map((m) => (m as { data: string }).data)
    .join("");

describe("SshProxySessions: refusals", () => {
  it("refuses ssh_proxy while disabled, saying how to enable it, and dials nothing", () => {
    const h = harness({ enabled: false });
    expect(() => h.proxy.handle(request("s1"))).toThrow(SshProxyRefusedError);
    expect(h.link.sent).toEqual([{ type: "ssh_proxy_error", session_id: "s1", message: SSH_PROXY_DISABLED, data: SSH_PROXY_DISABLED }]);
    expect(SSH_PROXY_DISABLED).toContain("ssh-proxy-enabled: true");
    expect(h.clients).toEqual([]);
  });

  it("ignores input, resize and disconnect for unknown sessions (debug log only)", () => {
    const h = harness();
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "nope", data: "ls\n" });
    h.proxy.handle({ type: "ssh_proxy_resize", session_id: "nope", cols: 10, rows: 10 });
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "nope" });
    expect(h.link.sent).toEqual([]);
    expect(h.log.entries.map((e) => e.level)).toEqual(["debug", "debug", "debug"]);
  });

  it("validates like the stock agent before dialling", () => {
    const h = harness();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ host: "evil host" }, /^host must be a hostname, localhost or an IPv4 address$/],
      [{ host: "::1" }, /^host must be/],
      [{ port: 0 }, /^port must be between 1 and 65535$/],
      [{ port: 70_000 }, /^port must be/],
      [{ password: undefined }, /^No authentication method provided/],
      [{ private_key: "not a key" }, /^Invalid private key/],
    ];
    for (const [fields, pattern] of cases) {
      h.link.sent.length = 0;
      expect(() => h.proxy.handle(request("v1", fields)), JSON.stringify(fields)).toThrow(pattern);
      expect(h.link.sent).toEqual([{ type: "ssh_proxy_error", session_id: "v1", message: expect.stringMatching(pattern), data: expect.stringMatching(pattern) }]);
    }
    expect(h.clients).toEqual([]);
  });

  it("refuses a duplicate session id and leaves the existing session alone", async () => {
    const h = harness();
    const { client, channel } = await connect(h, "dup");
    expect(() => h.proxy.handle(request("dup"))).toThrow(/SSH proxy session dup already exists/);
    expect(h.clients).toHaveLength(1);
    expect(client.ended).toBe(false);
    channel.push("still here");
    await waitFor(() => data(h, "dup").includes("still here"), "output of the first session");
    expect(h.link.of("dup", "ssh_proxy_closed")).toEqual([]);
  });

  it("caps concurrent sessions at maxSessions", async () => {
    const h = harness({ maxSessions: 2 });
    h.proxy.handle(request("a"));
    h.proxy.handle(request("b"));
    expect(() => h.proxy.handle(request("c"))).toThrow(/Too many SSH proxy sessions: this agent allows 2 at once/);
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "a" });
    h.proxy.handle(request("c"));
    expect(h.proxy.size).toBe(2);
  });

  it("answers an ssh_proxy that failed the schema (enabled: the reason; disabled: how to enable)", () => {
    const on = harness();
    on.proxy.refuseInvalid("s9", "port: Too big: expected number to be <=65535");
    expect(on.link.sent).toEqual([
      {
        type: "ssh_proxy_error",
        session_id: "s9",
        message: "Invalid ssh_proxy request: port: Too big: expected number to be <=65535",
        data: "Invalid ssh_proxy request: port: Too big: expected number to be <=65535",
      },
    ]);
    const off = harness({ enabled: false });
    off.proxy.refuseInvalid("s9", "whatever");
    expect(off.link.sent).toEqual([{ type: "ssh_proxy_error", session_id: "s9", message: SSH_PROXY_DISABLED, data: SSH_PROXY_DISABLED }]);
  });
});

describe("SshProxySessions: connecting", () => {
  it("dials with the stock timeouts, keepalives, and the key before the password", () => {
    const h = harness();
    const key = ed25519KeyPair().private;
    h.proxy.handle(request("k1", { private_key: key, port: 2222 }));
    h.proxy.handle(request("p1", { private_key: undefined }));
    const [withKey, withPassword] = h.clients as [FakeClient, FakeClient];
    expect(withKey.config).toMatchObject({
      host: "127.0.0.1",
      port: 2222,
      username: "admin",
      privateKey: key,
      password: PASSWORD,
      tryKeyboard: true,
      readyTimeout: 20_000,
      keepaliveInterval: 15_000,
      keepaliveCountMax: 3,
      authHandler: ["publickey", "password", "keyboard-interactive"],
    });
    expect(withPassword.config).toMatchObject({ password: PASSWORD, tryKeyboard: true, authHandler: ["password", "keyboard-interactive"] });
    expect(withPassword.config?.privateKey).toBeUndefined();
    const keyOnly = harness();
    keyOnly.proxy.handle(request("k2", { private_key: key, password: undefined }));
    expect(keyOnly.clients[0]?.config).toMatchObject({ authHandler: ["publickey"] });
    expect(keyOnly.clients[0]?.config?.tryKeyboard).toBeUndefined();
  });

  it("trusts an unknown host on first use, pinning it only once the key exchange completed", async () => {
    const h = harness();
    h.proxy.handle(request("t1", { cols: 120, rows: 40, terminal: "vt220" }));
    const client = h.clients[0] as FakeClient;
    expect(await client.verify(HOST_KEY)).toBe(true);
    expect(existsSync(h.knownHostsFile)).toBe(false);
    client.emit("handshake", {});
    client.emit("ready");
    await waitFor(() => client.shellCallback, "the shell request");
    expect(readFileSync(h.knownHostsFile, "utf8")).toBe(`127.0.0.1 ssh-ed25519 ${HOST_KEY.toString("base64")}\n`);
    expect(client.shellWindow).toEqual({ term: "vt220", cols: 120, rows: 40, modes: { ECHO: 1, TTY_OP_ISPEED: 14_400, TTY_OP_OSPEED: 14_400 } });
    expect(h.link.sent).toEqual([]);
    client.shellCallback?.(undefined, new FakeChannel());
    expect(h.link.sent).toEqual([
      { type: "ssh_proxy_connected", session_id: "t1", host_key_algorithm: "ssh-ed25519", host_key_fingerprint: fingerprintOf(HOST_KEY) },
    ]);
    expect(h.log.entries.find((e) => e.level === "warn")).toMatchObject({
      fields: { sessionId: "t1", hostKey: fingerprintOf(HOST_KEY) },
      msg: expect.stringMatching(/first use/),
    });
    expect(h.events.map((e) => e.state)).toEqual(["connecting", "connected"]);
  });

  it("refuses a changed host key, naming the expected and the presented fingerprints", async () => {
    const h = harness();
    h.proxy.handle(request("c1"));
    const first = h.clients[0] as FakeClient;
    // Pin OTHER_KEY through a first session.
    expect(await first.verify(OTHER_KEY)).toBe(true);
    first.emit("handshake", {});
    first.emit("ready");
    await waitFor(() => first.shellCallback, "shell");
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "c1" });

    h.proxy.handle(request("c2"));
    const second = h.clients[1] as FakeClient;
    expect(await second.verify(HOST_KEY)).toBe(false);
    second.emit("error", new Error("Host denied (verification failed)"));
    second.emit("close");
    const errors = h.link.of("c2");
    expect(errors).toHaveLength(1);
    const message = (errors[0] as { message: string }).message;
    expect(message).toMatch(/^Host key verification failed for 127\.0\.0\.1:22: /);
    expect(message).toContain(`expects ${fingerprintOf(OTHER_KEY)} (ssh-ed25519)`);
    expect(message).toContain(`presented ${fingerprintOf(HOST_KEY)} (ssh-ed25519)`);
    expect(second.ended).toBe(true);
  });

  it("refuses unknown hosts with strictHostKeys", async () => {
    const h = harness({ strictHostKeys: true });
    h.proxy.handle(request("st"));
    const client = h.clients[0] as FakeClient;
    expect(await client.verify(HOST_KEY)).toBe(false);
    client.emit("error", new Error("Host denied (verification failed)"));
    expect(h.link.sent).toEqual([{ type: "ssh_proxy_error", session_id: "st", message: expect.any(String), data: expect.any(String) }]);
    const message = (h.link.sent[0] as { message: string }).message;
    expect(message).toMatch(/not in .*known_hosts and strict host key checking is on/);
    expect(message).toContain(`(the server presented ${fingerprintOf(HOST_KEY)} (ssh-ed25519))`);
    expect(existsSync(h.knownHostsFile)).toBe(false);
  });

  it("answers one round of keyboard-interactive prompts with the password", () => {
    const h = harness();
    h.proxy.handle(request("kb"));
    const client = h.clients[0] as FakeClient;
    const answers: string[][] = [];
    const prompt = (prompts: unknown[]) => client.emit("keyboard-interactive", "", "", "", prompts, (a: string[]) => answers.push(a));
    prompt([]);
    prompt([{ prompt: "Password: ", echo: false }]);
    prompt([{ prompt: "Password: ", echo: false }]);
    expect(answers).toEqual([[], [PASSWORD], []]);
  });

  it("an error before the shell opened is ssh_proxy_error only (as the stock agent), with the reason", () => {
    const h = harness();
    h.proxy.handle(request("e1"));
    const client = h.clients[0] as FakeClient;
    client.emit("error", Object.assign(new Error("All configured authentication methods failed"), { level: "client-authentication" }));
    client.emit("close");
    client.emit("error", new Error("late noise"));
    expect(h.link.sent).toEqual([
      {
        type: "ssh_proxy_error",
        session_id: "e1",
        message: "SSH authentication failed for admin@127.0.0.1:22: All configured authentication methods failed",
        data: "SSH authentication failed for admin@127.0.0.1:22: All configured authentication methods failed",
      },
    ]);
    expect(client.ended && client.destroyed).toBe(true);
    expect(h.events.map((e) => e.state)).toEqual(["connecting", "failed"]);
    expect(h.proxy.size).toBe(0);
  });

  it("says why the host could not be reached", () => {
    const h = harness();
    const errors = [
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:22"), { level: "client-socket", code: "ECONNREFUSED" }),
      Object.assign(new Error("getaddrinfo ENOTFOUND nowhere"), { level: "client-socket", code: "ENOTFOUND" }),
      Object.assign(new Error("weird"), { level: "client-socket", code: "EWEIRD" }),
      Object.assign(new Error("Timed out while waiting for handshake"), { level: "client-timeout" }),
    ];
    errors.forEach((error, index) => {
      h.proxy.handle(request(`u${index}`));
      (h.clients[index] as FakeClient).emit("error", error);
    });
    expect(h.link.sent.map((m) => (m as { message?: string }).message)).toEqual([
      "Could not connect to 127.0.0.1:22: connection refused",
      "Could not connect to 127.0.0.1:22: host name not found",
      "Could not connect to 127.0.0.1:22: weird",
      "Could not connect to 127.0.0.1:22: Timed out while waiting for handshake",
    ]);
  });

  it("a connection that closes before the shell opened, or a shell that cannot open, fails the same way", async () => {
    const h = harness();
    h.proxy.handle(request("x1"));
    (h.clients[0] as FakeClient).emit("close");
    const client = (await connectUntilShell(h, "x2")).client;
    client.shellCallback?.(new Error("channel open failure"), new FakeChannel());
    expect(h.link.sent.map((m) => [m.type, (m as { message?: string }).message])).toEqual([
      ["ssh_proxy_error", "SSH connection to 127.0.0.1:22 closed before the shell opened"],
      ["ssh_proxy_error", "Could not open a shell on 127.0.0.1:22: channel open failure"],
    ]);
  });
});

async function connectUntilShell(h: Harness, sessionId: string) {
  h.proxy.handle(request(sessionId));
  const client = h.clients.at(-1) as FakeClient;
  await client.verify(HOST_KEY);
  client.emit("handshake", {});
  client.emit("ready");
  await waitFor(() => client.shellCallback, "the shell request");
  return { client };
}

describe("SshProxySessions: a connected session", () => {
  it("forwards stdout and stderr in whole-character pieces of at most 4096 bytes", async () => {
    const h = harness();
    const { channel } = await connect(h, "o1");
    const text = "é".repeat(3000);
    const bytes = Buffer.from(text, "utf8");
    channel.push(bytes.subarray(0, 4097));
    channel.push(bytes.subarray(4097));
    channel.stderr.push(Buffer.from("warning: ✓\n"));
    await waitFor(() => data(h, "o1").length === text.length + 11, "all output");
    const pieces = h.link.of("o1", "ssh_proxy_data").map((m) => (m as { data: string }).data);
    for (const piece of pieces) expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(4096);
    expect(pieces.filter((p) => p.startsWith("é")).join("")).toBe(text);
    expect(pieces).toContain("warning: ✓\n");
  });

  it("writes input, queues it while the channel does not drain, and flushes it in order on 'drain'", async () => {
    const h = harness();
    const { channel } = await connect(h, "i1");
    channel.accepting = false;
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "i1", data: "one " });
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "i1", data: "two " });
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "i1", data: "three" });
    expect(channel.written).toEqual(["one "]);
    expect(h.proxy.stats().sessions[0]?.queuedInputBytes).toBe(9);
    channel.accepting = true;
    channel.emit("drain");
    expect(channel.written).toEqual(["one ", "two ", "three"]);
    expect(h.proxy.stats().sessions[0]?.queuedInputBytes).toBe(0);
  });

  it("ends a session whose queued input exceeds its bound: ssh_proxy_error, then ssh_proxy_closed", async () => {
    const h = harness();
    const { channel, client } = await connect(h, "i2");
    channel.accepting = false;
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "i2", data: "x" });
    const big = "y".repeat(64 * 1024);
    for (let i = 0; i * big.length <= SSH_PROXY_MAX_QUEUED_INPUT_BYTES; i += 1) h.proxy.handle({ type: "ssh_proxy_input", session_id: "i2", data: big });
    expect(h.link.of("i2").map((m) => m.type)).toEqual(["ssh_proxy_connected", "ssh_proxy_error", "ssh_proxy_closed"]);
    expect(client.ended).toBe(true);
  });

  it("queues input that arrives before the shell opened, and opens with the latest size", async () => {
    const h = harness();
    h.proxy.handle(request("q1"));
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "q1", data: "early\n" });
    h.proxy.handle({ type: "ssh_proxy_resize", session_id: "q1", cols: 100, rows: 33 });
    const client = h.clients[0] as FakeClient;
    await client.verify(HOST_KEY);
    client.emit("ready");
    await waitFor(() => client.shellCallback, "shell");
    expect(client.shellWindow).toMatchObject({ cols: 100, rows: 33 });
    const channel = new FakeChannel();
    client.shellCallback?.(undefined, channel);
    expect(channel.written).toEqual(["early\n"]);
  });

  it("accepts the pinned key again when the server re-keys a connected session, and refuses another one", async () => {
    const h = harness();
    const { client } = await connect(h, "rk");
    expect(await client.verify(HOST_KEY)).toBe(true);
    client.emit("handshake", {});
    expect(h.link.of("rk").map((m) => m.type)).toEqual(["ssh_proxy_connected"]);
    expect(await client.verify(OTHER_KEY)).toBe(false);
    client.emit("error", new Error("Host denied (verification failed)"));
    expect(h.link.of("rk").map((m) => m.type)).toEqual(["ssh_proxy_connected", "ssh_proxy_error", "ssh_proxy_closed"]);
    expect((h.link.of("rk", "ssh_proxy_error")[0] as { message: string }).message).toMatch(/^Host key verification failed/);
  });

  it("resizes with setWindow(rows, cols, 0, 0)", async () => {
    const h = harness();
    const { channel } = await connect(h, "r1");
    h.proxy.handle({ type: "ssh_proxy_resize", session_id: "r1", cols: 132, rows: 50 });
    expect(channel.windows).toEqual([[50, 132, 0, 0]]);
  });

  it("ssh_proxy_disconnect answers ssh_proxy_closed once and ends the client; later events say nothing", async () => {
    const h = harness();
    const { channel, client } = await connect(h, "d1");
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "d1" });
    expect(client.ended).toBe(true);
    channel.push("late output");
    channel.serverClose();
    client.emit("error", new Error("socket hang up"));
    client.emit("close");
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "d1" });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(h.link.of("d1").map((m) => m.type)).toEqual(["ssh_proxy_connected", "ssh_proxy_closed"]);
    expect(h.events.at(-1)).toMatchObject({ state: "closed", reason: "disconnected by the server" });
  });

  it("the shell exiting sends its last output (stdout and stderr), then ssh_proxy_closed once", async () => {
    const h = harness();
    const { channel, client } = await connect(h, "x1");
    channel.push("bye\n");
    // stderr still holds output when stdout ends and ssh2 emits "close".
    channel.stderr.pause();
    channel.stderr.push(Buffer.from([0x65, 0x72, 0x72, 0xe2, 0x82]));
    const closeEmitted = new Promise<void>((resolve) => channel.once("close", () => resolve()));
    channel.serverClose();
    await closeEmitted;
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(h.link.of("x1", "ssh_proxy_closed")).toEqual([]);
    channel.stderr.resume();
    await waitFor(() => h.link.of("x1", "ssh_proxy_closed").length > 0, "closed");
    client.emit("close");
    expect(h.link.of("x1").map((m) => [m.type, (m as { data?: string }).data])).toEqual([
      ["ssh_proxy_connected", undefined],
      ["ssh_proxy_data", "bye\n"],
      ["ssh_proxy_data", "err"],
      ["ssh_proxy_data", "\ufffd"],
      ["ssh_proxy_closed", undefined],
    ]);
    expect(client.ended).toBe(true);
  });

  it("an SSH error after connecting is ssh_proxy_error, then ssh_proxy_closed, once", async () => {
    const h = harness();
    const { client, channel } = await connect(h, "f1");
    client.emit("error", Object.assign(new Error("Keepalive timeout"), { level: "client-timeout" }));
    client.emit("error", new Error("again"));
    channel.serverClose();
    client.emit("close");
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(h.link.of("f1").map((m) => [m.type, (m as { message?: string }).message])).toEqual([
      ["ssh_proxy_connected", undefined],
      ["ssh_proxy_error", "SSH connection to 127.0.0.1:22 timed out: Keepalive timeout"],
      ["ssh_proxy_closed", undefined],
    ]);
  });
});

describe("SshProxySessions: flow control", () => {
  it("pauses every channel above the high-water mark and resumes below half of it, on socket writes only", async () => {
    const h = harness({ outputHighWaterBytes: 64 * 1024 });
    const one = await connect(h, "fc1");
    const two = await connect(h, "fc2");
    h.link.bufferedAmount = 70_000;
    one.channel.push("x");
    await waitFor(() => h.proxy.stats().paused, "pause");
    for (const { channel } of [one, two]) {
      expect(channel.isPaused()).toBe(true);
      expect(channel.stderr.isPaused()).toBe(true);
    }
    expect(h.proxy.stats()).toMatchObject({ paused: true, pauses: 1, bufferedAmount: 70_000, highWaterBytes: 65_536 });
    expect(h.proxy.stats().sessions.every((s) => s.streamsPaused)).toBe(true);

    // Output produced meanwhile stays in the channel (SSH's window then stops the server).
    two.channel.push("held back");
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(data(h, "fc2")).toBe("");
    expect(h.proxy.stats().sessions.find((s) => s.sessionId === "fc2")?.bufferedOutputBytes).toBe(9);

    // A session opened while paused starts paused.
    const three = await connect(h, "fc3");
    expect(three.channel.isPaused()).toBe(true);

    h.link.bufferedAmount = 40_000;
    h.proxy.onSocketWritten();
    expect(h.proxy.stats().paused).toBe(true);
    h.link.bufferedAmount = 30_000;
    h.proxy.onSocketWritten();
    expect(h.proxy.stats().paused).toBe(false);
    for (const { channel } of [one, two, three]) expect(channel.isPaused()).toBe(false);
    await waitFor(() => data(h, "fc2") === "held back", "the held-back output");
  });

  it("does not pause at or below the mark", async () => {
    const h = harness({ outputHighWaterBytes: 64 * 1024 });
    const { channel } = await connect(h, "fc4");
    h.link.bufferedAmount = 65_536;
    channel.push("x");
    await waitFor(() => data(h, "fc4") === "x", "output");
    expect(h.proxy.stats().paused).toBe(false);
  });
});

describe("SshProxySessions: the agent connection ending", () => {
  it("closeAll(notify=false): every client ended, nothing sent, new requests refused", async () => {
    const h = harness();
    const { client: open } = await connect(h, "z1");
    h.proxy.handle(request("z2"));
    const connecting = h.clients[1] as FakeClient;
    const before = h.link.sent.length;
    h.proxy.closeAll("the agent connection closed", false);
    expect(h.link.sent.length).toBe(before);
    expect(open.ended && connecting.ended).toBe(true);
    expect(h.proxy.size).toBe(0);
    expect(h.events.filter((e) => e.state === "closed").map((e) => [e.sessionId, e.reason])).toEqual([
      ["z1", "the agent connection closed"],
      ["z2", "the agent connection closed"],
    ]);
  });

  it("closeAll(notify=true) (stop): ssh_proxy_closed for connected sessions, ssh_proxy_error for connecting ones", async () => {
    const h = harness();
    await connect(h, "y1");
    h.proxy.handle(request("y2"));
    h.proxy.closeAll("the agent is stopping", true);
    expect(h.link.of("y1").map((m) => m.type)).toEqual(["ssh_proxy_connected", "ssh_proxy_closed"]);
    expect(h.link.of("y2")).toEqual([
      { type: "ssh_proxy_error", session_id: "y2", message: "SSH proxy session ended: the agent is stopping", data: "SSH proxy session ended: the agent is stopping" },
    ]);
    expect(() => h.proxy.handle(request("y3"))).toThrow(/closing/);
  });
});

describe("SshProxySessions: logs", () => {
  it("name the session, target, user and outcome, never passwords, keys, passphrases or terminal data", async () => {
    const h = harness();
    const key = ed25519KeyPair({ passphrase: "pass-phrase-secret", cipher: "aes256-ctr", rounds: 16 }).private;
    const { channel } = await connect(h, "l1", { private_key: key, passphrase: "pass-phrase-secret" });
    h.proxy.handle({ type: "ssh_proxy_input", session_id: "l1", data: "typed-secret\n" });
    channel.push("screen-secret");
    await waitFor(() => data(h, "l1").includes("screen-secret"), "output");
    h.proxy.handle({ type: "ssh_proxy_disconnect", session_id: "l1" });
    const logs = JSON.stringify(h.log.entries);
    for (const secret of [PASSWORD, "pass-phrase-secret", "OPENSSH PRIVATE KEY", "typed-secret", "screen-secret"]) expect(logs).not.toContain(secret);
    expect(h.log.entries.map((e) => e.msg)).toEqual([
      "SSH proxy session connecting",
      expect.stringMatching(/first use/),
      "SSH proxy session connected",
      "SSH proxy session closed",
    ]);
    expect(h.log.entries[0]?.fields).toEqual({ sessionId: "l1", target: "127.0.0.1:22", username: "admin" });
  });
});
