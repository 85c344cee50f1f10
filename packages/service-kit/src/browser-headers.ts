/**
 * The security headers of pages served to browsers (the web UI, Bull Board): one strict Content-Security-Policy
 * that each service loosens only where its page needs it, and the headers that go with it.
 */

/** This origin only: no inline script, no eval, no plugins, no framing, no base or form targets elsewhere. */
const STRICT_DIRECTIVES: Readonly<Record<string, string>> = {
  "default-src": "'none'",
  "script-src": "'self'",
  "style-src": "'self'",
  "img-src": "'self' data:",
  "font-src": "'self' data:",
  "connect-src": "'self'",
  "worker-src": "'self'",
  "manifest-src": "'self'",
  "base-uri": "'none'",
  "form-action": "'self'",
  "frame-ancestors": "'none'",
  "object-src": "'none'",
};

/** The strict policy with some directives replaced (say why next to each, where it is called). */
export function contentSecurityPolicy(overrides: Readonly<Record<string, string>> = {}): string {
  return Object.entries({ ...STRICT_DIRECTIVES, ...overrides })
    .map(([directive, sources]) => `${directive} ${sources}`)
    .join("; ");
}

/**
 * Headers for every answer of a browser-facing service, errors included. X-Frame-Options follows the policy's
 * frame-ancestors (for browsers that predate it); one-time tickets in URLs never leak through Referer.
 */
export function browserSecurityHeaders(csp: string, extra: Readonly<Record<string, string>> = {}): Readonly<Record<string, string>> {
  const framing = /frame-ancestors 'self'/.test(csp) ? "SAMEORIGIN" : "DENY";
  return {
    "Content-Security-Policy": csp,
    "X-Frame-Options": framing,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    ...extra,
  };
}
