/**
 * Response headers for everything under /bullboard. The CSP fits Bull Board's UI as shipped: its scripts, styles,
 * locale files and syntax-highlighting worker all come from /bullboard/static; React sets inline style attributes
 * (hence 'unsafe-inline' for styles only); the UI config is an inline JSON block, which CSP does not execute.
 * No 'unsafe-eval', no third-party origins: the Google Fonts stylesheet the UI links is refused and the system
 * font is used instead, so opening the dashboard tells no one else.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "worker-src 'self'",
  "manifest-src 'self'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'self'",
  "object-src 'none'",
].join("; ");

/** Headers every /bullboard response carries, errors included. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Frame-Options": "SAMEORIGIN",
  "X-Content-Type-Options": "nosniff",
  // Ticket URLs must never leak through Referer.
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Robots-Tag": "noindex, nofollow",
};

/**
 * Caching: the UI's hashed static files may be revalidated from cache; the page, the API and every auth answer
 * must never be stored (they carry queue data and session state).
 */
export function cacheControlFor(path: string): string {
  return path.startsWith("/static/") ? "private, no-cache" : "no-store";
}
