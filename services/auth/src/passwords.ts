import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function scryptOptions(cost: number, r: number, p: number): ScryptOptions {
  // maxmem must exceed 128 * N * r; leave headroom.
  return { N: 2 ** cost, r, p, maxmem: 256 * 2 ** cost * r + 1024 * 1024 };
}

/**
 * Memory-hard password hashing with node:crypto's scrypt (no native build needed). The encoded form carries its
 * parameters, `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`, so the cost can rise without invalidating stored hashes.
 */
export class PasswordHasher {
  private readonly dummy: Promise<string>;

  constructor(private readonly cost: number = 15) {
    this.dummy = this.hash(randomBytes(16).toString("hex"));
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await derive(password, salt, scryptOptions(this.cost, 8, 1));
    return ["scrypt", this.cost, 8, 1, salt.toString("base64url"), key.toString("base64url")].join("$");
  }

  async verify(password: string, encoded: string): Promise<boolean> {
    const [scheme, costText, rText, pText, saltText, keyText] = encoded.split("$");
    if (scheme !== "scrypt" || !saltText || !keyText) return false;
    const expected = Buffer.from(keyText, "base64url");
    const key = await derive(password, Buffer.from(saltText, "base64url"), scryptOptions(Number(costText), Number(rText), Number(pText)));
    return key.length === expected.length && timingSafeEqual(key, expected);
  }

  /** Spends the same time as a real verification, so unknown usernames cannot be told apart by timing. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(password, await this.dummy);
    return false;
  }
}
