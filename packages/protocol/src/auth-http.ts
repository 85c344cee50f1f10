/**
 * Request and response bodies of the auth service's REST API (/api/v1/auth/*, /api/v1/users, /api/v1/hosts), so
 * the web UI, tests and other clients share one definition with the server. Field names are a public contract:
 * never rename one. Browser-safe: zod only, no Node built-ins.
 */
import { z } from "zod";
import { Permission, Role, SshTarget, TicketPurpose, HostRecord } from "./auth.js";
import { UserId } from "./ids.js";

export const USERNAME_PATTERN = /^[A-Za-z0-9._@+-]{1,64}$/;

export const Username = z.string().regex(USERNAME_PATTERN, "must be 1-64 characters of A-Z a-z 0-9 . _ @ + -");
export const Password = z.string().min(8, "must be at least 8 characters").max(1024);
const HostName = z.string().trim().min(1).max(255);
/** An SSH target as a client may send it: port and username have defaults. */
export const SshTargetInput = z.object({
  address: SshTarget.shape.address,
  port: SshTarget.shape.port.default(22),
  username: SshTarget.shape.username.default("root"),
});

/** POST /api/v1/auth/login. Looser than Username on purpose: a login never tells which usernames are valid. */
export const LoginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(1024) });
export type LoginBody = z.input<typeof LoginBody>;

/** POST /api/v1/auth/refresh: the refresh token normally comes in its HttpOnly cookie; a body is the fallback. */
export const RefreshBody = z.object({ refreshToken: z.string().min(1).max(1024).optional() });
export type RefreshBody = z.input<typeof RefreshBody>;

/** A user as clients see it (never the password hash). */
export const UserView = z.object({
  id: UserId,
  username: z.string(),
  role: Role,
  permissions: z.array(Permission),
  disabled: z.boolean(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type UserView = z.infer<typeof UserView>;

/** The answer to a login and to a refresh; the refresh token travels in the HttpOnly `refresh_token` cookie. */
export const SessionResponse = z.object({
  accessToken: z.string(),
  tokenType: z.literal("Bearer"),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  user: UserView,
});
export type SessionResponse = z.infer<typeof SessionResponse>;
export const LoginResponse = SessionResponse;
export type LoginResponse = SessionResponse;
export const RefreshResponse = SessionResponse;
export type RefreshResponse = SessionResponse;

/** GET /api/v1/auth/me: `permissions` are the effective ones (an admin holds them all). */
export const MeResponse = z.object({ user: UserView });
export type MeResponse = z.infer<typeof MeResponse>;

/** POST /api/v1/auth/ticket. `target` is a host id for ssh-terminal, "*" otherwise. */
export const TicketBody = z.object({ purpose: TicketPurpose, target: z.string().min(1).max(128).default("*") });
export type TicketBody = z.input<typeof TicketBody>;
export const TicketResponse = z.object({
  ticket: z.string(),
  /** Seconds. */
  expiresIn: z.number().int(),
});
export type TicketResponse = z.infer<typeof TicketResponse>;

/** A PATCH body: any of these fields, at least one. */
const patchOf = <S extends z.ZodRawShape>(shape: S) =>
  z
    .object(shape)
    .partial()
    .refine((p) => Object.keys(p).length > 0, "nothing to change");

/** POST /api/v1/users */
export const NewUserBody = z.object({
  username: Username,
  password: Password,
  role: Role.default("user"),
  permissions: z.array(Permission).default([]),
});
export type NewUserBody = z.input<typeof NewUserBody>;

/** PATCH /api/v1/users/:id: at least one field. */
export const UserPatchBody = patchOf({ role: Role, permissions: z.array(Permission), disabled: z.boolean(), password: Password });
export type UserPatchBody = z.input<typeof UserPatchBody>;

/** GET/POST/PATCH /api/v1/users[/:id] answer `{user}`; GET /api/v1/users answers `{users}`. */
export const UserResponse = z.object({ user: UserView });
export type UserResponse = z.infer<typeof UserResponse>;
export const UserListResponse = z.object({ users: z.array(UserView) });
export type UserListResponse = z.infer<typeof UserListResponse>;

/** POST /api/v1/hosts */
export const NewHostBody = z.object({
  name: HostName,
  ssh: SshTargetInput.nullable().default(null),
  recordSessions: z.boolean().nullable().default(null),
});
export type NewHostBody = z.input<typeof NewHostBody>;

/**
 * PATCH /api/v1/hosts/:id: at least one field; `hostKey: null` clears the pinned SSH host key; `recordSessions`
 * true/false records this host's terminal sessions or not, null follows the global switch.
 */
export const HostPatchBody = patchOf({ name: HostName, ssh: SshTargetInput.nullable(), hostKey: z.null(), recordSessions: z.boolean().nullable() });
export type HostPatchBody = z.input<typeof HostPatchBody>;

export const HostResponse = z.object({ host: HostRecord });
export type HostResponse = z.infer<typeof HostResponse>;
export const HostListResponse = z.object({ hosts: z.array(HostRecord) });
export type HostListResponse = z.infer<typeof HostListResponse>;

/** Ready-to-paste agent configuration (config.yml and credentials.yml of the PatchMon agent). */
export const AgentConfig = z.object({
  serverUrl: z.string(),
  apiVersion: z.string(),
  configYaml: z.string(),
  credentialsYaml: z.string(),
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/** POST /api/v1/hosts (201) and POST /api/v1/hosts/:id/rotate-key: the only answers that carry the API key. */
export const CreatedHostResponse = z.object({ host: HostRecord, apiKey: z.string(), agentConfig: AgentConfig });
export type CreatedHostResponse = z.infer<typeof CreatedHostResponse>;
