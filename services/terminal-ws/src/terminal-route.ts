import { CodedError, isIdentifier, TERMINAL_PATH_PATTERN } from "@patchmon-ws/protocol";

export interface TerminalRoute {
  version: string;
  /** Present only when it is a well-formed identifier; a malformed one is refused as an unknown host. */
  hostId: string;
  /** The one-time ticket (`?ticket=`), if any, as sent. */
  ticket: string | undefined;
}

/** Tickets are opaque, URL-safe and short; anything else cannot be one and is not worth a round trip. */
export const TICKET_SHAPE = /^[A-Za-z0-9_-]{8,256}$/;

/**
 * Reads `/api/{version}/ssh-terminal/{hostId}?ticket=…`: 404 NOT_FOUND for another path, 404
 * UNSUPPORTED_API_VERSION for a version not served, 404 HOST_NOT_FOUND for a host id that cannot exist (it would
 * otherwise reach a NATS subject).
 */
export function parseTerminalRoute(url: string | undefined, versions: readonly string[]): TerminalRoute {
  const parsed = new URL(url ?? "/", "http://terminal.invalid");
  // A request target such as //elsewhere/api/… reads as another authority: not a path we serve.
  if (parsed.host !== "terminal.invalid") throw new CodedError("NOT_FOUND");
  const match = TERMINAL_PATH_PATTERN.exec(parsed.pathname);
  if (!match) throw new CodedError("NOT_FOUND");
  const version = match[1]!;
  if (!versions.includes(version)) throw new CodedError("UNSUPPORTED_API_VERSION", `API version ${version.slice(0, 16)} is not served here.`);
  const hostId = decodeSegment(match[2]!);
  if (!isIdentifier(hostId)) throw new CodedError("HOST_NOT_FOUND");
  const ticket = parsed.searchParams.get("ticket");
  return { version, hostId, ticket: ticket === null || ticket === "" ? undefined : ticket };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
