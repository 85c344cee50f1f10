import { describe, expect, it } from "vitest";
import { PasswordHasher } from "../src/passwords.js";

describe("PasswordHasher", () => {
  const hasher = new PasswordHasher(10);

  it("verifies the right password and rejects others", async () => {
    const hash = await hasher.hash("correct horse battery staple");
    expect(hash).toMatch(/^scrypt\$10\$8\$1\$[\w-]+\$[\w-]+$/);
    expect(await hasher.verify("correct horse battery staple", hash)).toBe(true);
    expect(await hasher.verify("correct horse battery stapl", hash)).toBe(false);
  });

  it("salts every hash", async () => {
    expect(await hasher.hash("same")).not.toBe(await hasher.hash("same"));
  });

  it("verifies hashes made with another cost, since the cost is encoded", async () => {
    const old = await new PasswordHasher(11).hash("pw");
    expect(await hasher.verify("pw", old)).toBe(true);
  });

  it("treats Unicode-equivalent passwords as equal (NFKC)", async () => {
    const hash = await hasher.hash("caf\u00e9");
    expect(await hasher.verify("cafe\u0301", hash)).toBe(true);
  });

  it("rejects malformed hashes instead of throwing", async () => {
    expect(await hasher.verify("pw", "bcrypt$whatever")).toBe(false);
    expect(await hasher.verify("pw", "")).toBe(false);
    expect(await hasher.verifyDummy("pw")).toBe(false);
  });
});
