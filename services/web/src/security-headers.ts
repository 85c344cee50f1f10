import { browserSecurityHeaders, contentSecurityPolicy } from "@patchmon-ws/service-kit";

/**
 * Headers on every answer of the web UI. The Content-Security-Policy allows code from this origin only: no inline
 * script, no `'unsafe-eval'`. `'wasm-unsafe-eval'` lets the recording player compile its WebAssembly terminal emulator
 * (it allows WebAssembly compilation only, never JavaScript eval). Styles allow `'unsafe-inline'` because xterm.js and
 * the recording player create <style> elements at run time. Same-origin `ws:`/`wss:` are covered by `connect-src 'self'`.
 */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy({
  "script-src": "'self' 'wasm-unsafe-eval'",
  "style-src": "'self' 'unsafe-inline'",
});

export const SECURITY_HEADERS = browserSecurityHeaders(CONTENT_SECURITY_POLICY, {
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
});

export const HSTS_HEADER = "max-age=31536000";
