import { CodedError, type Principal } from "@patchmon-ws/protocol";
import { LimitedSources, type PrincipalVerifier, type TicketGrant as AuthTicketGrant } from "@patchmon-ws/service-kit";
import { boardModeFor, isSafeMethod, type BoardMode } from "./board-mode.js";
import { cookieMaxAge, csrfTokenMatches, readCookies } from "./cookies.js";

/** How each authentication attempt ended, for metrics. */
export type AuthOutcome = "ok" | "missing" | "invalid" | "forbidden" | "unavailable" | "rate_limited";

/** Where a request's Origin header stands against the allow-list. */
export type OriginVerdict = "allowed" | "forbidden" | "absent";

export interface HttpAccessRequest {
  method: string;
  cookieHeader: string | undefined;
  csrfHeader: string | undefined;
  origin: OriginVerdict;
  sourceAddress: string;
}

export interface DashboardSession {
  principal: Principal;
  mode: BoardMode;
  /** The dashboard token from the cookie (needed to derive the CSRF token). */
  token: string;
  /** The CSRF cookie the browser sent, to refresh it when it does not match. */
  csrfCookie: string | undefined;
}

export interface TicketGrant {
  principal: Principal;
  mode: BoardMode;
  token: string;
  /** Cookie Max-Age: the token's remaining lifetime, capped by COOKIE_TTL_SECONDS. */
  maxAgeSeconds: number;
}

export interface AccessGuardOptions {
  /** Verifies dashboard cookies (audience "bullboard"). */
  verifier: PrincipalVerifier;
  /** Consumes a bullboard ticket and gets a dashboard token for it. */
  exchangeTicket: (ticket: string, sourceAddress: string) => Promise<AuthTicketGrant>;
  /** Sources auth answered RATE_LIMITED, remembered until its Retry-After. Default: a new, empty one. */
  limited?: LimitedSources;
  cookieTtlSeconds: number;
  onOutcome?: (outcome: AuthOutcome) => void;
  now?: () => number;
}

/**
 * Tickets are opaque, URL-safe and short; anything else cannot be one and is not worth a round trip (nor a count:
 * it cannot be guessed right).
 */
const TICKET_SHAPE = /^[A-Za-z0-9_-]{8,256}$/;

/**
 * Every access decision of the dashboard, with no sockets involved: cookie → principal (via auth, cached ≤1 s),
 * principal → board mode, and the write rules (same-origin or allow-listed Origin, CSRF token bound to the session,
 * full mode). Throws CodedErrors whose status is the answer: 401 no/invalid cookie, 403 role/Origin/CSRF/read-only,
 * 429 auth's limit, 503 auth unavailable.
 *
 * The failure limit is auth's alone (bad tickets per source, `TICKET_MAX_FAILURES`, one count across every replica):
 * a source auth answered RATE_LIMITED is refused here, on every path, with the Retry-After auth gave and without
 * asking auth again until then. Bad cookies are not counted: dashboard tokens are signed by auth and cannot be guessed.
 */
export class AccessGuard {
  private readonly now: () => number;
  private readonly limited: LimitedSources;

  constructor(private readonly options: AccessGuardOptions) {
    this.now = options.now ?? Date.now;
    this.limited = options.limited ?? new LimitedSources();
  }

  /** The session behind a Cookie header, for any request (HTTP or upgrade). */
  async authenticate(cookieHeader: string | undefined, sourceAddress: string): Promise<DashboardSession> {
    this.throwIfLimited(sourceAddress);
    const cookies = readCookies(cookieHeader);
    if (!cookies.session) {
      this.options.onOutcome?.("missing");
      throw new CodedError("CREDENTIALS_MISSING", "Open the dashboard from PatchMon (it signs you in with a one-time ticket).");
    }
    const principal = await this.verified(() => this.options.verifier.verify(cookies.session!, sourceAddress), sourceAddress);
    const mode = this.modeOf(principal);
    return { principal, mode, token: cookies.session, csrfCookie: cookies.csrf };
  }

  /** Authentication plus the write rules for an HTTP request under /bullboard. */
  async authorizeHttp(request: HttpAccessRequest): Promise<DashboardSession> {
    const session = await this.authenticate(request.cookieHeader, request.sourceAddress);
    if (isSafeMethod(request.method)) return session;
    // Browsers send Origin on every cross-origin and every non-GET same-origin request, so a foreign one is refused
    // outright; a request without Origin (not a browser) still needs the CSRF token.
    if (request.origin === "forbidden") throw new CodedError("ORIGIN_FORBIDDEN");
    if (!csrfTokenMatches(session.token, request.csrfHeader)) {
      throw new CodedError("FORBIDDEN", "CSRF token missing or invalid: send the XSRF-TOKEN cookie's value in X-XSRF-TOKEN.");
    }
    if (session.mode !== "full") throw new CodedError("FORBIDDEN", "Read-only access: you may view the queues but not change them.");
    return session;
  }

  /** `/bullboard?ticket=…`: consumes the ticket and grants a session when the user may see the board. */
  async exchangeTicket(ticket: string, sourceAddress: string): Promise<TicketGrant> {
    this.throwIfLimited(sourceAddress);
    if (!TICKET_SHAPE.test(ticket)) {
      this.options.onOutcome?.("invalid");
      throw new CodedError("TICKET_INVALID");
    }
    const result = await this.verified(() => this.options.exchangeTicket(ticket, sourceAddress), sourceAddress);
    const mode = this.modeOf(result.principal);
    if (!result.token) throw new CodedError("INTERNAL", "auth consumed the ticket but issued no dashboard token");
    const maxAgeSeconds = cookieMaxAge(result.tokenExpiresAt, this.options.cookieTtlSeconds, this.now());
    if (maxAgeSeconds <= 0) throw new CodedError("TOKEN_EXPIRED", "auth issued a dashboard token that has already expired");
    return { principal: result.principal, mode, token: result.token, maxAgeSeconds };
  }

  private modeOf(principal: Principal): BoardMode {
    const mode = boardModeFor(principal);
    if (!mode) {
      this.options.onOutcome?.("forbidden");
      throw new CodedError("FORBIDDEN", "The queue dashboard needs the admin role or the can_view_queues permission.");
    }
    this.options.onOutcome?.("ok");
    return mode;
  }

  private async verified<T>(call: () => Promise<T>, sourceAddress: string): Promise<T> {
    try {
      return await call();
    } catch (err) {
      const error = err instanceof CodedError ? err : new CodedError("INTERNAL", undefined, { cause: err });
      if (error.status === 401) this.options.onOutcome?.("invalid");
      else if (error.status === 403) this.options.onOutcome?.("forbidden");
      else if (error.status === 429) {
        if (error.code === "RATE_LIMITED") this.limited.limit(sourceAddress, error.retryAfter ?? 1);
        this.options.onOutcome?.("rate_limited");
      } else if (error.status === 503) this.options.onOutcome?.("unavailable");
      throw error;
    }
  }

  private throwIfLimited(sourceAddress: string): void {
    const retryAfter = this.limited.retryAfterSeconds(sourceAddress);
    if (retryAfter !== undefined) {
      this.options.onOutcome?.("rate_limited");
      throw new CodedError("RATE_LIMITED", "Too many failed sign-ins from this address; try again later.", { retryAfter });
    }
  }
}
