import { homedir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  agentCapabilities,
  AgentOptionsError,
  DEFAULT_SSH_PROXY_HIGH_WATER_BYTES,
  DEFAULT_SSH_PROXY_MAX_SESSIONS,
  defaultKnownHostsFile,
  resolveSettings,
  type SshProxyOptions,
} from "../src/options.js";

const resolve = (sshProxy?: unknown) => resolveSettings({ server: "https://h", ...(sshProxy === undefined ? {} : { sshProxy: sshProxy as SshProxyOptions }) });

describe("resolveSettings: sshProxy", () => {
  it("is disabled by default, with the documented defaults", () => {
    expect(DEFAULT_SSH_PROXY_MAX_SESSIONS).toBe(10);
    expect(DEFAULT_SSH_PROXY_HIGH_WATER_BYTES).toBe(262_144);
    expect(defaultKnownHostsFile()).toBe(join(homedir(), ".patchmon-ws", "known_hosts"));
    expect(resolve().sshProxy).toEqual({
      enabled: false,
      knownHostsFile: join(homedir(), ".patchmon-ws", "known_hosts"),
      strictHostKeys: false,
      maxSessions: 10,
      outputHighWaterBytes: 262_144,
    });
    expect(agentCapabilities(resolve())).toEqual(["ack", "dedupe"]);
  });

  it("takes every option, and announces ssh_proxy when enabled", () => {
    const settings = resolve({ enabled: true, knownHostsFile: "/srv/kh", strictHostKeys: true, maxSessions: 2, outputHighWaterBytes: 65_536 });
    expect(settings.sshProxy).toEqual({ enabled: true, knownHostsFile: "/srv/kh", strictHostKeys: true, maxSessions: 2, outputHighWaterBytes: 65_536 });
    expect(Object.isFrozen(settings.sshProxy)).toBe(true);
    expect(agentCapabilities(settings)).toEqual(["ack", "dedupe", "ssh_proxy"]);
  });

  it("names the bad option", () => {
    const cases: [unknown, RegExp][] = [
      ["yes", /^sshProxy: must be an object/],
      [{ enabled: "true" }, /^sshProxy.enabled: must be true or false/],
      [{ enabled: true, strictHostKeys: 1 }, /^sshProxy.strictHostKeys/],
      [{ enabled: true, knownHostsFile: "" }, /^sshProxy.knownHostsFile: must be a file path/],
      [{ enabled: true, knownHostsFile: "/a\0b" }, /^sshProxy.knownHostsFile/],
      [{ enabled: true, maxSessions: 0 }, /^sshProxy.maxSessions: must be a whole number from 1 to 1000/],
      [{ enabled: true, maxSessions: 2.5 }, /^sshProxy.maxSessions/],
      [{ enabled: true, maxSessions: 1001 }, /^sshProxy.maxSessions/],
      [{ enabled: true, outputHighWaterBytes: 1000 }, /^sshProxy.outputHighWaterBytes/],
      [{ enabled: true, outputHighWaterBytes: Number.POSITIVE_INFINITY }, /^sshProxy.outputHighWaterBytes/],
    ];
    for (const [value, pattern] of cases) {
      expect(() => resolve(value), JSON.stringify(value)).toThrow(AgentOptionsError);
      expect(() => resolve(value), JSON.stringify(value)).toThrow(pattern);
    }
  });
});
