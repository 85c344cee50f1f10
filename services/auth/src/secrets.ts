import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A URL-safe random secret with `bytes` bytes of entropy. */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/** SHA-256 hex digest. Enough for high-entropy secrets (API keys, tickets, refresh tokens); never for passwords. */
export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Compares two hex digests in constant time. */
export function digestsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** PatchMon-style credentials: `patchmon_<32 hex>` and a 64-hex-character key (256 bits). */
export function newApiCredentials(): { apiId: string; apiKey: string } {
  return { apiId: `patchmon_${randomBytes(16).toString("hex")}`, apiKey: randomBytes(32).toString("hex") };
}
