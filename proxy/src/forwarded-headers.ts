import type { IncomingHttpHeaders } from "node:http";
import { isIP } from "node:net";

/**
 * The request headers an upstream receives, computed exactly as Traefik v3 does it: the forwardedheaders middleware
 * (pkg/middlewares/forwardedheaders/forwarded_header.go) followed by the reverse proxy's own rewrite
 * (pkg/proxy/httputil/proxy.go and Go's httputil.ReverseProxy hop-by-hop handling). Pure: no sockets.
 */
export interface ForwardingContext {
  /** The TCP peer, as the socket reports it (`::ffff:` IPv4-mapped addresses are shown as plain IPv4, as Go does). */
  readonly remoteAddress: string | undefined;
  /** Whether the client connection is TLS. */
  readonly encrypted: boolean;
  /** Whether the peer is in trustedIps: only then are its X-Forwarded-* headers kept. */
  readonly trusted: boolean;
  /** Sent as X-Forwarded-Server. */
  readonly hostname: string;
}

export type ForwardedHeaders = Record<string, string | string[]>;

/** The X- headers Traefik manages (XHeadersSet); lower case, as Node names headers. */
const MANAGED_X_HEADERS = new Set([
  "x-forwarded-proto",
  "x-forwarded-scheme",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-server",
  "x-forwarded-uri",
  "x-forwarded-method",
  "x-forwarded-prefix",
  "x-forwarded-tls-client-cert",
  "x-forwarded-tls-client-cert-info",
  "x-scheme",
  "x-real-ip",
]);

/** Hop-by-hop headers Go's ReverseProxy never forwards (Transfer-Encoding aside: Node frames the body from it). */
const HOP_BY_HOP = ["connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"];

/** Headers a Connection token must not remove: Go keeps them outside the header map, so Traefik cannot drop them. */
const FRAMING = new Set(["host", "content-length", "transfer-encoding"]);

/** Managed X- header, in its dash or underscore spelling (X_Forwarded_Proto). */
export function isManagedXHeader(name: string): boolean {
  return MANAGED_X_HEADERS.has(name.toLowerCase().replaceAll("_", "-"));
}

/** Go's http.Header.Get: the first value, "" when absent. */
function first(value: string | string[] | undefined): string {
  if (Array.isArray(value)) return value[0] ?? "";
  return value ?? "";
}

/** Comma-separated tokens of a header, trimmed. */
function tokens(value: string | string[] | undefined): string[] {
  const joined = Array.isArray(value) ? value.join(",") : (value ?? "");
  return joined
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

function containsToken(value: string | string[] | undefined, token: string): boolean {
  return tokens(value).some((t) => t.toLowerCase() === token.toLowerCase());
}

/** Traefik's isWebsocketRequest: Connection has "upgrade" and Upgrade has "websocket" (first values, any case). */
export function isWebSocketRequest(headers: IncomingHttpHeaders): boolean {
  const has = (name: string, token: string) =>
    first(headers[name])
      .split(",")
      .some((t) => t.trim().toLowerCase() === token);
  return has("connection", "upgrade") && has("upgrade", "websocket");
}

/** The client IP as Go prints it: IPv4-mapped shown as IPv4, IPv6 zone removed. */
export function clientIp(remoteAddress: string | undefined): string | undefined {
  if (!remoteAddress) return undefined;
  const unmapped = remoteAddress.startsWith("::ffff:") && isIP(remoteAddress.slice(7)) === 4 ? remoteAddress.slice(7) : remoteAddress;
  const zone = unmapped.indexOf("%");
  return zone < 0 ? unmapped : unmapped.slice(0, zone);
}

/** Go's net.SplitHostPort port, or undefined when the Host has none. */
function hostPort(host: string): string | undefined {
  const match = host.startsWith("[") ? /^\[[^\]]*\]:(\d*)$/.exec(host) : /^[^:]*:(\d*)$/.exec(host);
  return match?.[1] ? match[1] : undefined;
}

function forwardedPort(headers: ForwardedHeaders, encrypted: boolean): string {
  const port = hostPort(first(headers.host));
  if (port) return port;
  const proto = first(headers["x-forwarded-proto"]);
  if (proto === "https" || proto === "wss") return "443";
  return encrypted ? "443" : "80";
}

export function forwardedRequestHeaders(incoming: IncomingHttpHeaders, context: ForwardingContext): ForwardedHeaders {
  const headers: ForwardedHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined) headers[name] = value;
  }
  const ip = clientIp(context.remoteAddress);

  // 1. Spoofing: unless the peer is trusted, every managed X- header goes, underscore variants included.
  if (!context.trusted) {
    for (const name of Object.keys(headers)) {
      if (isManagedXHeader(name)) delete headers[name];
    }
  }

  // 2. Rewrite (forwarded_header.go `rewrite`): fill what is absent.
  if (ip && !first(headers["x-real-ip"])) headers["x-real-ip"] = ip;
  if (!first(headers["x-forwarded-proto"])) {
    const websocket = isWebSocketRequest(incoming);
    headers["x-forwarded-proto"] = websocket ? (context.encrypted ? "wss" : "ws") : context.encrypted ? "https" : "http";
  }
  if (!first(headers["x-forwarded-port"])) headers["x-forwarded-port"] = forwardedPort(headers, context.encrypted);
  if (!first(headers["x-forwarded-host"]) && first(headers.host)) headers["x-forwarded-host"] = first(headers.host);
  const priorFor = headers["x-forwarded-for"];
  if (priorFor !== undefined) headers["x-forwarded-for"] = Array.isArray(priorFor) ? priorFor.join(", ") : priorFor;
  headers["x-forwarded-server"] = context.hostname;

  // 3. Connection options (removeConnectionHeaders): they may drop headers, but never the managed X- ones.
  const upgradeType = containsToken(headers.connection, "upgrade") ? first(headers.upgrade) : "";
  for (const token of tokens(headers.connection)) {
    const name = token.toLowerCase();
    if (isManagedXHeader(name) || FRAMING.has(name)) continue;
    delete headers[name];
  }

  // 4. The reverse proxy: hop-by-hop headers go; "Te: trailers" and the upgrade survive.
  const trailers = containsToken(headers.te, "trailers");
  for (const name of HOP_BY_HOP) delete headers[name];
  if (trailers) headers.te = "trailers";
  if (upgradeType) {
    headers.connection = "Upgrade";
    headers.upgrade = upgradeType;
  }

  // 5. X-Forwarded-For: prior values, then the peer (rewriteRequestBuilder).
  if (ip) {
    const prior = headers["x-forwarded-for"];
    headers["x-forwarded-for"] = prior !== undefined ? `${first(prior)}, ${ip}` : ip;
  }
  return headers;
}
