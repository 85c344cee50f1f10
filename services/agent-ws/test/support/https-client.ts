import { request } from "node:https";
import type { IncomingMessage } from "node:http";

export interface HttpsResult<T = Record<string, unknown>> {
  status: number;
  headers: IncomingMessage["headers"];
  body: T;
}

/** JSON over HTTPS trusting a given CA (the edge's self-signed certificate); Node's fetch cannot take a CA. */
export function httpsJson<T = Record<string, unknown>>(
  url: string,
  method: string,
  options: { ca: string; token?: string; body?: unknown },
): Promise<HttpsResult<T>> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const req = request(
      url,
      {
        method,
        ca: options.ca,
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: (text ? JSON.parse(text) : {}) as T });
          } catch (err) {
            reject(new Error(`non-JSON answer ${res.statusCode}: ${text.slice(0, 200)}`, { cause: err }));
          }
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export interface HttpsEventStream {
  events: { event: string; data: Record<string, unknown> }[];
  waitFor(predicate: (e: { event: string; data: Record<string, unknown> }) => boolean, timeoutMs?: number): Promise<{ event: string; data: Record<string, unknown> }>;
  close(): void;
}

/** Opens an SSE stream over HTTPS and parses its events. */
export function httpsEventStream(url: string, ca: string, headers: Record<string, string> = {}): Promise<HttpsEventStream> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: Record<string, unknown> }[] = [];
    const listeners = new Set<() => void>();
    let buffer = "";
    const req = request(url, { ca, headers: { accept: "text/event-stream", ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream refused with ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        let index: number;
        while ((index = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, index);
          buffer = buffer.slice(index + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
        for (const l of listeners) l();
      });
      resolve({
        events,
        waitFor(predicate, timeoutMs = 15_000) {
          return new Promise((res2, rej2) => {
            const check = () => {
              const found = events.find(predicate);
              if (found) {
                cleanup();
                res2(found);
              }
            };
            const timer = setTimeout(() => {
              cleanup();
              rej2(new Error(`no matching event within ${timeoutMs} ms: ${JSON.stringify(events)}`));
            }, timeoutMs);
            const cleanup = () => {
              clearTimeout(timer);
              listeners.delete(check);
            };
            listeners.add(check);
            check();
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on("error", (err) => reject(err));
    req.end();
  });
}
