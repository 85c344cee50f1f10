import { ed25519KeyPair } from "./support/ssh-keys.js";
import { describe, expect, it } from "vitest";
import { sshAuthOf, sshHostProblem, sshPortProblem, sshTargetOf } from "../src/ssh-target.js";

describe("ssh_proxy target validation (as the stock agent)", () => {
  it("accepts hostnames, localhost and IPv4 addresses", () => {
    for (const host of ["localhost", "127.0.0.1", "10.255.0.1", "0.0.0.0", "web-1", "db.internal.example.com", "A1.example", "x".repeat(63)]) {
      expect(sshHostProblem(host), host).toBeUndefined();
    }
  });

  it("refuses everything else, including IPv6, URLs, options and over-long names", () => {
    const refused = [
      "",
      "::1",
      "[::1]",
      "256.1.1.1",
      "1.2.3",
      "01.2.3.4.5",
      "-oProxyCommand=sh",
      "host name",
      "host_name",
      "user@host",
      "ssh://host",
      "host.",
      ".host",
      "a..b",
      "-bad.example",
      "bad-.example",
      "x".repeat(64),
      `${"a".repeat(60)}.`.repeat(5),
      "h\nost",
    ];
    for (const host of refused) expect(sshHostProblem(host), JSON.stringify(host)).toBeDefined();
    expect(sshHostProblem("a".repeat(256))).toMatch(/longer than 255/);
    expect(sshHostProblem(undefined)).toBe("host is required");
  });

  it("accepts ports 1-65535 only", () => {
    expect(sshPortProblem(1)).toBeUndefined();
    expect(sshPortProblem(22)).toBeUndefined();
    expect(sshPortProblem(65535)).toBeUndefined();
    for (const port of [0, -1, 65536, 22.5, Number.NaN, "22", undefined]) expect(sshPortProblem(port), String(port)).toMatch(/between 1 and 65535/);
  });

  it("fills the stock defaults: xterm-256color, 80x24", () => {
    expect(sshTargetOf({ session_id: "s", host: "localhost", port: 22, username: "root" })).toEqual({
      target: { host: "localhost", port: 22, username: "root", term: "xterm-256color", cols: 80, rows: 24 },
    });
    expect(sshTargetOf({ session_id: "s", host: "localhost", port: 2222, username: "u", terminal: "vt100", cols: 132, rows: 50 })).toEqual({
      target: { host: "localhost", port: 2222, username: "u", term: "vt100", cols: 132, rows: 50 },
    });
  });

  it("names the problem of a refused request", () => {
    const base = { session_id: "s", host: "localhost", port: 22, username: "root" };
    expect(sshTargetOf({ ...base, session_id: "" })).toEqual({ problem: "session_id is required" });
    expect(sshTargetOf({ ...base, host: "bad host" })).toEqual({ problem: "host must be a hostname, localhost or an IPv4 address" });
    expect(sshTargetOf({ ...base, port: 0 })).toEqual({ problem: "port must be between 1 and 65535" });
    expect(sshTargetOf({ ...base, username: "" })).toEqual({ problem: "username is required" });
    expect(sshTargetOf({ ...base, username: "ro\not" })).toEqual({ problem: "username contains control characters" });
    expect(sshTargetOf({ ...base, terminal: "xterm; rm -rf /" })).toMatchObject({ problem: expect.stringMatching(/^terminal must be/) });
  });
});

describe("ssh_proxy authentication choice", () => {
  const plain = ed25519KeyPair().private;
  const encrypted = ed25519KeyPair({ passphrase: "open sesame", cipher: "aes256-ctr", rounds: 16 }).private;

  it("prefers the private key, keeping a password as the fallback", () => {
    expect(sshAuthOf({ private_key: plain, password: "pw" })).toEqual({ auth: { kind: "key", privateKey: plain, passphrase: undefined, password: "pw" } });
    expect(sshAuthOf({ private_key: plain })).toEqual({ auth: { kind: "key", privateKey: plain, passphrase: undefined, password: undefined } });
    expect(sshAuthOf({ password: "pw" })).toEqual({ auth: { kind: "password", password: "pw" } });
  });

  it("opens an encrypted key with its passphrase, and refuses it without (never quoting the key)", () => {
    expect(sshAuthOf({ private_key: encrypted, passphrase: "open sesame" })).toMatchObject({ auth: { kind: "key", passphrase: "open sesame" } });
    const missing = sshAuthOf({ private_key: encrypted });
    expect(missing).toMatchObject({ problem: expect.stringMatching(/^Invalid private key: .*passphrase/i) });
    const wrong = sshAuthOf({ private_key: encrypted, passphrase: "wrong" });
    expect(wrong).toMatchObject({ problem: expect.stringMatching(/^Invalid private key/) });
    const garbage = sshAuthOf({ private_key: "-----BEGIN NONSENSE-----\nAAAA\n-----END NONSENSE-----" });
    expect(garbage).toMatchObject({ problem: expect.stringMatching(/^Invalid private key/) });
    expect(JSON.stringify([missing, wrong, garbage])).not.toMatch(/BEGIN|AAAA/);
  });

  it("refuses a public key in place of a private one", () => {
    const publicKey = ed25519KeyPair().public;
    expect(sshAuthOf({ private_key: publicKey })).toEqual({ problem: "Invalid private key: this is a public key" });
  });

  it("needs a password or a key", () => {
    expect(sshAuthOf({})).toEqual({ problem: "No authentication method provided: send a password or a private_key" });
    expect(sshAuthOf({ password: "", private_key: "" })).toMatchObject({ problem: expect.stringMatching(/^No authentication method provided/) });
  });
});
