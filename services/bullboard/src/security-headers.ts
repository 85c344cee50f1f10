import { browserSecurityHeaders, contentSecurityPolicy } from "@patchmon-ws/service-kit";

/**
 * Response headers for everything under /bullboard. The CSP fits Bull Board's UI as shipped: its scripts, styles,
 * locale files and syntax-highlighting worker all come from /bullboard/static; React sets inline style attributes
 * (hence 'unsafe-inline' for styles only); the UI config is an inline JSON block, which CSP does not execute.
 * No 'unsafe-eval', no third-party origins: the Google Fonts stylesheet the UI links is refused and the system
 * font is used instead, so opening the dashboard tells no one else.
 */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy({
  "style-src": "'self' 'unsafe-inline'",
  "base-uri": "'self'",
  "frame-ancestors": "'self'",
});

/** Headers every /bullboard response carries, errors included. */
export const SECURITY_HEADERS = browserSecurityHeaders(CONTENT_SECURITY_POLICY, { "X-Robots-Tag": "noindex, nofollow" });

/**
 * Caching: the UI's hashed static files may be revalidated from cache; the page, the API and every auth answer
 * must never be stored (they carry queue data and session state).
 */
export function cacheControlFor(path: string): string {
  return path.startsWith("/static/") ? "private, no-cache" : "no-store";
}
