import { Router, type NextFunction, type Request, type Response } from "express";
import { CodedError } from "@patchmon-ws/protocol";
import type { OriginPolicy, ProxyTrust } from "@patchmon-ws/service-kit";
import type { AccessGuard, OriginVerdict } from "./access-guard.js";
import { cookieMaxAge, csrfCookie, csrfTokenFor, CSRF_HEADER, sessionCookies } from "./cookies.js";
import { BOARD_BASE_PATH, type Dashboard } from "./dashboard.js";
import { cacheControlFor, SECURITY_HEADERS } from "./security-headers.js";

export interface BoardHttpOptions {
  guard: AccessGuard;
  dashboard: Dashboard;
  origins: OriginPolicy;
  trust: ProxyTrust;
  cookieTtlSeconds: number;
  onTicketExchange?: (result: "ok" | "rejected") => void;
}

/** Paths a ticket exchange may send the browser back to: the board and its deep links, nothing that normalises away. */
const BOARD_PATH = /^\/bullboard(?:\/[A-Za-z0-9._~%{}-]+)*\/?$/;

/**
 * The HTTP side of /bullboard (mounted there): security headers on every answer, the ticket exchange
 * (`?ticket=` → session cookies → 303 to the same page without the ticket), then authentication and the write
 * rules for everything else, and finally the Bull Board of the caller's mode.
 */
export function createBoardRouter(options: BoardHttpOptions): Router {
  const { guard, dashboard, origins, trust } = options;
  const router = Router();

  router.use((req: Request, res: Response, next: NextFunction) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader("Cache-Control", cacheControlFor(req.path));
    next();
  });

  router.get("/events", () => {
    throw new CodedError("BAD_REQUEST", "The live-event endpoint only accepts WebSocket upgrades.");
  });

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const ticket = req.query.ticket;
    if (req.method !== "GET" || ticket === undefined) return next();
    if (typeof ticket !== "string") throw new CodedError("BAD_REQUEST", "Pass exactly one ticket.");
    let grant;
    try {
      grant = await guard.exchangeTicket(ticket, trust.clientAddress(req));
    } catch (err) {
      options.onTicketExchange?.("rejected");
      throw err;
    }
    options.onTicketExchange?.("ok");
    res.setHeader("Set-Cookie", sessionCookies(grant.token, { maxAgeSeconds: grant.maxAgeSeconds, secure: trust.isSecure(req) }));
    res.redirect(303, withoutTicket(req.originalUrl));
  });

  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const session = await guard.authorizeHttp({
      method: req.method,
      cookieHeader: req.headers.cookie,
      csrfHeader: req.get(CSRF_HEADER),
      origin: originVerdict(req, origins),
      sourceAddress: trust.clientAddress(req),
    });
    // The page reads the CSRF cookie to send it back; re-issue it if the browser lost it or holds a stale one.
    if (session.csrfCookie !== csrfTokenFor(session.token)) {
      const maxAgeSeconds = cookieMaxAge(session.principal.expiresAt, options.cookieTtlSeconds);
      res.append("Set-Cookie", csrfCookie(session.token, { maxAgeSeconds, secure: trust.isSecure(req) }));
    }
    dashboard.router(session.mode)(req, res, next);
  });

  return router;
}

function originVerdict(req: Request, origins: OriginPolicy): OriginVerdict {
  if (req.headers.origin === undefined) return "absent";
  return origins.isAllowed(req) ? "allowed" : "forbidden";
}

/** The request's own path and query minus the ticket; the board root when the path is anything unusual. */
export function withoutTicket(originalUrl: string): string {
  const [rawPath = "", rawQuery = ""] = originalUrl.split("?", 2);
  // Dot segments (also percent-encoded, which browsers normalise too) could climb out of the board.
  const path = BOARD_PATH.test(rawPath) && !/\/(?:\.|%2e){1,2}(?:\/|$)/i.test(rawPath) ? rawPath : `${BOARD_BASE_PATH}/`;
  const query = new URLSearchParams(rawQuery);
  query.delete("ticket");
  const rest = query.toString();
  return rest ? `${path}?${rest}` : path;
}
