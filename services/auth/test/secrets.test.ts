import { describe, expect, it } from "vitest";
import { randomSecret, sealSecret, unsealSecret } from "../src/secrets.js";

describe("sealed secrets", () => {
  const key = randomSecret();
  const secret = randomSecret();

  it("open only with the key secret and the context they were sealed with", () => {
    const sealed = sealSecret(secret, key, "session-1");
    expect(sealed).not.toContain(secret);
    expect(unsealSecret(sealed, key, "session-1")).toBe(secret);
    expect(unsealSecret(sealed, randomSecret(), "session-1")).toBeUndefined();
    expect(unsealSecret(sealed, key, "session-2")).toBeUndefined();
  });

  it("refuse tampered or truncated data instead of throwing", () => {
    const sealed = Buffer.from(sealSecret(secret, key, "s"), "base64url");
    sealed[14] = (sealed[14] ?? 0) ^ 1;
    expect(unsealSecret(sealed.toString("base64url"), key, "s")).toBeUndefined();
    expect(unsealSecret("AAAA", key, "s")).toBeUndefined();
    expect(unsealSecret("", key, "s")).toBeUndefined();
  });

  it("use a fresh IV every time", () => {
    expect(sealSecret(secret, key, "s")).not.toBe(sealSecret(secret, key, "s"));
  });
});
