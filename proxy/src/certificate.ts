import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generate } from "selfsigned";

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/** Names the self-signed certificate is valid for: the loopback names a local browser or agent uses. */
export const SELF_SIGNED_DNS_NAMES = ["localhost"] as const;
export const SELF_SIGNED_IPS = ["127.0.0.1", "::1"] as const;
/** A self-signed certificate is valid this long, and replaced once fewer than RENEW_BEFORE_DAYS remain. */
const VALIDITY_DAYS = 825;
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 24 * 3600 * 1000;

export const CERT_FILE = "edge-cert.pem";
export const KEY_FILE = "edge-key.pem";

/** A value that is PEM text is used as is; anything else is a path to a PEM file. */
export async function readPem(value: string): Promise<string> {
  return value.includes("-----BEGIN ") ? value : readFile(value, "utf8");
}

/** Loads a configured certificate and key, checking that they belong together. */
export async function loadTlsMaterial(source: { cert: string; key: string }): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readPem(source.cert), readPem(source.key)]);
  if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    throw new Error("the TLS private key does not match the certificate");
  }
  return { cert, key };
}

/** Whether a stored self-signed certificate can still serve: parses, matches its key, covers the names, not near expiry. */
function usable(material: TlsMaterial, now: number): boolean {
  try {
    const x509 = new X509Certificate(material.cert);
    if (!x509.checkPrivateKey(createPrivateKey(material.key))) return false;
    if (new Date(x509.validTo).getTime() - now < RENEW_BEFORE_DAYS * DAY_MS) return false;
    return SELF_SIGNED_DNS_NAMES.every((name) => x509.checkHost(name)) && SELF_SIGNED_IPS.every((ip) => x509.checkIP(ip));
  } catch {
    return false;
  }
}

async function readStored(stateDir: string): Promise<TlsMaterial | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(join(stateDir, CERT_FILE), "utf8"), readFile(join(stateDir, KEY_FILE), "utf8")]);
    return { cert, key };
  } catch {
    return undefined;
  }
}

/** Writes through a temporary file and a rename, so a reader never sees half a PEM. */
async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content, { mode });
  await rename(temporary, path);
}

/**
 * The self-signed certificate for localhost / 127.0.0.1 / ::1, generated once into `stateDir` and reused on later
 * starts (so a browser exception or an agent's pinned CA keeps working); regenerated when missing, damaged or within
 * 30 days of expiry. The key file is readable by its owner only.
 */
export async function loadOrCreateSelfSigned(stateDir: string, now = Date.now()): Promise<TlsMaterial & { created: boolean }> {
  const stored = await readStored(stateDir);
  if (stored && usable(stored, now)) return { ...stored, created: false };

  const pems = await generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + VALIDITY_DAYS * DAY_MS),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: [...SELF_SIGNED_DNS_NAMES.map((value) => ({ type: 2 as const, value })), ...SELF_SIGNED_IPS.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await writeAtomically(join(stateDir, KEY_FILE), pems.private, 0o600);
  await writeAtomically(join(stateDir, CERT_FILE), pems.cert, 0o644);
  return { cert: pems.cert, key: pems.private, created: true };
}
