import { CodedError } from "@patchmon-ws/protocol";

/**
 * Traefik v3's request-path handling (docs: security/request-path), in its order:
 * 1. encoded-character filtering: %2F %5C %00 %3B %25 %3F %23 are rejected with 400 (our traefik.yml sets every
 *    `encodedCharacters.allow*` to false, so this holds whatever a Traefik version's default);
 * 2. normalisation: percent-encoded unreserved characters are decoded, other escapes upper-cased (RFC 3986 §6.2.2);
 * 3. sanitisation (`sanitizePath`, on by default): `.` and `..` segments and duplicate slashes removed.
 * The result is forwarded. Rules match the "routing path": the same path with every escape decoded except the
 * reserved characters (pkg/muxer/http/mux.go `withRoutingPath`), so PathPrefix(`/a b`) matches /a%20b.
 */
export interface ProcessedPath {
  /** What rules match against. */
  readonly routingPath: string;
  /** Path and query sent upstream. */
  readonly forwardUrl: string;
}

const REJECTED_ESCAPES = new Set(["%2F", "%5C", "%00", "%3B", "%25", "%3F", "%23"]);
/** Escapes the routing path keeps encoded (RFC 3986 §2.2 reserved characters, plus %). */
const RESERVED_ESCAPES = new Set([
  "%3A", "%2F", "%3F", "%23", "%5B", "%5D", "%40", "%21", "%24", "%26", "%27", "%28", "%29", "%2A", "%2B", "%2C", "%3B", "%3D", "%25",
]);
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

function badRequest(message: string): CodedError {
  return new CodedError("BAD_REQUEST", message);
}

/** Splits on escapes, validating each one. */
function forEachPiece(path: string, onText: (text: string) => void, onEscape: (escape: string) => void): void {
  let i = 0;
  while (i < path.length) {
    const percent = path.indexOf("%", i);
    if (percent < 0) {
      onText(path.slice(i));
      return;
    }
    if (percent > i) onText(path.slice(i, percent));
    const escape = path.slice(percent, percent + 3);
    if (!/^%[0-9a-fA-F]{2}$/.test(escape)) throw badRequest("The request path has an invalid percent-encoding.");
    onEscape(escape.toUpperCase());
    i = percent + 3;
  }
}

function normalise(path: string): string {
  let out = "";
  forEachPiece(
    path,
    (text) => (out += text),
    (escape) => {
      if (REJECTED_ESCAPES.has(escape)) throw badRequest(`The request path contains the rejected encoded character ${escape}.`);
      const char = String.fromCharCode(parseInt(escape.slice(1), 16));
      out += UNRESERVED.test(char) ? char : escape;
    },
  );
  return out;
}

/** Go's path.Clean, keeping a trailing slash as Traefik's sanitizePath does. */
function sanitise(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const cleaned = "/" + segments.join("/");
  return path.endsWith("/") && cleaned !== "/" ? cleaned + "/" : cleaned;
}

function routingPathOf(path: string): string {
  let out = "";
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length) out += Buffer.from(bytes).toString("utf8");
    bytes = [];
  };
  forEachPiece(
    path,
    (text) => {
      flush();
      out += text;
    },
    (escape) => {
      if (RESERVED_ESCAPES.has(escape)) {
        flush();
        out += escape;
      } else {
        bytes.push(parseInt(escape.slice(1), 16));
      }
    },
  );
  flush();
  return out;
}

/**
 * Processes an origin-form request target (`/path?query`). Throws CodedError BAD_REQUEST for targets Traefik
 * refuses; anything else is normalised and sanitised.
 */
export function processRequestTarget(target: string): ProcessedPath {
  if (!target.startsWith("/")) throw badRequest("The request target must be an absolute path.");
  const queryAt = target.indexOf("?");
  const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
  // Traefik's proxy turns query semicolons into ampersands (pkg/proxy/httputil/proxy.go).
  const query = queryAt < 0 ? "" : target.slice(queryAt).replaceAll(";", "&");
  const path = sanitise(normalise(rawPath));
  return { routingPath: routingPathOf(path), forwardUrl: path + query };
}
