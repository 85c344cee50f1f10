import { createHash } from "node:crypto";
import type { PinnedHostKey } from "@patchmon-ws/protocol";

export interface PresentedHostKey {
  /** e.g. ssh-ed25519 */
  algorithm: string;
  /** SHA256:<base64, no padding>, as `ssh-keygen -l` prints it */
  fingerprint: string;
}

/** The algorithm and OpenSSH-style fingerprint of a host key in SSH wire format (what ssh2's hostVerifier gets). */
export function describeHostKey(blob: Buffer): PresentedHostKey {
  const fingerprint = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  // The blob starts with the algorithm name as an SSH string: uint32 length, then that many bytes.
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const algorithm = length > 0 && length <= 64 && blob.length >= 4 + length ? blob.toString("latin1", 4, 4 + length) : "unknown";
  return { algorithm: /^[\x21-\x7e]+$/.test(algorithm) ? algorithm : "unknown", fingerprint };
}

/** How a presented key stands against the pin: trust on first use when nothing is pinned, else it must match. */
export function compareWithPin(pinned: Pick<PinnedHostKey, "fingerprint"> | null, presented: PresentedHostKey): "unpinned" | "verified" | "mismatch" {
  if (!pinned) return "unpinned";
  return pinned.fingerprint === presented.fingerprint ? "verified" : "mismatch";
}
