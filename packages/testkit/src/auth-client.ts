import { randomBytes } from "node:crypto";
import type { HostRecord, Permission, Role, TicketPurpose } from "@patchmon-ws/protocol";
import { startService, type RunningService, type StartServiceOptions } from "./services.js";

/** A user as auth's REST API returns it (protocol declares no user body yet; hosts are its HostRecord). */
export interface UserView {
  id: string;
  username: string;
  role: Role;
  permissions: Permission[];
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface LoginResult {
  accessToken: string;
  expiresIn: number;
  user: UserView;
  /** The `refresh_token=...` pair from Set-Cookie, ready for a Cookie header. */
  refreshCookie: string;
}

/** Thrown for any non-2xx answer; keeps status and the JSON body for assertions. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
  }
}

/** A small client for the auth service's REST API, for tests and benchmarks. */
export class AuthHttpClient {
  constructor(readonly baseUrl: string) {}

  async request<T>(method: string, path: string, options: { token?: string; body?: unknown; cookie?: string } = {}): Promise<{ status: number; body: T; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.cookie) headers.cookie = options.cookie;
    if (options.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(this.baseUrl + path, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    const text = await res.text();
    const body = (text ? JSON.parse(text) : undefined) as T;
    if (!res.ok) throw new HttpError(res.status, body);
    return { status: res.status, body, headers: res.headers };
  }

  async login(username: string, password: string): Promise<LoginResult> {
    const res = await this.request<Omit<LoginResult, "refreshCookie">>("POST", "/api/v1/auth/login", { body: { username, password } });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("refresh_token="));
    return { ...res.body, refreshCookie: setCookie?.split(";")[0] ?? "" };
  }

  async ticket(token: string, purpose: TicketPurpose, target = "*"): Promise<string> {
    return (await this.request<{ ticket: string }>("POST", "/api/v1/auth/ticket", { token, body: { purpose, target } })).body.ticket;
  }

  // Request bodies take plain strings: tests send invalid roles and permissions on purpose.
  async createUser(token: string, user: { username: string; password: string; role?: Role; permissions?: readonly string[] }): Promise<UserView> {
    return (await this.request<{ user: UserView }>("POST", "/api/v1/users", { token, body: user })).body.user;
  }

  async updateUser(token: string, id: string, patch: Partial<{ role: string; permissions: readonly string[]; disabled: boolean; password: string }>): Promise<UserView> {
    return (await this.request<{ user: UserView }>("PATCH", `/api/v1/users/${id}`, { token, body: patch })).body.user;
  }

  async createHost(token: string, host: { name: string; ssh?: { address: string; port?: number; username?: string } }): Promise<{ host: HostRecord; apiKey: string; agentConfig: { configYaml: string; credentialsYaml: string } }> {
    return (await this.request<{ host: HostRecord; apiKey: string; agentConfig: { configYaml: string; credentialsYaml: string } }>("POST", "/api/v1/hosts", { token, body: host })).body;
  }

  async rotateHostKey(token: string, hostId: string): Promise<{ host: HostRecord; apiKey: string }> {
    return (await this.request<{ host: HostRecord; apiKey: string }>("POST", `/api/v1/hosts/${hostId}/rotate-key`, { token })).body;
  }

  async deleteHost(token: string, hostId: string): Promise<void> {
    await this.request("DELETE", `/api/v1/hosts/${hostId}`, { token });
  }
}

export interface RunningAuth {
  service: RunningService;
  client: AuthHttpClient;
  adminUsername: string;
  adminPassword: string;
  jwtSecret: string;
  /** Logs the admin in (once) and returns an access token. */
  adminToken(): Promise<string>;
}

/**
 * Runs the real auth service as a process against the given NATS, with a known admin and a cheap password hash
 * cost so tests stay fast. Extra env overrides the defaults.
 */
export async function startAuth(natsUrl: string, env: Record<string, string> = {}, options: Pick<StartServiceOptions, "compiled"> = {}): Promise<RunningAuth> {
  const adminUsername = env.ADMIN_USERNAME ?? "admin";
  const adminPassword = env.ADMIN_PASSWORD ?? `pw-${randomBytes(12).toString("hex")}`;
  const jwtSecret = env.JWT_SECRET ?? randomBytes(32).toString("hex");
  const service = await startService("auth", {
    NATS_URL: natsUrl,
    JWT_SECRET: jwtSecret,
    ADMIN_USERNAME: adminUsername,
    ADMIN_PASSWORD: adminPassword,
    PASSWORD_HASH_COST: "12",
    ...env,
  }, options);
  const client = new AuthHttpClient(service.url);
  let token: Promise<string> | undefined;
  return {
    service,
    client,
    adminUsername,
    adminPassword,
    jwtSecret,
    adminToken: () => (token ??= client.login(adminUsername, adminPassword).then((r) => r.accessToken)),
  };
}
