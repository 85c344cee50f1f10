import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { compareWithPin, describeHostKey } from "../src/shells/host-key.js";

/**
 * Fixed keys generated once with ssh-keygen; the fingerprints are what `ssh-keygen -lf` printed for them:
 *   256 SHA256:T+KrCxL6deR5Px85bkqYb8IAFX2/LYMkmGctdCRUbiU test (ED25519)
 *   256 SHA256:L/odtPdxgK8nt6rusICqXxFpRifCeShYrSFxrabl/es test (ECDSA)
 */
const ED25519_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJxu7NtI3lVu6eRmvhKLDso5UTwTgl9qY7AySxxdgjzA test";
const ED25519_FINGERPRINT = "SHA256:T+KrCxL6deR5Px85bkqYb8IAFX2/LYMkmGctdCRUbiU";
const ECDSA_LINE =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEMuTmbYvHSla+d0moqJOXg5GWlU3VffxXVjANjfUozZ6UbWgvP8oQ9JtksTs4pIajKHGxNIA8xEIVOG7THD8+o= test";
const ECDSA_FINGERPRINT = "SHA256:L/odtPdxgK8nt6rusICqXxFpRifCeShYrSFxrabl/es";

/** The SSH wire-format blob of an OpenSSH public key line (its base64 field). */
function blobOf(line: string): Buffer {
  return Buffer.from(line.split(" ")[1]!, "base64");
}

/** An SSH string: uint32 length, then the bytes. */
function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "latin1") : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** OpenSSH's fingerprint, computed independently: unpadded base64 of SHA-256 over the blob. */
function expectedFingerprint(blob: Buffer): string {
  const b64 = createHash("sha256").update(blob).digest("base64");
  return `SHA256:${b64.slice(0, 43)}`;
}

describe("describeHostKey", () => {
  it("gives an ed25519 key's algorithm and the fingerprint ssh-keygen -l prints", () => {
    expect(describeHostKey(blobOf(ED25519_LINE))).toEqual({ algorithm: "ssh-ed25519", fingerprint: ED25519_FINGERPRINT });
  });

  it("gives an ECDSA key's algorithm and fingerprint", () => {
    expect(describeHostKey(blobOf(ECDSA_LINE))).toEqual({ algorithm: "ecdsa-sha2-nistp256", fingerprint: ECDSA_FINGERPRINT });
  });

  it("fingerprints any blob as unpadded base64 SHA-256 (43 characters, no '=')", () => {
    const blob = Buffer.concat([sshString("ssh-rsa"), sshString(Buffer.from([1, 0, 1])), sshString(Buffer.alloc(257, 0xab))]);
    const described = describeHostKey(blob);
    expect(described.algorithm).toBe("ssh-rsa");
    expect(described.fingerprint).toBe(expectedFingerprint(blob));
    expect(described.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("tells different keys apart", () => {
    expect(describeHostKey(blobOf(ED25519_LINE)).fingerprint).not.toBe(describeHostKey(blobOf(ECDSA_LINE)).fingerprint);
    const flipped = blobOf(ED25519_LINE);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 1, flipped.length - 1);
    expect(describeHostKey(flipped).fingerprint).not.toBe(ED25519_FINGERPRINT);
    expect(describeHostKey(flipped).algorithm).toBe("ssh-ed25519");
  });

  it("calls the algorithm unknown for garbage, but still fingerprints it", () => {
    const garbage: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from([0, 0, 0]), // shorter than a length
      Buffer.from([0, 0, 0, 0, 1, 2, 3]), // empty name
      Buffer.concat([Buffer.from([0, 0, 0, 50]), Buffer.from("ssh-ed25519")]), // length beyond the blob
      sshString("x".repeat(65)), // a name longer than any algorithm
      sshString("ssh ed25519"), // a space
      sshString("ssh-\x00ed25519"), // a control character
      sshString(Buffer.from([0xc3, 0xa9])), // not ASCII
      Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
    ];
    for (const blob of garbage) {
      const described = describeHostKey(blob);
      expect(described.algorithm, blob.toString("hex")).toBe("unknown");
      expect(described.fingerprint).toBe(expectedFingerprint(blob));
    }
  });

  it("accepts an algorithm name of up to 64 printable characters", () => {
    const name = "a".repeat(64);
    expect(describeHostKey(sshString(name)).algorithm).toBe(name);
    expect(describeHostKey(sshString("sk-ssh-ed25519@openssh.com")).algorithm).toBe("sk-ssh-ed25519@openssh.com");
  });
});

describe("compareWithPin", () => {
  const presented = describeHostKey(blobOf(ED25519_LINE));

  it("is unpinned when nothing is pinned (trust on first use)", () => {
    expect(compareWithPin(null, presented)).toBe("unpinned");
  });

  it("is verified when the pinned fingerprint matches", () => {
    expect(compareWithPin({ fingerprint: ED25519_FINGERPRINT }, presented)).toBe("verified");
  });

  it("is a mismatch for any other fingerprint, however close", () => {
    expect(compareWithPin({ fingerprint: ECDSA_FINGERPRINT }, presented)).toBe("mismatch");
    expect(compareWithPin({ fingerprint: ED25519_FINGERPRINT.toLowerCase() }, presented)).toBe("mismatch");
    expect(compareWithPin({ fingerprint: `${ED25519_FINGERPRINT}=` }, presented)).toBe("mismatch");
    expect(compareWithPin({ fingerprint: "" }, presented)).toBe("mismatch");
  });
});
