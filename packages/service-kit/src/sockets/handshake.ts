import type { IncomingMessage } from "node:http";
import { CodedError } from "@patchmon-ws/protocol";

/** RFC 6455 §4.1: the key is 16 random bytes, base64. */
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 6455 §4.1 / RFC 7230 token list. */
const PROTOCOLS_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(\s*,\s*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;

/**
 * The checks `ws` makes before it would answer a handshake itself (in plain text), made first so that every
 * refusal carries the JSON body of the security contract: 405 not GET, 400 no `Upgrade: websocket`, 400 bad
 * `Sec-WebSocket-Key`, 426 unsupported `Sec-WebSocket-Version` (with the supported versions), 400 bad
 * `Sec-WebSocket-Protocol`.
 */
export function checkHandshake(req: IncomingMessage): void {
  if (req.method !== "GET") throw new CodedError("METHOD_NOT_ALLOWED", "A WebSocket handshake is a GET request.");
  if (req.headers.upgrade?.toLowerCase() !== "websocket") throw new CodedError("BAD_REQUEST", "The Upgrade header must be websocket.");
  const key = req.headers["sec-websocket-key"];
  if (key === undefined || !KEY_PATTERN.test(key)) throw new CodedError("BAD_REQUEST", "Missing or invalid Sec-WebSocket-Key header.");
  const version = req.headers["sec-websocket-version"];
  if (version !== "13" && version !== "8") throw new CodedError("UNSUPPORTED_WEBSOCKET_VERSION");
  const protocols = req.headers["sec-websocket-protocol"];
  if (protocols !== undefined && !PROTOCOLS_PATTERN.test(protocols.trim())) {
    throw new CodedError("BAD_REQUEST", "Invalid Sec-WebSocket-Protocol header.");
  }
}
