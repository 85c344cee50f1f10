import { randomBytes } from "node:crypto";
import type { CreatedHostResponse, HostResponse, Role, SessionResponse, TicketPurpose, TicketResponse, UserResponse, UserView } from "@patchmon-ws/protocol";
import { startService, type RunningService, type StartServiceOptions } from "./services.js";

export type { UserView };

/** A login's answer (the protocol's SessionResponse) with its refresh cookie. */
export interface LoginResult extends SessionResponse {
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
    const res = await this.request<SessionResponse>("POST", "/api/v1/auth/login", { body: { username, password } });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("refresh_token="));
    return { ...res.body, refreshCookie: setCookie?.split(";")[0] ?? "" };
  }

  async ticket(token: string, purpose: TicketPurpose, target = "*"): Promise<string> {
    return (await this.request<TicketResponse>("POST", "/api/v1/auth/ticket", { token, body: { purpose, target } })).body.ticket;
  }

  // Request bodies take plain strings: tests send invalid roles and permissions on purpose.
  async createUser(token: string, user: { username: string; password: string; role?: Role; permissions?: readonly string[] }): Promise<UserView> {
    return (await this.request<UserResponse>("POST", "/api/v1/users", { token, body: user })).body.user;
  }

  async updateUser(token: string, id: string, patch: Partial<{ role: string; permissions: readonly string[]; disabled: boolean; password: string }>): Promise<UserView> {
    return (await this.request<UserResponse>("PATCH", `/api/v1/users/${id}`, { token, body: patch })).body.user;
  }

  async createHost(token: string, host: { name: string; ssh?: { address: string; port?: number; username?: string } }): Promise<CreatedHostResponse> {
    return (await this.request<CreatedHostResponse>("POST", "/api/v1/hosts", { token, body: host })).body;
  }

  async rotateHostKey(token: string, hostId: string): Promise<CreatedHostResponse> {
    return (await this.request<CreatedHostResponse>("POST", `/api/v1/hosts/${hostId}/rotate-key`, { token })).body;
  }

  async getHost(token: string, hostId: string): Promise<HostResponse["host"]> {
    return (await this.request<HostResponse>("GET", `/api/v1/hosts/${hostId}`, { token })).body.host;
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
