import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkHostKey,
  fingerprintOf,
  formatKnownHostsLine,
  hostFieldMatches,
  keyAlgorithmOf,
  KnownHostsFile,
  knownHostName,
  parseKnownHosts,
} from "../src/known-hosts.js";

// Generated with ssh-keygen; fingerprints as `ssh-keygen -l -E sha256` printed them.
const ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIAoHYeme11MptaRVaKicGxNA8OXs8n1m8w5QS4u1S0nq";
const ED25519_FP = "SHA256:KshdxpwHTVXSVKFVeF3ilLUSB81PJrIf7CzxOvbtqkA";
const ECDSA = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMff4FVSD8fus0fVaFOm2hDy2yrPldDFUrr+72Zv0DXSjw1qeRYDZRWCZxKTXGNx6s4ilDxj3ZfogdtaZ3f8ouY=";
const ECDSA_FP = "SHA256:+8nBbVpRZXP9ScptK9wHSO49QRgTlO+YIfUIV+3gY/0";
const OTHER_ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIOfNH7kxfiZicNwSqNWXM7k8tpzW3s4L88Ze3qRP/x5r";
// `ssh-keygen -H` of "[example.com]:2222 ssh-ed25519 <ED25519>".
const HASHED_EXAMPLE_2222 = "|1|XYJ1rQB3Bted65iipPzWAi1/BL0=|Yn7lYvP4OT9gxqd+EopjsCsN30U=";

const blob = (base64: string) => Buffer.from(base64, "base64");

describe("fingerprints and key blobs", () => {
  it("prints SHA256 fingerprints exactly as ssh-keygen", () => {
    expect(fingerprintOf(blob(ED25519))).toBe(ED25519_FP);
    expect(fingerprintOf(blob(ECDSA))).toBe(ECDSA_FP);
  });

  it("reads the key type from the blob, and refuses malformed blobs", () => {
    expect(keyAlgorithmOf(blob(ED25519))).toBe("ssh-ed25519");
    expect(keyAlgorithmOf(blob(ECDSA))).toBe("ecdsa-sha2-nistp256");
    expect(keyAlgorithmOf(Buffer.from([0, 0]))).toBeUndefined();
    expect(keyAlgorithmOf(Buffer.from([0, 0, 0, 9, 0x61]))).toBeUndefined();
    expect(keyAlgorithmOf(Buffer.from([0, 0, 0, 0]))).toBeUndefined();
  });
});

describe("host names and patterns", () => {
  it("names port 22 bare and other ports [host]:port, lower-cased", () => {
    expect(knownHostName("Example.COM", 22)).toBe("example.com");
    expect(knownHostName("127.0.0.1", 2222)).toBe("[127.0.0.1]:2222");
    expect(formatKnownHostsLine("localhost", 2200, blob(ED25519))).toBe(`[localhost]:2200 ssh-ed25519 ${ED25519}`);
  });

  it("matches comma lists, wildcards and negations as OpenSSH does", () => {
    expect(hostFieldMatches("a.example,b.example", "b.example")).toBe(true);
    expect(hostFieldMatches("a.example,b.example", "c.example")).toBe(false);
    expect(hostFieldMatches("*.example", "db.example")).toBe(true);
    expect(hostFieldMatches("*.example", "example")).toBe(false);
    expect(hostFieldMatches("web?.example", "web1.example")).toBe(true);
    expect(hostFieldMatches("web?.example", "web10.example")).toBe(false);
    expect(hostFieldMatches("*.example,!secret.example", "secret.example")).toBe(false);
    expect(hostFieldMatches("*.example,!secret.example", "open.example")).toBe(true);
    expect(hostFieldMatches("!secret.example", "open.example")).toBe(false);
    expect(hostFieldMatches("[127.0.0.1]:2222", "[127.0.0.1]:2222")).toBe(true);
    expect(hostFieldMatches("127.0.0.1", "[127.0.0.1]:2222")).toBe(false);
    expect(hostFieldMatches("EXAMPLE.com", "example.com")).toBe(true);
    expect(hostFieldMatches("a.b", "axb")).toBe(false);
  });

  it("matches hashed names (|1|salt|hash) written by ssh-keygen -H", () => {
    expect(hostFieldMatches(HASHED_EXAMPLE_2222, "[example.com]:2222")).toBe(true);
    expect(hostFieldMatches(HASHED_EXAMPLE_2222, "example.com")).toBe(false);
    expect(hostFieldMatches("|2|abc|def", "example.com")).toBe(false);
    expect(hostFieldMatches("|1|bm90LWJhc2U2NA|", "example.com")).toBe(false);
  });
});

describe("parseKnownHosts", () => {
  it("skips comments, blank lines, @cert-authority, SSH1 and malformed lines; keeps @revoked", () => {
    const text = [
      "# a comment",
      "",
      "   ",
      `example.com ssh-ed25519 ${ED25519} laptop`,
      `@cert-authority *.example ssh-ed25519 ${OTHER_ED25519}`,
      `@revoked bad.example ssh-ed25519 ${OTHER_ED25519}`,
      `@unknown x.example ssh-ed25519 ${OTHER_ED25519}`,
      "old.example 1024 35 1234567890",
      "truncated.example ssh-ed25519",
      `mismatch.example ssh-rsa ${ED25519}`,
      `garbage.example ssh-ed25519 not*base64`,
      `\t[10.0.0.1]:2222,db.example\tecdsa-sha2-nistp256\t${ECDSA}\r`,
    ].join("\n");
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.hosts, e.keyType, e.revoked])).toEqual([
      [4, "example.com", "ssh-ed25519", false],
      [6, "bad.example", "ssh-ed25519", true],
      [12, "[10.0.0.1]:2222,db.example", "ecdsa-sha2-nistp256", false],
    ]);
    expect(entries[0]?.key.equals(blob(ED25519))).toBe(true);
  });
});

describe("checkHostKey", () => {
  const entries = parseKnownHosts(
    [
      `[127.0.0.1]:2222 ssh-ed25519 ${ED25519}`,
      `${HASHED_EXAMPLE_2222} ssh-ed25519 ${ED25519}`,
      `multi.example ssh-ed25519 ${ED25519}`,
      `multi.example ecdsa-sha2-nistp256 ${ECDSA}`,
      `@revoked * ssh-ed25519 ${OTHER_ED25519}`,
    ].join("\n"),
  );

  it("knows a pinned key, by plain or hashed name, and any of several keys of a host", () => {
    expect(checkHostKey(entries, "127.0.0.1", 2222, blob(ED25519))).toEqual({ status: "known" });
    expect(checkHostKey(entries, "example.com", 2222, blob(ED25519))).toEqual({ status: "known" });
    expect(checkHostKey(entries, "multi.example", 22, blob(ECDSA))).toEqual({ status: "known" });
  });

  it("does not know another port or another host", () => {
    expect(checkHostKey(entries, "127.0.0.1", 22, blob(ED25519))).toEqual({ status: "unknown" });
    expect(checkHostKey(entries, "db.example", 22, blob(ECDSA))).toEqual({ status: "unknown" });
  });

  it("reports a changed key with every expected fingerprint, including keys of another type", () => {
    expect(checkHostKey(entries, "127.0.0.1", 2222, blob(ECDSA))).toEqual({
      status: "changed",
      expected: [{ algorithm: "ssh-ed25519", fingerprint: ED25519_FP }],
    });
    const other = parseKnownHosts(`multi.example ecdsa-sha2-nistp256 ${ECDSA}`);
    expect(checkHostKey(other, "multi.example", 22, blob(ED25519))).toEqual({
      status: "changed",
      expected: [{ algorithm: "ecdsa-sha2-nistp256", fingerprint: ECDSA_FP }],
    });
  });

  it("refuses a revoked key whatever else is listed", () => {
    expect(checkHostKey(entries, "anything.example", 22, blob(OTHER_ED25519))).toEqual({ status: "revoked" });
  });
});

describe("KnownHostsFile", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "pmws-known-hosts-"));
    dirs.push(dir);
    return dir;
  };

  it("treats a missing file as empty, and pins by creating its folder 0700 and the file 0600", async () => {
    const path = join(tempDir(), "nested", "deeper", "known_hosts");
    const file = new KnownHostsFile(path);
    expect(await file.check("127.0.0.1", 2222, blob(ED25519))).toEqual({ status: "unknown" });
    expect(await file.pin("127.0.0.1", 2222, blob(ED25519))).toEqual({ status: "added" });
    expect(readFileSync(path, "utf8")).toBe(`[127.0.0.1]:2222 ssh-ed25519 ${ED25519}\n`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
    expect(statSync(join(path, "..", "..")).mode & 0o777).toBe(0o700);
    expect(await file.check("127.0.0.1", 2222, blob(ED25519))).toEqual({ status: "known" });
  });

  it("appends after an operator's last line even without a final newline, and re-reads the file on every check", async () => {
    const path = join(tempDir(), "known_hosts");
    writeFileSync(path, `# mine\nexample.com ssh-ed25519 ${OTHER_ED25519}`);
    const file = new KnownHostsFile(path);
    expect(await file.pin("localhost", 22, blob(ED25519))).toEqual({ status: "added" });
    expect(readFileSync(path, "utf8")).toBe(`# mine\nexample.com ssh-ed25519 ${OTHER_ED25519}\nlocalhost ssh-ed25519 ${ED25519}\n`);
    writeFileSync(path, "");
    expect(await file.check("localhost", 22, blob(ED25519))).toEqual({ status: "unknown" });
  });

  it("serialises pins: of two first connections presenting different keys, the second is refused", async () => {
    const path = join(tempDir(), "known_hosts");
    const file = new KnownHostsFile(path);
    const [first, second, again] = await Promise.all([
      file.pin("10.0.0.5", 22, blob(ED25519)),
      file.pin("10.0.0.5", 22, blob(ECDSA)),
      file.pin("10.0.0.5", 22, blob(ED25519)),
    ]);
    expect(first).toEqual({ status: "added" });
    expect(second).toEqual({ status: "changed", expected: [{ algorithm: "ssh-ed25519", fingerprint: ED25519_FP }] });
    expect(again).toEqual({ status: "known" });
    expect(readFileSync(path, "utf8").trim().split("\n")).toHaveLength(1);
  });

  it("reports a file it cannot read (not ENOENT) as an error", async () => {
    const dir = tempDir();
    await expect(new KnownHostsFile(dir).check("h", 22, blob(ED25519))).rejects.toThrow(/EISDIR/);
  });
});
