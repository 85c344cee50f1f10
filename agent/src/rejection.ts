/**
 * Reads the body of a refused upgrade (e.g. 401 `{"error","code"}`), bounded in size, so the agent can report why
 * it was turned away instead of a bare "unexpected server response".
 */
import type { IncomingMessage } from "node:http";
import { parseRetryAfter } from "./backoff.js";

export interface RejectionInfo {
  /** HTTP status of the refused upgrade. */
  status: number;
  /** Parsed JSON body when the server sent JSON, the text otherwise, null when empty. */
  body: unknown;
  /** From Retry-After (429, 503): the agent does not retry sooner. */
  retryAfterMs?: number;
}

/** Rejection bodies are small JSON objects; anything beyond this is cut. */
export const MAX_REJECTION_BODY_BYTES = 16 * 1024;

export function readRejection(res: IncomingMessage): Promise<RejectionInfo> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      res.removeListener("data", onData);
      const text = Buffer.concat(chunks).toString("utf8").slice(0, MAX_REJECTION_BODY_BYTES);
      const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
      const info: RejectionInfo = { status: res.statusCode ?? 0, body: parseBody(text, res.headers["content-type"]) };
      if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
      resolve(info);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_REJECTION_BODY_BYTES) finish();
    };
    res.on("data", onData);
    res.once("end", finish);
    res.once("close", finish);
    res.once("error", finish);
  });
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text.length === 0) return null;
  if (contentType && /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
