import { describe, expect, it } from "vitest";
import { ConfigError } from "@patchmon-ws/service-kit";
import { loadEdgeConfig, parseUpstreams } from "../src/config.js";

describe("parseUpstreams", () => {
  it("reads service=url[,url] entries separated by ;", () => {
    expect(parseUpstreams("auth=http://127.0.0.1:4001;agent-ws=http://127.0.0.1:4101, http://127.0.0.1:4102 ;")).toEqual({
      auth: ["http://127.0.0.1:4001"],
      "agent-ws": ["http://127.0.0.1:4101", "http://127.0.0.1:4102"],
    });
    expect(parseUpstreams("")).toEqual({});
  });

  it.each([
    ["auth", "is not service=url"],
    ["autth=http://127.0.0.1:1", 'unknown service "autth"'],
    ["auth=http://a:1;auth=http://b:1", "listed twice"],
    ["auth=", "has no URL"],
    ["auth=https://a:1", "http://"],
  ])("rejects %j", (text, problem) => {
    expect(() => parseUpstreams(text)).toThrow(problem);
  });
});

describe("loadEdgeConfig", () => {
  it("applies the documented defaults", () => {
    expect(loadEdgeConfig({})).toEqual({
      LOG_LEVEL: "info",
      EDGE_HOST: "127.0.0.1",
      EDGE_PORT: 8443,
      EDGE_HTTP_PORT: undefined,
      EDGE_TLS_CERT: undefined,
      EDGE_TLS_KEY: undefined,
      EDGE_STATE_DIR: ".state/edge",
      EDGE_UPSTREAMS: {},
      EDGE_TRUSTED_IPS: [],
      EDGE_HEALTH_CHECK_INTERVAL_MS: 2000,
      SHUTDOWN_TIMEOUT_MS: 10_000,
    });
  });

  it("reads every variable", () => {
    const config = loadEdgeConfig({
      EDGE_HOST: "0.0.0.0",
      EDGE_PORT: "9443",
      EDGE_HTTP_PORT: "9080",
      EDGE_TLS_CERT: "/c.pem",
      EDGE_TLS_KEY: "/k.pem",
      EDGE_UPSTREAMS: "web=http://127.0.0.1:5173",
      EDGE_TRUSTED_IPS: "10.0.0.0/8, ::1",
      EDGE_HEALTH_CHECK_INTERVAL_MS: "500",
    });
    expect(config).toMatchObject({
      EDGE_HOST: "0.0.0.0",
      EDGE_PORT: 9443,
      EDGE_HTTP_PORT: 9080,
      EDGE_TLS_CERT: "/c.pem",
      EDGE_UPSTREAMS: { web: ["http://127.0.0.1:5173"] },
      EDGE_TRUSTED_IPS: ["10.0.0.0/8", "::1"],
      EDGE_HEALTH_CHECK_INTERVAL_MS: 500,
    });
  });

  it.each([
    [{ EDGE_PORT: "70000" }, "EDGE_PORT"],
    [{ EDGE_HTTP_PORT: "x" }, "EDGE_HTTP_PORT"],
    [{ EDGE_UPSTREAMS: "nope=http://a:1" }, "EDGE_UPSTREAMS"],
    [{ EDGE_TRUSTED_IPS: "10.0.0.0/99" }, "EDGE_TRUSTED_IPS"],
    [{ EDGE_TRUSTED_IPS: "not-an-ip" }, "EDGE_TRUSTED_IPS"],
    [{ EDGE_TLS_CERT: "/c.pem" }, "EDGE_TLS_KEY"],
    [{ EDGE_TLS_KEY: "/k.pem" }, "EDGE_TLS_CERT"],
    [{ EDGE_HEALTH_CHECK_INTERVAL_MS: "0" }, "EDGE_HEALTH_CHECK_INTERVAL_MS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
  ])("names the bad variable in %j", (source, variable) => {
    try {
      loadEdgeConfig(source);
      expect.unreachable("should have thrown");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variables).toContain(variable);
      expect((err as ConfigError).message).toContain(variable);
    }
  });
});
