/**
 * The stock agent's URL rules ("Compatibility" in docs/architecture.md): https→wss, http→ws, ws(s) unchanged, no scheme → wss
 * with a warning, trailing "/" trimmed, then /api/{version}/agents/ws.
 */

export interface AgentUrl {
  /** The WebSocket URL the agent dials. */
  url: string;
  /** Set when the server URL needed a guess (no scheme): log it, as the stock agent does. */
  warning?: string;
}

export const DEFAULT_API_VERSION = "v1";

/** An API version is one path segment; nothing that could escape it. */
const API_VERSION_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** A scheme is only recognised with "://"; "host:443" has none (the URL parser would read "host:" as one). */
const SCHEME_PATTERN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

const SCHEME_MAP: Record<string, "ws" | "wss"> = { https: "wss", wss: "wss", http: "ws", ws: "ws" };

export class AgentUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AgentUrlError";
  }
}

export function buildAgentUrl(server: string, apiVersion: string = DEFAULT_API_VERSION): AgentUrl {
  const input = server.trim();
  if (input.length === 0) throw new AgentUrlError("the server URL is empty");
  if (!API_VERSION_PATTERN.test(apiVersion)) {
    throw new AgentUrlError(`api version "${apiVersion}" must be 1-32 characters of A-Z, a-z, 0-9, _ or -`);
  }

  let scheme: "ws" | "wss";
  let rest: string;
  let warning: string | undefined;
  const match = SCHEME_PATTERN.exec(input);
  if (match) {
    const given = (match[1] ?? "").toLowerCase();
    const mapped = SCHEME_MAP[given];
    if (!mapped) throw new AgentUrlError(`unsupported scheme "${given}://" in server URL (use https, http, wss or ws)`);
    scheme = mapped;
    rest = input.slice(match[0].length);
  } else {
    scheme = "wss";
    rest = input;
    warning = `server URL "${input}" is missing its protocol prefix; assuming HTTPS (wss://)`;
  }

  const base = `${scheme}://${rest}`.replace(/\/+$/, "");
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new AgentUrlError(`server URL "${input}" is not a valid URL`);
  }
  if (!parsed.hostname) throw new AgentUrlError(`server URL "${input}" has no host`);
  if (parsed.username || parsed.password) {
    throw new AgentUrlError("the server URL must not carry credentials; the agent authenticates with its API id and key");
  }
  if (parsed.search || parsed.hash || /[?#]/.test(rest)) {
    throw new AgentUrlError(`server URL "${input}" must not have a query or fragment`);
  }

  const url = `${base}/api/${apiVersion}/agents/ws`;
  return warning === undefined ? { url } : { url, warning };
}
