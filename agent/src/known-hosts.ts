/**
 * OpenSSH known_hosts files, for the SSH proxy's own host-key checking (the stock agent accepts any host key).
 *
 * Format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): `[marker] hostpatterns keytype base64-key [comment]`, where
 * hostpatterns is a comma-separated list of names (`host`, or `[host]:port` for a port other than 22) with `*` / `?`
 * wildcards and `!` negation, or one hashed name `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. Comments, blank
 * lines and malformed lines are skipped; `@cert-authority` lines are ignored (no certificates here); a key listed
 * under `@revoked` is refused. Everything but KnownHostsFile is pure.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface KnownHostEntry {
  /** `@revoked` lines; `@cert-authority` lines are dropped by the parser. */
  readonly revoked: boolean;
  /** The host field as written (patterns or one hashed name). */
  readonly hosts: string;
  readonly keyType: string;
  readonly key: Buffer;
  /** 1-based line number, for messages. */
  readonly line: number;
}

export interface HostKeyIdentity {
  /** The key type inside the blob, e.g. ssh-ed25519. */
  readonly algorithm: string;
  /** OpenSSH style: `SHA256:` + base64 (no padding) of SHA-256 of the raw key blob. */
  readonly fingerprint: string;
}

export type HostKeyCheck =
  | { readonly status: "known" }
  | { readonly status: "unknown" }
  /** Entries exist for this host, none with the presented key. */
  | { readonly status: "changed"; readonly expected: readonly HostKeyIdentity[] }
  | { readonly status: "revoked" };

/** SHA256 fingerprint of a raw SSH public key blob, as `ssh-keygen -l -E sha256` prints it. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type a public key blob declares (its first SSH string), or undefined for a malformed blob. */
export function keyAlgorithmOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return undefined;
  const name = key.subarray(4, 4 + length).toString("latin1");
  return /^[\x21-\x7e]+$/.test(name) ? name : undefined;
}

export function identityOf(key: Buffer): HostKeyIdentity {
  return { algorithm: keyAlgorithmOf(key) ?? "unknown", fingerprint: fingerprintOf(key) };
}

/** The name a host is looked up (and recorded) under: `host` for port 22, `[host]:port` otherwise; lower case. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** One known_hosts line for a key (what trust on first use appends). */
export function formatKnownHostsLine(host: string, port: number, key: Buffer): string {
  const algorithm = keyAlgorithmOf(key);
  if (algorithm === undefined) throw new Error("malformed SSH public key blob");
  return `${knownHostName(host, port)} ${algorithm} ${key.toString("base64")}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index += 1) {
    const line = (lines[index] as string).trim();
    if (line.length === 0 || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0]?.startsWith("@")) {
      const marker = fields.shift() as string;
      if (marker === "@revoked") revoked = true;
      // @cert-authority (and any marker we do not know) never vouches for a plain host key.
      else continue;
    }
    const [hosts, keyType, base64] = fields;
    if (hosts === undefined || keyType === undefined || base64 === undefined) continue;
    // SSH1 RSA lines ("host bits exponent modulus") and other junk.
    if (!/^[A-Za-z][\x21-\x7e]*$/.test(keyType) || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) continue;
    const key = Buffer.from(base64, "base64");
    if (keyAlgorithmOf(key) !== keyType) continue;
    entries.push({ revoked, hosts, keyType, key, line: index + 1 });
  }
  return entries;
}

/** Does an entry's host field name `name` (from knownHostName)? */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith("|")) return hashedNameMatches(hosts, name);
  let matched = false;
  for (const raw of hosts.split(",")) {
    if (raw.length === 0) continue;
    const negated = raw.startsWith("!");
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatches(pattern, name)) continue;
    // A matching negation rules the name out whatever else matches (OpenSSH match_hostname).
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `|1|salt|hash`: HMAC-SHA1 keyed with the salt over the looked-up name. Other hash formats never match. */
function hashedNameMatches(field: string, name: string): boolean {
  const parts = field.split("|");
  if (parts.length !== 4 || parts[0] !== "" || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2] as string, "base64");
  const expected = Buffer.from(parts[3] as string, "base64");
  if (salt.length === 0 || expected.length !== 20) return false;
  const actual = createHmac("sha1", salt).update(name).digest();
  return timingSafeEqual(actual, expected);
}

function wildcardMatches(pattern: string, name: string): boolean {
  if (!pattern.includes("*") && !pattern.includes("?")) return pattern === name;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${source}$`, "s").test(name);
}

/** Looks a presented host key up: known, unknown, changed (the expected keys), or revoked. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyCheck {
  const name = knownHostName(host, port);
  const matching = entries.filter((entry) => hostFieldMatches(entry.hosts, name));
  if (matching.some((entry) => entry.revoked && entry.key.equals(key))) return { status: "revoked" };
  const pinned = matching.filter((entry) => !entry.revoked);
  if (pinned.length === 0) return { status: "unknown" };
  if (pinned.some((entry) => entry.key.equals(key))) return { status: "known" };
  // Keys of another type count too: a server offering a type we never pinned is refused, not silently re-pinned.
  const seen = new Set<string>();
  const expected: HostKeyIdentity[] = [];
  for (const entry of pinned) {
    const identity = identityOf(entry.key);
    if (seen.has(identity.fingerprint)) continue;
    seen.add(identity.fingerprint);
    expected.push(identity);
  }
  return { status: "changed", expected };
}

/** The outcome of recording a host key: added now, already there, or a different key won meanwhile. */
export type PinOutcome = { readonly status: "added" } | Exclude<HostKeyCheck, { status: "unknown" }>;

/**
 * One known_hosts file on disk: read on every check (an operator may edit it while the agent runs), appended to
 * under a lock so two first connections to one host cannot both pin (the second re-checks and sees the first).
 */
export class KnownHostsFile {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  async check(host: string, port: number, key: Buffer): Promise<HostKeyCheck> {
    const text = await this.read();
    return checkHostKey(parseKnownHosts(text), host, port, key);
  }

  /** Trust on first use: appends `key` for the host unless an entry appeared meanwhile. */
  pin(host: string, port: number, key: Buffer): Promise<PinOutcome> {
    const run = this.queue.then(async (): Promise<PinOutcome> => {
      const text = await this.read();
      const check = checkHostKey(parseKnownHosts(text), host, port, key);
      if (check.status !== "unknown") return check;
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const handle = await open(this.path, "a", 0o600);
      try {
        const separator = text.length > 0 && !text.endsWith("\n") ? "\n" : "";
        await handle.write(`${separator}${formatKnownHostsLine(host, port, key)}\n`);
      } finally {
        await handle.close();
      }
      return { status: "added" };
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private async read(): Promise<string> {
    try {
      return await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw error;
    }
  }
}
