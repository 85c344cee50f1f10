import type { IncomingHttpHeaders } from "node:http";
import { CodedError } from "@patchmon-ws/protocol";
import type { AgentCredentials } from "./agent-credentials.js";

/** Longest X-API-ID / X-API-KEY accepted; longer values are refused without asking the auth service. */
const MAX_API_ID_LENGTH = 256;
const MAX_API_KEY_LENGTH = 1024;

/**
 * Routes an upgrade URL: only `/api/{version}/agents/ws` (query ignored) is served, for configured versions.
 * Throws NOT_FOUND for any other path and UNSUPPORTED_API_VERSION for a version not served.
 */
export function routeAgentUpgrade(url: string | undefined, versions: readonly string[]): { version: string } {
  const path = (url ?? "").split("?")[0] ?? "";
  const segments = path.split("/").filter(Boolean);
  if (segments.length !== 4 || segments[0] !== "api" || segments[2] !== "agents" || segments[3] !== "ws") {
    throw new CodedError("NOT_FOUND");
  }
  const version = segments[1]!;
  if (!versions.includes(version)) {
    throw new CodedError("UNSUPPORTED_API_VERSION", `API version ${JSON.stringify(version.slice(0, 32))} is not served; supported: ${versions.join(", ")}`);
  }
  return { version };
}

function single(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * Reads X-API-ID / X-API-KEY. Missing or empty → CREDENTIALS_MISSING. Absurd lengths → INVALID_CREDENTIALS
 * (counted as a failure by the caller, like any wrong key).
 */
export function readAgentCredentials(headers: IncomingHttpHeaders): AgentCredentials {
  const apiId = single(headers["x-api-id"]);
  const apiKey = single(headers["x-api-key"]);
  if (!apiId || !apiKey) throw new CodedError("CREDENTIALS_MISSING", "X-API-ID and X-API-KEY headers are required.");
  if (apiId.length > MAX_API_ID_LENGTH || apiKey.length > MAX_API_KEY_LENGTH) throw new CodedError("INVALID_CREDENTIALS");
  return { apiId, apiKey };
}
