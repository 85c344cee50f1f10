import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client, type ConnectConfig } from "ssh2";
import { startSshd, type TestSshd } from "@patchmon-ws/testkit";

interface Session {
  output: string;
  /** SHA256:… of the host key the client was shown, as OpenSSH prints it. */
  fingerprint: string;
}

/** Connects with ssh2, runs `command`, and resolves with its stdout and the host key fingerprint seen. */
function sshExec(sshd: TestSshd, auth: Partial<ConnectConfig>, command: string): Promise<Session> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let fingerprint = "";
    // Keyboard-interactive: answer every prompt with the password.
    client.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => sshd.user.password)));
    client.on("ready", () => {
      client.exec(command, (err, stream) => {
        if (err) return reject(err);
        let output = "";
        stream.on("data", (chunk: Buffer) => (output += chunk.toString()));
        stream.stderr.on("data", () => undefined);
        stream.on("close", () => {
          client.end();
          resolve({ output, fingerprint });
        });
      });
    });
    client.on("error", reject);
    client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user.username,
      readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => {
        fingerprint = `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
        return true;
      },
      ...auth,
    });
  });
}

describe("startSshd: a private OpenSSH sshd", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.dispose();
  });

  it("lets the test user in with the password, and the host key is the one announced", async () => {
    const session = await sshExec(sshd, { password: sshd.user.password }, "echo hello");
    expect(session.output).toBe("hello\n");
    expect(sshd.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(session.fingerprint).toBe(sshd.hostKeyFingerprint);
    expect(sshd.hostKeyFingerprints.ed25519).toBe(sshd.hostKeyFingerprint);
  });

  it("lets the test user in with the generated key", async () => {
    const session = await sshExec(sshd, { privateKey: sshd.user.privateKey }, "echo key");
    expect(session.output).toBe("key\n");
  });

  it("refuses a wrong password", async () => {
    await expect(sshExec(sshd, { password: "not-the-password" }, "echo no")).rejects.toThrow(/authentication methods failed/i);
  });

  it("restartWithNewHostKey: same port, a different host key", async () => {
    const before = sshd.hostKeyFingerprint;
    const port = sshd.port;
    await sshd.restartWithNewHostKey();
    expect(sshd.port).toBe(port);
    expect(sshd.hostKeyFingerprint).not.toBe(before);
    const session = await sshExec(sshd, { password: sshd.user.password }, "echo again");
    expect(session).toEqual({ output: "again\n", fingerprint: sshd.hostKeyFingerprint });
  });

  it("offers no keyboard-interactive without PAM", async () => {
    await expect(sshExec(sshd, { tryKeyboard: true, authHandler: ["keyboard-interactive"] }, "echo kbd")).rejects.toThrow(/authentication methods failed/i);
  });
});

describe("startSshd({ keyboardInteractive: true })", () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd({ keyboardInteractive: true, hostKeyTypes: ["ed25519", "ecdsa"] });
  });
  afterAll(async () => {
    await sshd?.dispose();
  });

  it("answers the password prompt, and still takes passwords and keys", async () => {
    expect((await sshExec(sshd, { tryKeyboard: true, authHandler: ["keyboard-interactive"] }, "echo kbd")).output).toBe("kbd\n");
    expect((await sshExec(sshd, { password: sshd.user.password }, "echo pw")).output).toBe("pw\n");
    expect((await sshExec(sshd, { privateKey: sshd.user.privateKey }, "echo key")).output).toBe("key\n");
    await expect(sshExec(sshd, { password: "wrong" }, "echo no")).rejects.toThrow(/authentication methods failed/i);
  });

  it("announces a fingerprint per host key type", () => {
    expect(Object.keys(sshd.hostKeyFingerprints).sort()).toEqual(["ecdsa", "ed25519"]);
    expect(sshd.hostKeyFingerprints.ecdsa).toMatch(/^SHA256:/);
    expect(sshd.hostPublicKeys.ed25519).toMatch(/^ssh-ed25519 AAAA/);
  });
});
