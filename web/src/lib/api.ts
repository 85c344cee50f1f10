/**
 * The REST client of the UI: same-origin JSON over fetch, the access token from memory (never storage), one silent
 * refresh and retry when a call comes back 401 with an expired token, and every failure as an ApiError carrying the
 * server's stable code (`{error, code}` bodies).
 */
import { isErrorCode, type ErrorCode } from "@patchmon-ws/protocol";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode | "NETWORK",
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export interface TokenSource {
  /** The current access token, or undefined when signed out. */
  token(): string | undefined;
  /** Gets a new access token (refresh cookie); resolves false when the session is over. */
  renew(): Promise<boolean>;
}

let tokens: TokenSource | undefined;

/** The session module installs itself here (api calls need the token; the session needs api calls). */
export function useTokens(source: TokenSource): void {
  tokens = source;
}

export interface RequestOptions {
  body?: unknown;
  /** Don't send the bearer token (login, refresh). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

async function send(method: string, path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = options.anonymous ? undefined : tokens?.token();
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  try {
    return await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, "NETWORK", "The server could not be reached. Check your connection and try again.", undefined);
  }
}

async function toError(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const code = (body as { code?: unknown } | undefined)?.code;
  const message = (body as { error?: unknown } | undefined)?.error;
  return new ApiError(res.status, isErrorCode(code) ? code : "INTERNAL", typeof message === "string" ? message : `Request failed (HTTP ${res.status}).`, body);
}

/** A JSON call; retries once after renewing the token when the server says it expired. */
export async function api<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
  let res = await send(method, path, options);
  if (res.status === 401 && !options.anonymous && tokens) {
    const error = await toError(res.clone());
    if ((error.code === "TOKEN_EXPIRED" || error.code === "TOKEN_INVALID") && (await tokens.renew())) res = await send(method, path, options);
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/** The raw response of a GET (a recording download), with the same token handling. */
export async function download(path: string): Promise<Response> {
  let res = await send("GET", path, {});
  if (res.status === 401 && tokens && (await tokens.renew())) res = await send("GET", path, {});
  if (!res.ok) throw await toError(res);
  return res;
}
