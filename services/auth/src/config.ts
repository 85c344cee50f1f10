import { z } from "zod";
import { commonConfigShape, env, loadConfig } from "@patchmon-ws/service-kit";

/** Every variable the auth service reads, with its default. The README's configuration table mirrors this. */
export const authConfigSchema = z.object({
  ...commonConfigShape,
  PORT: env.port(3001),
  /** HMAC key for access tokens; only the auth service ever holds it. */
  JWT_SECRET: z.string({ message: "is required (at least 32 characters)" }).min(32, "must be at least 32 characters"),
  /**
   * Keys rotated away from, comma-separated: tokens they signed still verify until they expire. Rotate by moving
   * the old JWT_SECRET here and setting a new one; drop it after ACCESS_TOKEN_TTL_SECONDS (and the bullboard TTL).
   */
  JWT_PREVIOUS_SECRETS: env
    .list("")
    .refine((keys) => keys.every((k) => k.length >= 32), "every key must be at least 32 characters"),
  ACCESS_TOKEN_TTL_SECONDS: env.positiveInt(900),
  REFRESH_TOKEN_TTL_SECONDS: env.positiveInt(7 * 24 * 3600),
  /**
   * How long the refresh token just rotated away still returns the pair it was exchanged for, so two tabs
   * refreshing at once keep their session. After it, presenting it is reuse and revokes the session. 0: strict.
   */
  REFRESH_REUSE_GRACE_SECONDS: z.coerce.number().int().min(0).max(60).default(5),
  BULLBOARD_TOKEN_TTL_SECONDS: env.positiveInt(900),
  TICKET_TTL_SECONDS: z.coerce.number().int().min(1).max(30).default(30),
  ADMIN_USERNAME: z.string().regex(/^[A-Za-z0-9._@+-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 . _ @ + -").default("admin"),
  /** Unset: a random password is generated and printed once, on the first start only. */
  ADMIN_PASSWORD: z.string().min(8, "must be at least 8 characters").optional(),
  /** log2 of scrypt's N (memory ≈ 128 × 8 × 2^cost bytes: 15 → 32 MiB). */
  PASSWORD_HASH_COST: z.coerce.number().int().min(10).max(20).default(15),
  LOGIN_MAX_FAILURES: env.positiveInt(10),
  LOGIN_FAILURE_WINDOW_SECONDS: env.positiveInt(300),
  AGENT_AUTH_MAX_FAILURES: env.positiveInt(20),
  AGENT_AUTH_FAILURE_WINDOW_SECONDS: env.positiveInt(60),
  /**
   * Bad (unknown, spent, expired) tickets per source address, counted apart from logins: the losers of a ticket
   * race (double click, retry) must never lock a user out of signing in.
   */
  TICKET_MAX_FAILURES: env.positiveInt(30),
  TICKET_FAILURE_WINDOW_SECONDS: env.positiveInt(60),
  /** Public base URL written into agent configs; default: derived from the request (trusted X-Forwarded-*). */
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Replicas of each JetStream KV bucket (1 for a single nats-server, 3 for a cluster). */
  KV_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
});

export type AuthConfig = z.infer<typeof authConfigSchema>;

export function loadAuthConfig(source: NodeJS.ProcessEnv = process.env): AuthConfig {
  return loadConfig(authConfigSchema, source);
}
