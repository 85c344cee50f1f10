import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

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

const SEAL_INFO = "patchmon-ws sealed secret v1";

function sealingKey(keySecret: string, context: string): Buffer {
  return Buffer.from(hkdfSync("sha256", keySecret, context, SEAL_INFO, 32));
}

/**
 * Encrypts `secret` (AES-256-GCM) under a key derived (HKDF-SHA256) from another high-entropy secret, bound to
 * `context`. Only someone holding `keySecret` can open it; its hash alone does not help. Output: base64url of
 * iv ‖ ciphertext ‖ tag.
 */
export function sealSecret(secret: string, keySecret: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(keySecret, context), iv);
  cipher.setAAD(Buffer.from(context, "utf8"));
  const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Opens what sealSecret made; undefined when the key, the context or the data is wrong. */
export function unsealSecret(sealed: string, keySecret: string, context: string): string | undefined {
  const data = Buffer.from(sealed, "base64url");
  if (data.length < 12 + 16 + 1) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(keySecret, context), data.subarray(0, 12));
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
