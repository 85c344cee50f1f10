import type { Duplex } from "node:stream";
import { STATUS_CODES, type ServerResponse } from "node:http";
import { CodedError, errorHeaders, type ErrorCode } from "@patchmon-ws/protocol";

/** Normalises anything thrown into a CodedError; unknown errors become INTERNAL without leaking their message. */
export function toCodedError(err: unknown): CodedError {
  return err instanceof CodedError ? err : new CodedError("INTERNAL", undefined, { cause: err });
}

function headersFor(error: CodedError, bodyLength: number): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": bodyLength,
    "Cache-Control": "no-store",
    ...errorHeaders(error.code),
  };
  if (error.retryAfter !== undefined) headers["Retry-After"] = Math.max(1, Math.ceil(error.retryAfter));
  return headers;
}

/**
 * Answers a WebSocket upgrade request with an HTTP status and a JSON body, then closes the socket: never a bare
 * destroy, so proxies and clients see why ("Rejections before the upgrade" in docs/architecture.md).
 */
export function rejectUpgrade(socket: Duplex, errorOrCode: CodedError | ErrorCode, message?: string): void {
  const error = typeof errorOrCode === "string" ? new CodedError(errorOrCode, message) : errorOrCode;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(error.toBody());
  const head = [`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? "Error"}`];
  for (const [name, value] of Object.entries({ ...headersFor(error, Buffer.byteLength(body)), Connection: "close" })) {
    head.push(`${name}: ${value}`);
  }
  socket.end(head.join("\r\n") + "\r\n\r\n" + body);
}

/** Sends a coded error as a JSON HTTP response. */
export function sendError(res: ServerResponse, errorOrCode: CodedError | ErrorCode, message?: string): void {
  const error = typeof errorOrCode === "string" ? new CodedError(errorOrCode, message) : errorOrCode;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(error.toBody());
  res.writeHead(error.status, headersFor(error, Buffer.byteLength(body)));
  res.end(body);
}
