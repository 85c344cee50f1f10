import { Router, type NextFunction, type Request, type Response } from "express";
import { z } from "zod";
import {
  CodedError,
  HostId,
  HostPatchBody,
  LoginBody,
  NewHostBody,
  NewUserBody,
  RefreshBody,
  SshTicketBody,
  requirePermission as requirePrincipalPermission,
  TicketBody,
  UserId,
  UserPatchBody,
  type AgentConfig,
  type CreatedHostResponse,
  type HostListResponse,
  type HostResponse,
  type MeResponse,
  type Permission,
  type Principal,
  type SessionResponse,
  type TicketResponse,
  type UserListResponse,
  type UserResponse,
} from "@patchmon-ws/protocol";
import { bearerToken, type ProxyTrust } from "@patchmon-ws/service-kit";
import type { AuthCore } from "./auth-core.js";
import { userView, type StoredUser } from "./records.js";
import type { SessionTokens } from "./sessions.js";

const REFRESH_COOKIE = "refresh_token";
const REFRESH_COOKIE_PATH = "/api/v1/auth";

function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    throw new CodedError("VALIDATION_FAILED", undefined, {
      details: result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    });
  }
  return result.data;
}

function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

export interface HttpApiOptions {
  core: AuthCore;
  trust: ProxyTrust;
  publicUrl: string | undefined;
}

/** The auth service's REST API: /api/v1/auth/*, /api/v1/users, /api/v1/hosts. */
export function createHttpApi({ core, trust, publicUrl }: HttpApiOptions): Router {
  const router = Router();
  const source = (req: Request) => trust.clientAddress(req);

  const requireUser = async (req: Request, res: Response, next: NextFunction) => {
    res.locals.principal = await core.verifyAccess(bearerToken(req.headers), "api");
    next();
  };
  const requirePermission = (permission: Permission) => (_req: Request, res: Response, next: NextFunction) => {
    requirePrincipalPermission(principalOf(res), permission);
    next();
  };
  const noStore = (_req: Request, res: Response, next: NextFunction) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  };

  const setRefreshCookie = (req: Request, res: Response, token: string, expiresAt: number) => {
    res.cookie(REFRESH_COOKIE, token, {
      httpOnly: true,
      secure: trust.isSecure(req),
      sameSite: "strict",
      path: REFRESH_COOKIE_PATH,
      maxAge: Math.max(0, expiresAt - Date.now()),
    });
  };
  /** The answer to a login or refresh: the access token in the body, the refresh token in its cookie. */
  const sendSession = (req: Request, res: Response, user: StoredUser, tokens: SessionTokens) => {
    setRefreshCookie(req, res, tokens.refreshToken, tokens.sessionExpiresAt);
    const body: SessionResponse = {
      accessToken: tokens.accessToken,
      tokenType: "Bearer",
      expiresIn: Math.floor((tokens.accessExpiresAt - Date.now()) / 1000),
      user: userView(user),
    };
    res.json(body);
  };
  const clearRefreshCookie = (req: Request, res: Response) =>
    res.clearCookie(REFRESH_COOKIE, { httpOnly: true, secure: trust.isSecure(req), sameSite: "strict", path: REFRESH_COOKIE_PATH });

  router.use(["/api/v1/auth", "/api/v1/users", "/api/v1/hosts"], noStore);

  // --- sessions -------------------------------------------------------------------------------------------
  router.post("/api/v1/auth/login", async (req, res) => {
    const body = parse(LoginBody, req.body);
    const { user, tokens } = await core.login(body.username, body.password, source(req));
    sendSession(req, res, user, tokens);
  });

  router.post("/api/v1/auth/refresh", async (req, res) => {
    const token = readCookie(req, REFRESH_COOKIE) ?? parse(RefreshBody, req.body).refreshToken;
    if (!token) throw new CodedError("CREDENTIALS_MISSING", "No refresh token cookie.");
    try {
      const { user, tokens } = await core.sessions.refresh(token);
      sendSession(req, res, user, tokens);
    } catch (err) {
      clearRefreshCookie(req, res);
      throw err;
    }
  });

  router.post("/api/v1/auth/logout", requireUser, async (req, res) => {
    await core.sessions.revoke(principalOf(res).sessionId, "logout");
    clearRefreshCookie(req, res);
    res.status(204).end();
  });

  router.get("/api/v1/auth/me", requireUser, async (_req, res) => {
    const principal = principalOf(res);
    const body: MeResponse = { user: { ...userView(await core.users.get(principal.userId)), permissions: principal.permissions } };
    res.json(body);
  });

  router.post("/api/v1/auth/ticket", requireUser, async (req, res) => {
    const body = parse(TicketBody, req.body);
    const ticket: TicketResponse = await core.issueTicket(principalOf(res), body.purpose, body.target);
    res.json(ticket);
  });

  // PatchMon's front end asks for terminal tickets this way: the generic call with purpose ssh-terminal.
  router.post("/api/v1/auth/ssh-ticket", requireUser, async (req, res) => {
    const { hostId } = parse(SshTicketBody, req.body);
    const ticket: TicketResponse = await core.issueTicket(principalOf(res), "ssh-terminal", hostId);
    res.json(ticket);
  });

  // --- users ------------------------------------------------------------------------------------------------
  // Admins manage everyone. can_manage_users manages non-admin users and grants only permissions it holds itself.
  const mayManage = (actor: Principal, target: { role: string } | undefined, change: { role?: string; permissions?: string[] }) => {
    if (actor.role === "admin") return;
    if (!actor.permissions.includes("can_manage_users")) throw new CodedError("FORBIDDEN", "This needs the can_manage_users permission.");
    if (target?.role === "admin" || change.role === "admin") throw new CodedError("FORBIDDEN", "Only admins manage admins.");
    if (change.permissions?.some((p) => !actor.permissions.includes(p as Principal["permissions"][number]))) {
      throw new CodedError("FORBIDDEN", "You can only grant permissions you hold.");
    }
  };
  const userIdParam = (req: Request) => parse(z.object({ id: UserId }), req.params).id;

  router.get("/api/v1/users", requireUser, (_req, res) => {
    mayManage(principalOf(res), undefined, {});
    res.json({ users: core.users.list().map(userView) } satisfies UserListResponse);
  });
  router.post("/api/v1/users", requireUser, async (req, res) => {
    const body = parse(NewUserBody, req.body);
    mayManage(principalOf(res), undefined, body);
    res.status(201).json({ user: userView(await core.users.create(body)) } satisfies UserResponse);
  });
  router.get("/api/v1/users/:id", requireUser, async (req, res) => {
    const principal = principalOf(res);
    const id = userIdParam(req);
    const user = await core.users.get(id);
    if (id !== principal.userId) mayManage(principal, user, {});
    res.json({ user: userView(user) } satisfies UserResponse);
  });
  router.patch("/api/v1/users/:id", requireUser, async (req, res) => {
    const id = userIdParam(req);
    const body = parse(UserPatchBody, req.body);
    mayManage(principalOf(res), await core.users.get(id), body);
    res.json({ user: userView(await core.users.update(id, body)) } satisfies UserResponse);
  });
  router.delete("/api/v1/users/:id", requireUser, async (req, res) => {
    const id = userIdParam(req);
    mayManage(principalOf(res), await core.users.get(id), {});
    await core.users.delete(id);
    res.status(204).end();
  });

  // --- hosts ------------------------------------------------------------------------------------------------
  const hostIdParam = (req: Request) => {
    const result = HostId.safeParse(req.params.id);
    if (!result.success) throw new CodedError("HOST_NOT_FOUND");
    return result.data;
  };
  const agentConfig = (req: Request, apiId: string, apiKey: string): AgentConfig => {
    const serverUrl = (publicUrl ?? trust.publicOrigin(req) ?? "https://patchmon.example.com").replace(/\/+$/, "");
    return {
      serverUrl,
      apiVersion: "v1",
      configYaml: `patchmon_server: "${serverUrl}"\napi_version: "v1"\n`,
      credentialsYaml: `api_id: "${apiId}"\napi_key: "${apiKey}"\n`,
    };
  };

  router.get("/api/v1/hosts", requireUser, (_req, res) => {
    res.json({ hosts: core.hosts.list() } satisfies HostListResponse);
  });
  router.post("/api/v1/hosts", requireUser, requirePermission("can_manage_hosts"), async (req, res) => {
    const body = parse(NewHostBody, req.body);
    const { host, apiKey } = await core.hosts.create(body);
    res.status(201).json({ host, apiKey, agentConfig: agentConfig(req, host.apiId, apiKey) } satisfies CreatedHostResponse);
  });
  router.get("/api/v1/hosts/:id", requireUser, async (req, res) => {
    res.json({ host: await core.hosts.get(hostIdParam(req)) } satisfies HostResponse);
  });
  router.patch("/api/v1/hosts/:id", requireUser, requirePermission("can_manage_hosts"), async (req, res) => {
    const id = hostIdParam(req);
    res.json({ host: await core.hosts.update(id, parse(HostPatchBody, req.body)) } satisfies HostResponse);
  });
  router.post("/api/v1/hosts/:id/rotate-key", requireUser, requirePermission("can_manage_hosts"), async (req, res) => {
    const { host, apiKey } = await core.hosts.rotateKey(hostIdParam(req));
    res.json({ host, apiKey, agentConfig: agentConfig(req, host.apiId, apiKey) } satisfies CreatedHostResponse);
  });
  router.delete("/api/v1/hosts/:id", requireUser, requirePermission("can_manage_hosts"), async (req, res) => {
    await core.hosts.delete(hostIdParam(req));
    res.status(204).end();
  });

  return router;
}
