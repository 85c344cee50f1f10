import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { rejectUpgrade, sendError } from "@patchmon-ws/service-kit";

/**
 * The plain-HTTP entrypoint's only job, as Traefik's `entryPoints.web.http.redirections` with `permanent: true`:
 * 301 for GET, 308 for every other method (so the method and body survive), to the same host and request URI on
 * https at `httpsPort` (omitted when 443). Body: the status text.
 */
export function redirectTarget(req: IncomingMessage, httpsPort: number): { status: number; location: string } | undefined {
  const hostHeader = req.headers.host;
  if (!hostHeader) return undefined;
  const bracketed = /^(\[[^\]]*\])(?::\d*)?$/.exec(hostHeader);
  const host = bracketed ? bracketed[1]! : hostHeader.replace(/:\d*$/, "");
  const port = httpsPort === 443 ? "" : `:${httpsPort}`;
  return { status: req.method === "GET" ? 301 : 308, location: `https://${host}${port}${req.url ?? "/"}` };
}

export function redirectRequest(req: IncomingMessage, res: ServerResponse, httpsPort: number): void {
  const target = redirectTarget(req, httpsPort);
  if (!target) return sendError(res, "BAD_REQUEST", "A Host header is required.");
  const body = STATUS_CODES[target.status]!;
  res.writeHead(target.status, { Location: target.location, "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** A ws:// upgrade on the plain entrypoint gets the same redirect, written onto the socket, which is then closed. */
export function redirectUpgrade(req: IncomingMessage, socket: Duplex, httpsPort: number): void {
  const target = redirectTarget(req, httpsPort);
  if (!target) return rejectUpgrade(socket, "BAD_REQUEST", "A Host header is required.");
  const body = STATUS_CODES[target.status]!;
  socket.end(
    `HTTP/1.1 ${target.status} ${body}\r\nLocation: ${target.location}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
