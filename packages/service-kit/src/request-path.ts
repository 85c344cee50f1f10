import type { IncomingMessage } from "node:http";

/** The path of a request without its query string ("/" when the request line has none), for routing upgrades. */
export function requestPathname(req: Pick<IncomingMessage, "url">): string {
  const url = req.url ?? "/";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
