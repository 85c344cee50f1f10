import { describe, expect, it } from "vitest";
import { ConfigError } from "@patchmon-ws/service-kit";
import { defaultReplicaId } from "@patchmon-ws/service-kit";
import { loadAgentWsConfig, MAX_OFFLINE_DETECTION_MS } from "../src/config.js";

describe("agent-ws config", () => {
  it("has documented defaults", () => {
    const config = loadAgentWsConfig({});
    expect(config.PORT).toBe(3002);
    expect(config.API_VERSIONS).toEqual(["v1"]);
    expect(config.AGENT_MAX_PAYLOAD).toBe(512 * 1024);
    expect(config.PING_INTERVAL_MS).toBe(25_000);
    expect(config.REPLICA_TTL_MS + config.PRESENCE_SWEEP_MS).toBeLessThanOrEqual(90_000);
    expect(config.REPLICA_ID).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("reads lists and numbers", () => {
    const config = loadAgentWsConfig({ API_VERSIONS: "v1, v2", PING_INTERVAL_MS: "1000", REPLICA_ID: "replica-a" });
    expect(config.API_VERSIONS).toEqual(["v1", "v2"]);
    expect(config.PING_INTERVAL_MS).toBe(1000);
    expect(config.REPLICA_ID).toBe("replica-a");
  });

  it("names every bad variable", () => {
    let error: ConfigError | undefined;
    try {
      loadAgentWsConfig({ PING_INTERVAL_MS: "60000", REPLICA_ID: "a.b", API_VERSIONS: "1", REDIS_URL: "http://x" });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.variables.sort()).toEqual(["API_VERSIONS", "PING_INTERVAL_MS", "REDIS_URL", "REPLICA_ID"]);
  });

  it("refuses to start when a killed replica's agents would show online longer than REPLICA_TTL_MS + PRESENCE_SWEEP_MS allows", () => {
    const attempt = (env: Record<string, string>) => {
      try {
        loadAgentWsConfig(env);
        return undefined;
      } catch (err) {
        return err as ConfigError;
      }
    };
    expect(attempt({ REPLICA_TTL_MS: "60000", PRESENCE_SWEEP_MS: "30000" })).toBeUndefined();
    const tooSlow = attempt({ REPLICA_TTL_MS: "60000", PRESENCE_SWEEP_MS: "30001" });
    expect(tooSlow).toBeInstanceOf(ConfigError);
    expect(tooSlow!.variables).toEqual(["PRESENCE_SWEEP_MS"]);
    expect(tooSlow!.message).toContain(`PRESENCE_SWEEP_MS: REPLICA_TTL_MS + PRESENCE_SWEEP_MS must be at most ${MAX_OFFLINE_DETECTION_MS}`);
    // The default sweep with a longer TTL breaks the rule too, and is named with the other bad variables.
    expect(attempt({ REPLICA_TTL_MS: "80000", PING_INTERVAL_MS: "60000" })!.variables.sort()).toEqual(["PING_INTERVAL_MS", "PRESENCE_SWEEP_MS"]);
  });

  it("default replica ids are unique identifiers", () => {
    const a = defaultReplicaId();
    expect(a).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(defaultReplicaId()).not.toBe(a);
  });
});
