import { createHash, timingSafeEqual } from "node:crypto";
import { parseCookie, stringifySetCookie } from "cookie";

/** The dashboard session: the auth-signed bullboard token, never readable by scripts. */
export const SESSION_COOKIE = "pmws_bullboard";
/**
 * The CSRF token, readable by the page on purpose: Bull Board's UI (axios) copies the `XSRF-TOKEN` cookie into an
 * `X-XSRF-TOKEN` header on every same-origin request, which is what the double-submit check compares.
 */
export const CSRF_COOKIE = "XSRF-TOKEN";
export const CSRF_HEADER = "x-xsrf-token";
export const COOKIE_PATH = "/bullboard";

/**
 * The CSRF token bound to a session token: a hash of it. A cross-site attacker can read neither cookie, so cannot
 * produce the header; a cookie tossed in from a sibling domain does not help either, because the server compares
 * the header with the session cookie, not with the CSRF cookie. No server secret is needed, so replicas agree.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHash("sha256").update("patchmon-ws/bullboard/csrf\0").update(sessionToken).digest("base64url");
}

export function csrfTokenMatches(sessionToken: string, presented: string | undefined): boolean {
  if (!presented) return false;
  const expected = Buffer.from(csrfTokenFor(sessionToken));
  const actual = Buffer.from(presented);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Cookie values from a Cookie header; the first of duplicates wins, as browsers send the most specific first. */
export function readCookies(header: string | undefined): { session?: string; csrf?: string } {
  if (!header) return {};
  let cookies: Record<string, string | undefined>;
  try {
    cookies = parseCookie(header);
  } catch {
    return {};
  }
  const session = cookies[SESSION_COOKIE];
  const csrf = cookies[CSRF_COOKIE];
  return { ...(session ? { session } : {}), ...(csrf ? { csrf } : {}) };
}

export interface CookieOptions {
  /** Seconds until the browser forgets the cookie. */
  maxAgeSeconds: number;
  /** Set when the client reached us over https (directly or through a trusted proxy). */
  secure: boolean;
}

/** Set-Cookie values for a fresh dashboard session: the HttpOnly session cookie and its readable CSRF cookie. */
export function sessionCookies(sessionToken: string, options: CookieOptions): string[] {
  return [
    stringifySetCookie(SESSION_COOKIE, sessionToken, {
      httpOnly: true,
      sameSite: "strict",
      path: COOKIE_PATH,
      secure: options.secure,
      maxAge: options.maxAgeSeconds,
    }),
    csrfCookie(sessionToken, options),
  ];
}

export function csrfCookie(sessionToken: string, options: CookieOptions): string {
  return stringifySetCookie(CSRF_COOKIE, csrfTokenFor(sessionToken), {
    httpOnly: false,
    sameSite: "strict",
    path: COOKIE_PATH,
    secure: options.secure,
    maxAge: options.maxAgeSeconds,
  });
}

/** Max-Age for a token: its remaining lifetime, capped, never negative. */
export function cookieMaxAge(expiresAt: number | undefined, capSeconds: number, now = Date.now()): number {
  if (expiresAt === undefined) return capSeconds;
  return Math.max(0, Math.min(capSeconds, Math.floor((expiresAt - now) / 1000)));
}
