import { describe, expect, it } from "vitest";
import { CodedError } from "@patchmon-ws/protocol";
import { readAgentCredentials, routeAgentUpgrade } from "../src/connection/upgrade-route.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as CodedError).code;
  }
  return undefined;
}

describe("routeAgentUpgrade", () => {
  it("accepts /api/{v}/agents/ws for served versions, ignoring the query", () => {
    expect(routeAgentUpgrade("/api/v1/agents/ws", ["v1"])).toEqual({ version: "v1" });
    expect(routeAgentUpgrade("/api/v2/agents/ws?x=1", ["v1", "v2"])).toEqual({ version: "v2" });
    expect(routeAgentUpgrade("/api/v1/agents/ws/", ["v1"])).toEqual({ version: "v1" });
  });

  it("refuses unknown versions with UNSUPPORTED_API_VERSION (404)", () => {
    let error: CodedError | undefined;
    try {
      routeAgentUpgrade("/api/v9/agents/ws", ["v1"]);
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBe("UNSUPPORTED_API_VERSION");
    expect(error?.status).toBe(404);
    expect(error?.message).toContain("v1");
  });

  it("refuses any other path with NOT_FOUND", () => {
    for (const url of ["/", "/api/v1/agents", "/api/v1/agents/wss", "/api/v1/x/ws", "/bullboard", "/api/v1/agents/ws/extra", undefined]) {
      expect(codeOf(() => routeAgentUpgrade(url, ["v1"]))).toBe("NOT_FOUND");
    }
  });
});

describe("readAgentCredentials", () => {
  it("reads X-API-ID and X-API-KEY (trimmed)", () => {
    expect(readAgentCredentials({ "x-api-id": " id1 ", "x-api-key": "key" })).toEqual({ apiId: "id1", apiKey: "key" });
  });

  it("refuses missing or empty headers with CREDENTIALS_MISSING", () => {
    expect(codeOf(() => readAgentCredentials({}))).toBe("CREDENTIALS_MISSING");
    expect(codeOf(() => readAgentCredentials({ "x-api-id": "a" }))).toBe("CREDENTIALS_MISSING");
    expect(codeOf(() => readAgentCredentials({ "x-api-key": "k" }))).toBe("CREDENTIALS_MISSING");
    expect(codeOf(() => readAgentCredentials({ "x-api-id": " ", "x-api-key": "k" }))).toBe("CREDENTIALS_MISSING");
  });

  it("refuses absurdly long values as INVALID_CREDENTIALS without asking anyone", () => {
    expect(codeOf(() => readAgentCredentials({ "x-api-id": "a".repeat(257), "x-api-key": "k" }))).toBe("INVALID_CREDENTIALS");
    expect(codeOf(() => readAgentCredentials({ "x-api-id": "a", "x-api-key": "k".repeat(1025) }))).toBe("INVALID_CREDENTIALS");
  });
});
