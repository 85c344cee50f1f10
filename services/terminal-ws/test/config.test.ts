import { describe, expect, it } from "vitest";
import { ConfigError } from "@patchmon-ws/service-kit";
import { AUDIT_MAX_AGE_MS, loadTerminalWsConfig, RECORDING_MAX_AGE_MS } from "../src/config.js";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function configError(env: Record<string, string>): ConfigError {
  try {
    loadTerminalWsConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe("terminal-ws config", () => {
  it("has documented defaults", () => {
    const config = loadTerminalWsConfig({});
    expect(config.PORT).toBe(3003);
    expect(config.API_VERSIONS).toEqual(["v1"]);
    expect(config.ALLOWED_ORIGINS).toEqual([]);
    expect(config.PING_INTERVAL_MS).toBe(25_000);
    expect(config.IDLE_TIMEOUT_MS).toBe(15 * MINUTE);
    expect(config.IDLE_WARNING_MS).toBe(MINUTE);
    expect(config.MAX_SESSION_MS).toBe(8 * 60 * MINUTE);
    expect(config.MAX_SESSION_WARNING_MS).toBe(5 * MINUTE);
    expect(config.MAX_SESSIONS_PER_USER).toBe(5);
    expect(config.MAX_SESSIONS_PER_HOST).toBe(10);
    expect(config.CONNECT_TIMEOUT_MS).toBe(60_000);
    expect(config.SSH_READY_TIMEOUT_MS).toBe(20_000);
    expect(config.RECORD_SESSIONS).toBe(false);
    expect(config.RECORDING_MAX_AGE_DAYS).toBe(30);
    expect(config.AUDIT_MAX_AGE_DAYS).toBe(365);
    expect(config.KV_REPLICAS).toBe(1);
    expect(config.AUTH_CACHE_TTL_MS).toBe(5000);
    expect(config.REPLICA_ID).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
    expect(RECORDING_MAX_AGE_MS(config)).toBe(30 * DAY);
    expect(AUDIT_MAX_AGE_MS(config)).toBe(365 * DAY);
  });

  it("treats empty variables as unset", () => {
    const config = loadTerminalWsConfig({ IDLE_TIMEOUT_MS: "", RECORD_SESSIONS: "", ALLOWED_ORIGINS: "" });
    expect(config.IDLE_TIMEOUT_MS).toBe(15 * MINUTE);
    expect(config.RECORD_SESSIONS).toBe(false);
    expect(config.ALLOWED_ORIGINS).toEqual([]);
  });

  it("reads lists, numbers and origins", () => {
    const config = loadTerminalWsConfig({
      API_VERSIONS: "v1, v2",
      ALLOWED_ORIGINS: "https://patchmon.example.com, http://localhost:5173",
      PING_INTERVAL_MS: "30000",
      MAX_SESSIONS_PER_USER: "2",
      REPLICA_ID: "terminal-a",
    });
    expect(config.API_VERSIONS).toEqual(["v1", "v2"]);
    expect(config.ALLOWED_ORIGINS).toEqual(["https://patchmon.example.com", "http://localhost:5173"]);
    expect(config.PING_INTERVAL_MS).toBe(30_000);
    expect(config.MAX_SESSIONS_PER_USER).toBe(2);
    expect(config.REPLICA_ID).toBe("terminal-a");
  });
});

describe("idle and maximum-duration warnings", () => {
  it("refuses an idle warning that is not shorter than the idle timeout, naming IDLE_WARNING_MS", () => {
    expect(configError({ IDLE_TIMEOUT_MS: "60000", IDLE_WARNING_MS: "60000" }).variables).toEqual(["IDLE_WARNING_MS"]);
    const error = configError({ IDLE_TIMEOUT_MS: "30000" }); // the default warning (60 s) is longer
    expect(error.variables).toEqual(["IDLE_WARNING_MS"]);
    expect(error.message).toContain("IDLE_WARNING_MS");
    expect(error.message).toContain("IDLE_TIMEOUT_MS");
  });

  it("accepts an idle warning shorter than the idle timeout", () => {
    const config = loadTerminalWsConfig({ IDLE_TIMEOUT_MS: "60001", IDLE_WARNING_MS: "60000" });
    expect(config.IDLE_TIMEOUT_MS).toBe(60_001);
    expect(config.IDLE_WARNING_MS).toBe(60_000);
  });

  it("turns the idle timeout off with IDLE_TIMEOUT_MS=0, whatever the warning", () => {
    expect(loadTerminalWsConfig({ IDLE_TIMEOUT_MS: "0" }).IDLE_TIMEOUT_MS).toBe(0);
    expect(loadTerminalWsConfig({ IDLE_TIMEOUT_MS: "0", IDLE_WARNING_MS: "999999" }).IDLE_TIMEOUT_MS).toBe(0);
  });

  it("refuses a negative or fractional idle timeout and a zero warning", () => {
    expect(configError({ IDLE_TIMEOUT_MS: "-1" }).variables).toContain("IDLE_TIMEOUT_MS");
    expect(configError({ IDLE_TIMEOUT_MS: "1.5" }).variables).toContain("IDLE_TIMEOUT_MS");
    expect(configError({ IDLE_WARNING_MS: "0" }).variables).toContain("IDLE_WARNING_MS");
  });

  it("refuses a maximum-duration warning that is not shorter than MAX_SESSION_MS, naming MAX_SESSION_WARNING_MS", () => {
    expect(configError({ MAX_SESSION_MS: "300000" }).variables).toEqual(["MAX_SESSION_WARNING_MS"]); // default warning 5 min
    expect(configError({ MAX_SESSION_MS: "600000", MAX_SESSION_WARNING_MS: "700000" }).variables).toEqual(["MAX_SESSION_WARNING_MS"]);
    expect(loadTerminalWsConfig({ MAX_SESSION_MS: "300001" }).MAX_SESSION_MS).toBe(300_001);
  });

  it("turns the maximum duration off with MAX_SESSION_MS=0", () => {
    expect(loadTerminalWsConfig({ MAX_SESSION_MS: "0", MAX_SESSION_WARNING_MS: "999999999" }).MAX_SESSION_MS).toBe(0);
  });
});

describe("refused values", () => {
  it("refuses ALLOWED_ORIGINS entries that are not origins", () => {
    for (const bad of ["patchmon.example.com", "https://patchmon.example.com/app", "ftp://patchmon.example.com", "*", "https://a.example.com, nope"]) {
      expect(configError({ ALLOWED_ORIGINS: bad }).variables, bad).toEqual(["ALLOWED_ORIGINS"]);
    }
  });

  it("refuses a ping interval above 30 s (and absurdly small ones)", () => {
    expect(configError({ PING_INTERVAL_MS: "30001" }).variables).toEqual(["PING_INTERVAL_MS"]);
    expect(configError({ PING_INTERVAL_MS: "60000" }).variables).toEqual(["PING_INTERVAL_MS"]);
    expect(configError({ PING_INTERVAL_MS: "0" }).variables).toEqual(["PING_INTERVAL_MS"]);
  });

  it("parses RECORD_SESSIONS as a boolean and refuses anything else", () => {
    for (const yes of ["true", "1", "yes"]) expect(loadTerminalWsConfig({ RECORD_SESSIONS: yes }).RECORD_SESSIONS, yes).toBe(true);
    for (const no of ["false", "0", "no"]) expect(loadTerminalWsConfig({ RECORD_SESSIONS: no }).RECORD_SESSIONS, no).toBe(false);
    for (const bad of ["maybe", "on", "TRUE ", "2"]) expect(configError({ RECORD_SESSIONS: bad }).variables, bad).toEqual(["RECORD_SESSIONS"]);
  });

  it("names every bad variable at once", () => {
    const error = configError({
      PING_INTERVAL_MS: "60000",
      REPLICA_ID: "a.b",
      API_VERSIONS: "1",
      ALLOWED_ORIGINS: "not-an-origin",
      RECORD_SESSIONS: "perhaps",
      KV_REPLICAS: "7",
      NATS_URL: "http://x",
    });
    expect(error.variables.sort()).toEqual(["ALLOWED_ORIGINS", "API_VERSIONS", "KV_REPLICAS", "NATS_URL", "PING_INTERVAL_MS", "RECORD_SESSIONS", "REPLICA_ID"]);
  });

  it("names a too-long warning together with out-of-range variables", () => {
    expect(configError({ PING_INTERVAL_MS: "60000", IDLE_TIMEOUT_MS: "30000" }).variables.sort()).toEqual(["IDLE_WARNING_MS", "PING_INTERVAL_MS"]);
  });

  it("names a too-long warning even when another variable is not of its type at all", () => {
    // README: the service exits "with a message naming each bad variable" - not one round per mistake.
    expect(configError({ RECORD_SESSIONS: "perhaps", IDLE_TIMEOUT_MS: "30000" }).variables.sort()).toEqual(["IDLE_WARNING_MS", "RECORD_SESSIONS"]);
    expect(configError({ PORT: "abc", MAX_SESSION_MS: "60000" }).variables.sort()).toEqual(["MAX_SESSION_WARNING_MS", "PORT"]);
  });
});
