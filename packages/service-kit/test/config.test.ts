import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, commonConfigShape, env, loadConfig } from "@patchmon-ws/service-kit";

const schema = z.object({ ...commonConfigShape, PORT: env.port(3000), FLAG: env.boolean(false), LIST: env.list("a,b") });

describe("loadConfig", () => {
  it("applies defaults, treats empty values as unset, and parses types", () => {
    const config = loadConfig(schema, { PORT: "", FLAG: "yes", LIST: " x , y ,", UNRELATED: "1" });
    expect(config).toMatchObject({ PORT: 3000, FLAG: true, LIST: ["x", "y"], LOG_LEVEL: "info", NATS_URL: "nats://127.0.0.1:4222" });
    expect(config.TRUSTED_PROXIES).toEqual(["127.0.0.1/32", "::1/128"]);
  });

  it("names every bad variable", () => {
    let error: unknown;
    try {
      loadConfig(schema, { PORT: "70000", FLAG: "maybe", NATS_URL: "http://x" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variables.sort()).toEqual(["FLAG", "NATS_URL", "PORT"]);
    expect((error as ConfigError).message).toMatch(/FLAG: must be true or false/);
  });
});
