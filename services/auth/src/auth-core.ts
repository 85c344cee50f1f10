import {
  CodedError,
  type HostRecord,
  type Permission,
  type Principal,
  type TicketPurpose,
  type TokenAudience,
} from "@patchmon-ws/protocol";
import type { AuthConfig } from "./config.js";
import { HostRegistry } from "./hosts.js";
import { PasswordHasher } from "./passwords.js";
import type { StoredUser } from "./records.js";
import type { RevocationSink } from "./revocations.js";
import { SessionManager, type SessionTokens } from "./sessions.js";
import type { AuthStorage, StorageLifetimes } from "./auth-storage.js";
import { SharedFailureLimiter, type LimitDecision } from "./shared-failure-limiter.js";
import { TicketOffice } from "./tickets.js";
import { TokenSigner } from "./token-signer.js";
import { UserDirectory } from "./users.js";

/** Which permission each ticket purpose needs at issue time (services check the principal again on use). */
const TICKET_PERMISSION: Record<TicketPurpose, Permission | null> = {
  "ssh-terminal": "can_use_ssh_terminal",
  bullboard: "can_view_queues",
  "agent-status": null,
};

/** What the core reads from the configuration. */
export type AuthCoreConfig = Pick<
  AuthConfig,
  | "JWT_SECRET"
  | "JWT_PREVIOUS_SECRETS"
  | "ACCESS_TOKEN_TTL_SECONDS"
  | "REFRESH_TOKEN_TTL_SECONDS"
  | "REFRESH_REUSE_GRACE_SECONDS"
  | "BULLBOARD_TOKEN_TTL_SECONDS"
  | "TICKET_TTL_SECONDS"
  | "PASSWORD_HASH_COST"
  | "LOGIN_MAX_FAILURES"
  | "LOGIN_FAILURE_WINDOW_SECONDS"
  | "AGENT_AUTH_MAX_FAILURES"
  | "AGENT_AUTH_FAILURE_WINDOW_SECONDS"
  | "TICKET_MAX_FAILURES"
  | "TICKET_FAILURE_WINDOW_SECONDS"
>;

/** The max ages the storage must enforce for this configuration. */
export function storageLifetimes(config: AuthCoreConfig): StorageLifetimes {
  return {
    sessionTtlMs: config.REFRESH_TOKEN_TTL_SECONDS * 1000,
    failureWindowTtlMs:
      Math.max(config.LOGIN_FAILURE_WINDOW_SECONDS, config.AGENT_AUTH_FAILURE_WINDOW_SECONDS, config.TICKET_FAILURE_WINDOW_SECONDS) * 1000,
  };
}

/**
 * The auth service's core, shared by its HTTP and NATS adapters: users, sessions, hosts, tickets and the
 * per-source failure limits (shared by replicas through the storage). No sockets here.
 */
export class AuthCore {
  readonly users: UserDirectory;
  readonly sessions: SessionManager;
  readonly hosts: HostRegistry;
  readonly tickets: TicketOffice;
  private readonly loginFailures: SharedFailureLimiter;
  private readonly agentFailures: SharedFailureLimiter;
  /** Separate from logins: a lost ticket race must not count against signing in. */
  private readonly ticketFailures: SharedFailureLimiter;

  constructor(
    readonly store: AuthStorage,
    revocations: RevocationSink,
    config: AuthCoreConfig,
  ) {
    this.sessions = new SessionManager(store, new TokenSigner(config.JWT_SECRET, config.JWT_PREVIOUS_SECRETS), revocations, {
      accessTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
      refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
      refreshReuseGraceMs: config.REFRESH_REUSE_GRACE_SECONDS * 1000,
      scopedTtlSeconds: { bullboard: config.BULLBOARD_TOKEN_TTL_SECONDS },
    });
    this.users = new UserDirectory(store, new PasswordHasher(config.PASSWORD_HASH_COST), this.sessions, revocations);
    this.hosts = new HostRegistry(store, revocations);
    this.tickets = new TicketOffice(store, this.sessions, config.TICKET_TTL_SECONDS);
    const limiter = (name: string, maxFailures: number, windowSeconds: number) =>
      new SharedFailureLimiter(name, store.failureWindows, { maxFailures, windowMs: windowSeconds * 1000 });
    this.loginFailures = limiter("login", config.LOGIN_MAX_FAILURES, config.LOGIN_FAILURE_WINDOW_SECONDS);
    this.agentFailures = limiter("agent", config.AGENT_AUTH_MAX_FAILURES, config.AGENT_AUTH_FAILURE_WINDOW_SECONDS);
    this.ticketFailures = limiter("ticket", config.TICKET_MAX_FAILURES, config.TICKET_FAILURE_WINDOW_SECONDS);
  }

  async login(username: string, password: string, source: string): Promise<{ user: StoredUser; tokens: SessionTokens }> {
    // Read from the store, not the mirror: passwords are guessable, so no replica may evaluate one past the limit.
    throwIfLimited(await this.loginFailures.checkShared(source));
    const user = await this.users.authenticate(username, password);
    if (!user) {
      await this.recordFailure(this.loginFailures, source);
      throw new CodedError("INVALID_CREDENTIALS", "Wrong username or password.");
    }
    if (user.disabled) throw new CodedError("USER_DISABLED");
    return { user, tokens: await this.sessions.start(user) };
  }

  verifyAccess(token: string, audience: TokenAudience): Promise<Principal> {
    return this.sessions.verifyAccess(token, audience);
  }

  async issueTicket(principal: Principal, purpose: TicketPurpose, target: string): Promise<{ ticket: string; expiresIn: number }> {
    const needed = TICKET_PERMISSION[purpose];
    if (needed && !principal.permissions.includes(needed)) {
      throw new CodedError("FORBIDDEN", `A ${purpose} ticket needs the ${needed} permission.`);
    }
    if (purpose === "ssh-terminal") await this.hosts.get(target);
    else if (target !== "*") throw new CodedError("VALIDATION_FAILED", `A ${purpose} ticket's target must be "*".`);
    return this.tickets.issue(principal, purpose, target);
  }

  async consumeTicket(
    ticket: string,
    purpose: TicketPurpose,
    target: string,
    source: string | undefined,
    issueToken?: { audience: TokenAudience },
  ): Promise<{ principal: Principal; token?: string; tokenExpiresAt?: number }> {
    if (source !== undefined) throwIfLimited(this.ticketFailures.check(source));
    let principal: Principal;
    try {
      principal = await this.tickets.consume(ticket, purpose, target);
    } catch (err) {
      if (err instanceof CodedError && err.code === "TICKET_INVALID" && source !== undefined) await this.recordFailure(this.ticketFailures, source);
      throw err;
    }
    if (!issueToken || issueToken.audience === "api") return { principal };
    const scoped = this.sessions.issueScoped(principal, issueToken.audience);
    return { principal, token: scoped.token, tokenExpiresAt: scoped.expiresAt };
  }

  async verifyAgent(apiId: string, apiKey: string, source: string | undefined): Promise<HostRecord> {
    // The hot path (thousands a second): the check reads the local mirror; only a failure writes, and a failure past
    // the shared limit is refused (recordFailure). A right key presented within the mirror's lag (milliseconds) of
    // another replica reaching the limit is still accepted: keys are 256-bit, so that lag gives a guesser nothing.
    if (source !== undefined) throwIfLimited(this.agentFailures.check(source));
    const host = await this.hosts.verifyAgentKey(apiId, apiKey);
    if (!host) {
      if (source !== undefined) await this.recordFailure(this.agentFailures, source);
      throw new CodedError("INVALID_CREDENTIALS");
    }
    return host;
  }

  /** Forgets expired sessions and finished failure windows held in memory. */
  pruneExpired(now = Date.now()): void {
    this.sessions.pruneExpired(now);
    // The three limiters share one collection and prune by windowEndsAt, so one call covers them all.
    this.loginFailures.pruneExpired();
  }

  /**
   * Counts a failure. When the limit had already been reached (another replica counted the last allowed failure a
   * moment before this one was checked), the attempt is refused as rate-limited rather than answered as a plain
   * failure. Callers that cannot say where a request came from are not limited here; they limit their own upgrades.
   */
  private async recordFailure(limiter: SharedFailureLimiter, source: string): Promise<void> {
    const recorded = await limiter.recordFailure(source);
    if (recorded.alreadyLimited) throwIfLimited(recorded);
  }
}

function throwIfLimited(decision: LimitDecision): void {
  if (decision.limited) throw new CodedError("RATE_LIMITED", undefined, { retryAfter: decision.retryAfterSeconds });
}
