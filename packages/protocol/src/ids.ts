import { z } from "zod";

/**
 * Identifiers that end up in NATS subjects or KV keys. Only letters, digits, `_` and `-`: subject
 * metacharacters (`.`, `*`, `>`, whitespace) can never reach a subject or split a key.
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export const identifier = (what: string) =>
  z.string().regex(IDENTIFIER_PATTERN, `${what} must be 1-128 characters of A-Z, a-z, 0-9, _ or -`);

export const HostId = identifier("host id");
export const UserId = identifier("user id");
export const SessionId = identifier("session id");
export const ApiId = identifier("api id");

export function isIdentifier(value: unknown): value is string {
  return typeof value === "string" && IDENTIFIER_PATTERN.test(value);
}
