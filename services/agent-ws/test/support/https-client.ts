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
